/* Tests of the SecLlama C API, compiled against include/secllama.h and the static library.
 *
 *   test_secllama [group ...]     groups: basics crypto password keystore sandbox
 *                                 (none given: all of them)
 *
 * Every check compares exact status codes and bytes. The keystore group talks to the real
 * Secret Service (it needs a D-Bus session with an unlocked keyring: CI's test-in-session.sh);
 * the runner tests are in test_runner.c. A group that cannot run here says SKIP, unless
 * SECLLAMA_TEST_SECRET_SERVICE=1 makes it mandatory.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "secllama.h"
#include "check.h"

static int env_true(const char *name) {
    const char *v = getenv(name);
    return v && (!strcmp(v, "1") || !strcmp(v, "true"));
}

static int buf_eq(const secllama_buf *b, const char *s) {
    size_t n = strlen(s);
    return b->len == n && (n == 0 || memcmp(b->ptr, s, n) == 0);
}

/* Does the JSON in `b` contain `needle`? (The buffer is not NUL-terminated.) */
static int json_has(const secllama_buf *b, const char *needle) {
    return b->ptr && memmem(b->ptr, b->len, needle, strlen(needle)) != NULL;
}

/* ---- basics: version, features, status names, last error, NULL handling ---- */

static void test_basics(void) {
    const char *version = NULL;
    CHECK_STATUS(secllama_version(&version), SECLLAMA_STATUS_OK);
    CHECK(version && strcmp(version, "0.1.0") == 0);
    CHECK_STATUS(secllama_version(NULL), SECLLAMA_STATUS_NULL_PARAMETER);

    uint32_t features = 0;
    CHECK_STATUS(secllama_features(&features), SECLLAMA_STATUS_OK);
    CHECK(features & SECLLAMA_FEATURE_RUNNER);
    CHECK(features & SECLLAMA_FEATURE_SECRET_SERVICE);
    CHECK(features & SECLLAMA_FEATURE_SANDBOX_LINUX);
    CHECK(!(features & SECLLAMA_FEATURE_KEYCHAIN));

    const char *name = NULL;
    CHECK_STATUS(secllama_status_name(SECLLAMA_STATUS_AUTHENTICATION_FAILED, &name), SECLLAMA_STATUS_OK);
    CHECK(name && strcmp(name, "SECLLAMA_STATUS_AUTHENTICATION_FAILED") == 0);
    CHECK_STATUS(secllama_status_name(1, &name), SECLLAMA_STATUS_INVALID_ARGUMENT);
    CHECK(name == NULL);

    /* The last error of a NULL out-parameter names the parameter. */
    CHECK_STATUS(secllama_keyset_generate(NULL), SECLLAMA_STATUS_NULL_PARAMETER);
    size_t need = 0;
    CHECK_STATUS(secllama_last_error(NULL, 0, &need), SECLLAMA_STATUS_BUFFER_TOO_SMALL);
    CHECK(need == strlen("out_keyset is NULL"));
    char small[4];
    CHECK_STATUS(secllama_last_error(small, sizeof small, &need), SECLLAMA_STATUS_BUFFER_TOO_SMALL);
    char *msg = malloc(need + 1);
    size_t got = 0;
    CHECK_STATUS(secllama_last_error(msg, need + 1, &got), SECLLAMA_STATUS_OK);
    CHECK(got == need && strcmp(msg, "out_keyset is NULL") == 0);
    free(msg);
    CHECK_STATUS(secllama_last_error(NULL, 5, &got), SECLLAMA_STATUS_NULL_PARAMETER);
    CHECK_STATUS(secllama_last_error(small, sizeof small, NULL), SECLLAMA_STATUS_NULL_PARAMETER);
    /* As the header says, secllama_last_error never changes the message, even when it fails. */
    char again[64];
    CHECK_STATUS(secllama_last_error(again, sizeof again, &got), SECLLAMA_STATUS_OK);
    CHECK(strcmp(again, "out_keyset is NULL") == 0);

    /* Every free accepts NULL; buf_free also accepts an empty buffer, twice. */
    secllama_buf_free(NULL);
    secllama_buf empty = {0};
    secllama_buf_free(&empty);
    secllama_buf_free(&empty);
    secllama_keyset_free(NULL);
    secllama_keystore_free(NULL);
}

