/* SecLlama from C: seal and open a message.
 *
 *   make -C ffi/c example && ffi/c/build/example
 */
#include <stdio.h>
#include <string.h>

#include "secllama.h"

static int fail(const char *what, secllama_status s) {
    char msg[512];
    size_t len = 0;
    if (secllama_last_error(msg, sizeof msg, &len) != SECLLAMA_STATUS_OK) msg[0] = '\0';
    fprintf(stderr, "example: %s failed (status %u): %s\n", what, s, msg);
    return 1;
}

int main(int argc, char **argv) {
    secllama_keyset *ks = NULL;
    secllama_buf env = {0}, pt = {0};
    secllama_status s;
    if ((s = secllama_keyset_generate(&ks))) return fail("keyset_generate", s);
    const char *msg = "hello from C";
    if ((s = secllama_keyset_seal(ks, (const uint8_t *)msg, strlen(msg), (const uint8_t *)"demo", 4, &env)))
        return fail("seal", s);
    if ((s = secllama_keyset_open(ks, env.ptr, env.len, (const uint8_t *)"demo", 4, &pt)))
        return fail("open", s);
    printf("sealed %zu bytes into %zu, opened: %.*s\n", strlen(msg), env.len, (int)pt.len, (const char *)pt.ptr);
    secllama_buf_free(&pt);
    secllama_buf_free(&env);
    secllama_keyset_free(ks);

    (void)argc;
    (void)argv;
    return 0;
}