/* ---- crypto: keysets and envelopes ---- */

static void test_crypto(void) {
    secllama_keyset *ks = NULL;
    CHECK_STATUS(secllama_keyset_generate(&ks), SECLLAMA_STATUS_OK);
    CHECK(ks != NULL);

    const char *text = "the chat history";
    const char *aad = "chat/42";
    secllama_buf env = {0}, pt = {0};
    CHECK_STATUS(secllama_keyset_seal(ks, (const uint8_t *)text, strlen(text), (const uint8_t *)aad,
                                      strlen(aad), &env),
                 SECLLAMA_STATUS_OK);
    CHECK(env.len == strlen(text) + SECLLAMA_ENVELOPE_OVERHEAD);
    CHECK(env.ptr[0] == 0x01);
    CHECK_STATUS(secllama_keyset_open(ks, env.ptr, env.len, (const uint8_t *)aad, strlen(aad), &pt),
                 SECLLAMA_STATUS_OK);
    CHECK(buf_eq(&pt, text));
    secllama_buf_free(&pt);
    CHECK(pt.ptr == NULL && pt.len == 0);

    /* Another aad, a flipped bit anywhere, a truncation: no plaintext. */
    CHECK_STATUS(secllama_keyset_open(ks, env.ptr, env.len, (const uint8_t *)"chat/43", 7, &pt),
                 SECLLAMA_STATUS_AUTHENTICATION_FAILED);
    CHECK(pt.ptr == NULL && pt.len == 0);
    env.ptr[env.len - 1] ^= 0x01;
    CHECK_STATUS(secllama_keyset_open(ks, env.ptr, env.len, (const uint8_t *)aad, strlen(aad), &pt),
                 SECLLAMA_STATUS_AUTHENTICATION_FAILED);
    env.ptr[env.len - 1] ^= 0x01;
    env.ptr[20] ^= 0x80; /* inside the ciphertext */
    CHECK_STATUS(secllama_keyset_open(ks, env.ptr, env.len, (const uint8_t *)aad, strlen(aad), &pt),
                 SECLLAMA_STATUS_AUTHENTICATION_FAILED);
    env.ptr[20] ^= 0x80;
    CHECK_STATUS(secllama_keyset_open(ks, env.ptr, 10, (const uint8_t *)aad, strlen(aad), &pt),
                 SECLLAMA_STATUS_MALFORMED);
    env.ptr[0] = 0x7f;
    CHECK_STATUS(secllama_keyset_open(ks, env.ptr, env.len, (const uint8_t *)aad, strlen(aad), &pt),
                 SECLLAMA_STATUS_UNSUPPORTED_VERSION);
    env.ptr[0] = 0x01;

    /* Empty plaintext and aad as (NULL, 0). */
    secllama_buf env0 = {0};
    CHECK_STATUS(secllama_keyset_seal(ks, NULL, 0, NULL, 0, &env0), SECLLAMA_STATUS_OK);
    CHECK(env0.len == SECLLAMA_ENVELOPE_OVERHEAD);
    CHECK_STATUS(secllama_keyset_open(ks, env0.ptr, env0.len, NULL, 0, &pt), SECLLAMA_STATUS_OK);
    CHECK(pt.len == 0 && pt.ptr == NULL);
    secllama_buf_free(&env0);

    /* Rotation: the new primary seals, the old key still opens. */
    uint32_t first = 0, second = 0;
    CHECK_STATUS(secllama_keyset_primary_id(ks, &first), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_keyset_rotate(ks, &second), SECLLAMA_STATUS_OK);
    CHECK(second != first && second != 0);
    uint32_t primary = 0;
    CHECK_STATUS(secllama_keyset_primary_id(ks, &primary), SECLLAMA_STATUS_OK);
    CHECK(primary == second);
    CHECK_STATUS(secllama_keyset_open(ks, env.ptr, env.len, (const uint8_t *)aad, strlen(aad), &pt),
                 SECLLAMA_STATUS_OK);
    CHECK(buf_eq(&pt, text));
    secllama_buf_free(&pt);
    CHECK_STATUS(secllama_keyset_disable(ks, second), SECLLAMA_STATUS_KEY_IS_PRIMARY);
    CHECK_STATUS(secllama_keyset_disable(ks, first), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_keyset_open(ks, env.ptr, env.len, (const uint8_t *)aad, strlen(aad), &pt),
                 SECLLAMA_STATUS_KEY_DISABLED);
    CHECK_STATUS(secllama_keyset_enable(ks, first), SECLLAMA_STATUS_OK);

    secllama_buf keys = {0};
    CHECK_STATUS(secllama_keyset_keys_json(ks, &keys), SECLLAMA_STATUS_OK);
    CHECK(json_has(&keys, "\"status\":\"enabled\""));
    CHECK(json_has(&keys, "\"primary\":true"));
    secllama_buf_free(&keys);

    /* Serialize, parse, open with the copy; then destroy the old key in the copy. */
    secllama_buf bytes = {0};
    CHECK_STATUS(secllama_keyset_to_bytes(ks, &bytes), SECLLAMA_STATUS_OK);
    secllama_keyset *copy = NULL;
    CHECK_STATUS(secllama_keyset_from_bytes(bytes.ptr, bytes.len, &copy), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_keyset_open(copy, env.ptr, env.len, (const uint8_t *)aad, strlen(aad), &pt),
                 SECLLAMA_STATUS_OK);
    CHECK(buf_eq(&pt, text));
    secllama_buf_free(&pt);
    CHECK_STATUS(secllama_keyset_destroy(copy, first), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_keyset_open(copy, env.ptr, env.len, (const uint8_t *)aad, strlen(aad), &pt),
                 SECLLAMA_STATUS_KEY_DESTROYED);
    secllama_keyset_free(copy);

    /* Garbage is refused with a code, never a crash; truncations too. */
    secllama_keyset *bad = (secllama_keyset *)0x1;
    CHECK_STATUS(secllama_keyset_from_bytes(bytes.ptr, bytes.len / 2, &bad), SECLLAMA_STATUS_MALFORMED);
    CHECK(bad == NULL);
    CHECK_STATUS(secllama_keyset_from_bytes(NULL, 0, &bad), SECLLAMA_STATUS_MALFORMED);
    secllama_buf_free(&bytes);

    /* A foreign keyset does not know the key id. */
    secllama_keyset *other = NULL;
    CHECK_STATUS(secllama_keyset_generate(&other), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_keyset_open(other, env.ptr, env.len, (const uint8_t *)aad, strlen(aad), &pt),
                 SECLLAMA_STATUS_KEY_UNKNOWN);
    secllama_keyset_free(other);

    /* NULL arguments: exact codes, out-parameters reset. */
    secllama_buf out = {(uint8_t *)0x1, 99};
    CHECK_STATUS(secllama_keyset_seal(NULL, (const uint8_t *)"x", 1, NULL, 0, &out),
                 SECLLAMA_STATUS_NULL_PARAMETER);
    CHECK(out.ptr == NULL && out.len == 0);
    CHECK_STATUS(secllama_keyset_seal(ks, NULL, 5, NULL, 0, &out), SECLLAMA_STATUS_NULL_PARAMETER);
    CHECK_STATUS(secllama_keyset_seal(ks, (const uint8_t *)"x", 1, NULL, 3, &out),
                 SECLLAMA_STATUS_NULL_PARAMETER);
    CHECK_STATUS(secllama_keyset_seal(ks, (const uint8_t *)"x", 1, NULL, 0, NULL),
                 SECLLAMA_STATUS_NULL_PARAMETER);
    CHECK_STATUS(secllama_keyset_open(ks, NULL, 0, NULL, 0, &out), SECLLAMA_STATUS_MALFORMED);
    CHECK_STATUS(secllama_keyset_rotate(NULL, &second), SECLLAMA_STATUS_NULL_PARAMETER);
    CHECK_STATUS(secllama_keyset_rotate(ks, NULL), SECLLAMA_STATUS_NULL_PARAMETER);
    CHECK_STATUS(secllama_keyset_to_bytes(NULL, &out), SECLLAMA_STATUS_NULL_PARAMETER);
    CHECK_STATUS(secllama_keyset_enable(ks, 12345), SECLLAMA_STATUS_KEY_UNKNOWN);

    secllama_buf_free(&env);
    secllama_keyset_free(ks);
}

/* ---- password sealing ---- */

static void test_password(void) {
    const char *pw = "correct horse battery staple";
    const char *text = "exported chats";
    secllama_buf env = {0}, pt = {0};
    /* The smallest accepted count keeps the test fast. */
    CHECK_STATUS(secllama_password_seal((const uint8_t *)pw, strlen(pw), SECLLAMA_PASSWORD_MIN_ITERATIONS,
                                        (const uint8_t *)text, strlen(text), (const uint8_t *)"v1", 2,
                                        &env),
                 SECLLAMA_STATUS_OK);
    CHECK(env.len == strlen(text) + SECLLAMA_PASSWORD_OVERHEAD);
    CHECK(env.ptr[0] == 0x02);
    CHECK_STATUS(secllama_password_open((const uint8_t *)pw, strlen(pw), env.ptr, env.len,
                                        (const uint8_t *)"v1", 2, &pt),
                 SECLLAMA_STATUS_OK);
    CHECK(buf_eq(&pt, text));
    secllama_buf_free(&pt);

    CHECK_STATUS(secllama_password_open((const uint8_t *)"wrong", 5, env.ptr, env.len,
                                        (const uint8_t *)"v1", 2, &pt),
                 SECLLAMA_STATUS_AUTHENTICATION_FAILED);
    CHECK(pt.ptr == NULL);
    env.ptr[env.len - 3] ^= 0x10;
    CHECK_STATUS(secllama_password_open((const uint8_t *)pw, strlen(pw), env.ptr, env.len,
                                        (const uint8_t *)"v1", 2, &pt),
                 SECLLAMA_STATUS_AUTHENTICATION_FAILED);
    env.ptr[env.len - 3] ^= 0x10;
    /* A header claiming 2^32-1 iterations is refused before any work. */
    uint8_t saved[4];
    memcpy(saved, env.ptr + 1, 4);
    memset(env.ptr + 1, 0xff, 4);
    CHECK_STATUS(secllama_password_open((const uint8_t *)pw, strlen(pw), env.ptr, env.len,
                                        (const uint8_t *)"v1", 2, &pt),
                 SECLLAMA_STATUS_INVALID_ITERATIONS);
    memcpy(env.ptr + 1, saved, 4);
    secllama_buf_free(&env);

    CHECK_STATUS(secllama_password_seal((const uint8_t *)pw, strlen(pw), 10, NULL, 0, NULL, 0, &env),
                 SECLLAMA_STATUS_INVALID_ITERATIONS);
    CHECK_STATUS(secllama_password_seal((const uint8_t *)pw, strlen(pw), SECLLAMA_PASSWORD_MAX_ITERATIONS + 1,
                                        NULL, 0, NULL, 0, &env),
                 SECLLAMA_STATUS_INVALID_ITERATIONS);
    CHECK_STATUS(secllama_password_seal(NULL, 0, SECLLAMA_PASSWORD_MIN_ITERATIONS, NULL, 0, NULL, 0, &env),
                 SECLLAMA_STATUS_EMPTY_PASSWORD);
    CHECK_STATUS(secllama_password_seal(NULL, 3, 0, NULL, 0, NULL, 0, &env), SECLLAMA_STATUS_NULL_PARAMETER);
    CHECK(env.ptr == NULL);
}

/* ---- keystore: the real Secret Service ---- */

static void test_keystore(void) {
    int required = env_true("SECLLAMA_TEST_SECRET_SERVICE");
    if (!getenv("DBUS_SESSION_BUS_ADDRESS") && !required) {
        printf("SKIP keystore: no D-Bus session bus (run inside .ci/test-in-session.sh)\n");
        return;
    }
    /* Argument errors come before any keychain is touched. */
    secllama_keystore *ks = (secllama_keystore *)0x1;
    CHECK_STATUS(secllama_keystore_open("bad/name", NULL, &ks), SECLLAMA_STATUS_KEYSTORE_INVALID_SERVICE);
    CHECK(ks == NULL);
    CHECK_STATUS(secllama_keystore_open("", NULL, &ks), SECLLAMA_STATUS_KEYSTORE_INVALID_SERVICE);
    CHECK_STATUS(secllama_keystore_open("ok", "file", &ks), SECLLAMA_STATUS_KEYSTORE_UNKNOWN_BACKEND);
    CHECK_STATUS(secllama_keystore_open("\xff\xfe", NULL, &ks), SECLLAMA_STATUS_INVALID_UTF8);
    CHECK_STATUS(secllama_keystore_open(NULL, NULL, &ks), SECLLAMA_STATUS_NULL_PARAMETER);

    char service[64];
    snprintf(service, sizeof service, "secllama-ffi-c-%ld-%ld", (long)getpid(), (long)time(NULL));
    CHECK_STATUS(secllama_keystore_open(service, "secret-service", &ks), SECLLAMA_STATUS_OK);
    if (!ks) return;
    const char *backend = NULL;
    CHECK_STATUS(secllama_keystore_backend(ks, &backend), SECLLAMA_STATUS_OK);
    CHECK(backend && strcmp(backend, "secret-service") == 0);

    secllama_buf status = {0};
    CHECK_STATUS(secllama_keystore_status_json(ks, &status), SECLLAMA_STATUS_KEYSTORE_NOT_INITIALIZED);
    CHECK_STATUS(secllama_keystore_init(ks), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_keystore_init(ks), SECLLAMA_STATUS_KEYSTORE_ALREADY_INITIALIZED);
    bool created = true;
    CHECK_STATUS(secllama_keystore_init_or_reuse(ks, &created), SECLLAMA_STATUS_OK);
    CHECK(!created);

    /* Seal with the stored keyset, rotate in the keychain, the reloaded keyset still opens. */
    secllama_keyset *keys = NULL;
    CHECK_STATUS(secllama_keystore_load(ks, &keys), SECLLAMA_STATUS_OK);
    uint32_t first = 0;
    CHECK_STATUS(secllama_keyset_primary_id(keys, &first), SECLLAMA_STATUS_OK);
    secllama_buf env = {0}, pt = {0};
    CHECK_STATUS(secllama_keyset_seal(keys, (const uint8_t *)"kept", 4, NULL, 0, &env), SECLLAMA_STATUS_OK);
    secllama_keyset_free(keys);

    uint32_t second = 0;
    CHECK_STATUS(secllama_keystore_rotate(ks, &second), SECLLAMA_STATUS_OK);
    CHECK(second != 0 && second != first);
    CHECK_STATUS(secllama_keystore_status_json(ks, &status), SECLLAMA_STATUS_OK);
    char primary[48];
    snprintf(primary, sizeof primary, "\"primary\":%u,", second);
    CHECK(json_has(&status, primary));
    CHECK(json_has(&status, "\"backend\":\"secret-service\""));
    CHECK(json_has(&status, service));
    char first_key[48];
    snprintf(first_key, sizeof first_key, "{\"id\":%u,\"status\":\"enabled\",\"primary\":false", first);
    CHECK(json_has(&status, first_key));
    secllama_buf_free(&status);

    CHECK_STATUS(secllama_keystore_load(ks, &keys), SECLLAMA_STATUS_OK);
    uint32_t primary_id = 0;
    CHECK_STATUS(secllama_keyset_primary_id(keys, &primary_id), SECLLAMA_STATUS_OK);
    CHECK(primary_id == second);
    CHECK_STATUS(secllama_keyset_open(keys, env.ptr, env.len, NULL, 0, &pt), SECLLAMA_STATUS_OK);
    CHECK(buf_eq(&pt, "kept"));
    secllama_buf_free(&pt);
    secllama_keyset_free(keys);
    CHECK_STATUS(secllama_keystore_disable(ks, second), SECLLAMA_STATUS_KEY_IS_PRIMARY);

    /* The old primary may still be sealing in a process that loaded the keyset before the
     * rotation: destroy refuses it for the grace period, the forced variant does it, and the
     * primary itself is refused either way. */
    CHECK_STATUS(secllama_keystore_destroy(ks, first), SECLLAMA_STATUS_KEYSTORE_RECENTLY_PRIMARY);
    char why[512];
    last_error(why, sizeof why);
    CHECK(strstr(why, "grace period") != NULL);
    CHECK_STATUS(secllama_keystore_destroy_forced(ks, second), SECLLAMA_STATUS_KEY_IS_PRIMARY);
    CHECK_STATUS(secllama_keystore_destroy_forced(NULL, first), SECLLAMA_STATUS_NULL_PARAMETER);
    CHECK_STATUS(secllama_keystore_destroy_forced(ks, first), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_keystore_status_json(ks, &status), SECLLAMA_STATUS_OK);
    snprintf(first_key, sizeof first_key, "{\"id\":%u,\"status\":\"destroyed\",\"primary\":false", first);
    CHECK(json_has(&status, first_key));
    secllama_buf_free(&status);
    CHECK_STATUS(secllama_keystore_load(ks, &keys), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_keyset_open(keys, env.ptr, env.len, NULL, 0, &pt), SECLLAMA_STATUS_KEY_DESTROYED);
    CHECK(pt.ptr == NULL);
    secllama_keyset_free(keys);

    size_t removed = 0;
    CHECK_STATUS(secllama_keystore_delete(ks, &removed), SECLLAMA_STATUS_OK);
    /* the live key, the primary record and the index: the destroyed key's entry is gone */
    CHECK(removed == 3);
    CHECK_STATUS(secllama_keystore_status_json(ks, &status), SECLLAMA_STATUS_KEYSTORE_NOT_INITIALIZED);
    CHECK_STATUS(secllama_keystore_delete(ks, &removed), SECLLAMA_STATUS_KEYSTORE_NOT_INITIALIZED);
    secllama_buf_free(&env);
    secllama_keystore_free(ks);
}

/* ---- sandbox probe ---- */

static void test_sandbox(void) {
    secllama_buf json = {0};
    CHECK_STATUS(secllama_sandbox_probe_json(&json), SECLLAMA_STATUS_OK);
    CHECK(json_has(&json, "\"os\":\"linux\""));
    CHECK(json_has(&json, "\"seccomp_filter\":"));
    CHECK(json_has(&json, "\"landlock_abi\":"));
    secllama_buf_free(&json);
    CHECK_STATUS(secllama_sandbox_probe_json(NULL), SECLLAMA_STATUS_NULL_PARAMETER);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0); /* no buffered output duplicated into forked children */
    struct {
        const char *name;
        void (*fn)(void);
    } groups[] = {{"basics", test_basics},     {"crypto", test_crypto},   {"password", test_password},
                  {"keystore", test_keystore}, {"sandbox", test_sandbox}};
    size_t n = sizeof groups / sizeof groups[0];
    for (size_t i = 0; i < n; i++) {
        int selected = argc == 1;
        for (int a = 1; a < argc; a++) selected |= strcmp(argv[a], groups[i].name) == 0;
        if (!selected) continue;
        int before = failures;
        groups[i].fn();
        printf("%s %s\n", failures == before ? "ok  " : "FAIL", groups[i].name);
    }
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
