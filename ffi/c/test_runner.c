/* Tests of the SecLlama runner through the C API: spawn the sandboxed runner on the default
 * model, stream completions and chats, cancel from the callback, and refuse bad requests
 * with exact codes. Kept apart from test_secllama.c because it needs the model and takes
 * seconds; run under AddressSanitizer in CI (see ffi/README.md for why not valgrind).
 *
 *   test_runner       (needs the default model and SECLLAMA_RUNNER_PATH)
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "secllama.h"
#include "check.h"

/* Does the JSON in `b` contain `needle`? (The buffer is not NUL-terminated.) */
static int json_has(const secllama_buf *b, const char *needle) {
    return b->ptr && memmem(b->ptr, b->len, needle, strlen(needle)) != NULL;
}

/* ---- runner: the default model in the sandbox ---- */

struct collected {
    char text[4096];
    size_t len;
    int pieces;
    int cancel_after; /* cancel when this many pieces arrived; 0 = never */
};

static int32_t on_piece(void *user_data, const char *piece, size_t piece_len) {
    struct collected *c = user_data;
    if (piece[piece_len] != '\0') return 1; /* the documented NUL after the piece */
    if (c->len + piece_len < sizeof c->text) {
        memcpy(c->text + c->len, piece, piece_len);
        c->len += piece_len;
        c->text[c->len] = '\0';
    }
    c->pieces++;
    return c->cancel_after && c->pieces >= c->cancel_after;
}

static int progress_calls;
static void on_progress(void *user_data, secllama_load_stage stage, float fraction) {
    (void)user_data;
    (void)stage;
    if (fraction >= 0.0f && fraction <= 1.0f) progress_calls++;
}

static void test_runner(void) {
    /* Every free accepts NULL. */
    secllama_runner_config_free(NULL);
    secllama_runner_free(NULL);
    secllama_cancel_handle_free(NULL);

    secllama_runner_config *cfg = NULL;
    CHECK_STATUS(secllama_runner_config_new(NULL, &cfg), SECLLAMA_STATUS_NULL_PARAMETER);
    CHECK_STATUS(secllama_runner_config_new("", &cfg), SECLLAMA_STATUS_RUNNER_CONFIG);
    CHECK_STATUS(secllama_runner_config_new("/nonexistent/model.gguf", &cfg), SECLLAMA_STATUS_OK);
    secllama_runner *runner = (secllama_runner *)0x1;
    CHECK_STATUS(secllama_runner_spawn(cfg, NULL, NULL, &runner), SECLLAMA_STATUS_RUNNER_MODEL_NOT_FOUND);
    CHECK(runner == NULL);
    secllama_runner_config_free(cfg);

    CHECK_STATUS(secllama_runner_config_default_model(&cfg), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_runner_config_set_threads(cfg, 2), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_runner_config_set_context_length(cfg, 1024), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_runner_config_set_sandbox(cfg, true, true), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_runner_config_set_sha256(cfg, "abc"), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_runner_spawn(cfg, NULL, NULL, &runner), SECLLAMA_STATUS_RUNNER_CONFIG);
    CHECK_STATUS(secllama_runner_config_set_sha256(cfg, "0000000000000000000000000000000000000000000000000000000000000000"),
                 SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_runner_spawn(cfg, NULL, NULL, &runner), SECLLAMA_STATUS_RUNNER_CHECKSUM_MISMATCH);
    CHECK_STATUS(secllama_runner_config_set_sha256(cfg, "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
                 SECLLAMA_STATUS_OK);
    /* GPU layers from a runner without a GPU backend (or usable device): a status of its own,
     * refused before the model is read, with the fix in the message. */
    CHECK_STATUS(secllama_runner_config_set_gpu_layers(cfg, 99), SECLLAMA_STATUS_OK);
    runner = (secllama_runner *)0x1;
    CHECK_STATUS(secllama_runner_spawn(cfg, NULL, NULL, &runner), SECLLAMA_STATUS_RUNNER_GPU_UNAVAILABLE);
    CHECK(runner == NULL);
    char gpu_msg[512];
    last_error(gpu_msg, sizeof gpu_msg);
    CHECK(strstr(gpu_msg, "99 GPU layers were asked for") != NULL);
    CHECK_STATUS(secllama_runner_config_set_gpu_layers(cfg, 0), SECLLAMA_STATUS_OK);

    CHECK_STATUS(secllama_runner_spawn(cfg, on_progress, NULL, &runner), SECLLAMA_STATUS_OK);
    secllama_runner_config_free(cfg);
    if (!runner) return;
    CHECK(progress_calls > 0);

    secllama_buf info = {0};
    CHECK_STATUS(secllama_runner_model_info_json(runner, &info), SECLLAMA_STATUS_OK);
    CHECK(json_has(&info, "\"context_length\":1024"));
    CHECK(json_has(&info, "\"threads\":2"));
    secllama_buf_free(&info);
    secllama_buf report = {0};
    CHECK_STATUS(secllama_runner_sandbox_report_json(runner, &report), SECLLAMA_STATUS_OK);
    CHECK(json_has(&report, "\"layers\""));
    secllama_buf_free(&report);

    /* A greedy completion, streamed. */
    secllama_generation_params params;
    CHECK_STATUS(secllama_generation_params_greedy(8, &params), SECLLAMA_STATUS_OK);
    struct collected c = {0};
    secllama_done done;
    CHECK_STATUS(secllama_runner_complete(runner, "The capital of France is", &params, on_piece, &c, &done),
                 SECLLAMA_STATUS_OK);
    CHECK(c.pieces >= 1);
    CHECK(c.len > 0);
    CHECK(done.reason == SECLLAMA_STOP_REASON_MAX_TOKENS || done.reason == SECLLAMA_STOP_REASON_END_OF_TEXT);
    CHECK(done.metrics.eval_count >= 1 && done.metrics.eval_count <= 8);
    CHECK(done.metrics.prompt_eval_count >= 5);
    CHECK(strlen(c.text) == c.len); /* no NUL inside: plain text */
    printf("completion: %s\n", c.text);

    /* The same prompt greedily gives the same text. */
    struct collected again = {0};
    CHECK_STATUS(secllama_runner_complete(runner, "The capital of France is", &params, on_piece, &again, &done),
                 SECLLAMA_STATUS_OK);
    CHECK(strcmp(again.text, c.text) == 0);

    /* Cancelling from the callback after the first piece. */
    CHECK_STATUS(secllama_generation_params_greedy(64, &params), SECLLAMA_STATUS_OK);
    struct collected cancel = {.cancel_after = 1};
    CHECK_STATUS(secllama_runner_complete(runner, "Count from one to fifty:", &params, on_piece, &cancel, &done),
                 SECLLAMA_STATUS_OK);
    CHECK(done.reason == SECLLAMA_STOP_REASON_CANCELLED);
    CHECK(cancel.pieces == 1);
    CHECK(done.metrics.eval_count < 64);

    /* A chat turn with the model's template. */
    secllama_chat_message msgs[] = {{"user", "What is the capital of France?"}};
    struct collected chat = {0};
    CHECK_STATUS(secllama_generation_params_greedy(12, &params), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_runner_chat(runner, msgs, 1, &params, on_piece, &chat, &done), SECLLAMA_STATUS_OK);
    /* The default model is instruction-tuned: greedily it answers "The capital of France is Paris." */
    CHECK(strstr(chat.text, "Paris") != NULL);
    CHECK(done.reason != SECLLAMA_STOP_REASON_NONE);

    /* Invalid requests: exact codes, nothing generated, the runner still works afterwards. */
    params.max_tokens = 0;
    CHECK_STATUS(secllama_runner_complete(runner, "x", &params, on_piece, &c, &done),
                 SECLLAMA_STATUS_RUNNER_INVALID_REQUEST);
    CHECK(done.reason == SECLLAMA_STOP_REASON_NONE);
    params.max_tokens = 4;
    params.temperature = -1.0f;
    CHECK_STATUS(secllama_runner_complete(runner, "x", &params, on_piece, &c, &done),
                 SECLLAMA_STATUS_RUNNER_INVALID_REQUEST);
    params.temperature = 0.0f;
    CHECK_STATUS(secllama_runner_complete(runner, "\xc3\x28", &params, on_piece, &c, &done),
                 SECLLAMA_STATUS_INVALID_UTF8);
    CHECK_STATUS(secllama_runner_complete(runner, NULL, &params, on_piece, &c, &done),
                 SECLLAMA_STATUS_NULL_PARAMETER);
    CHECK_STATUS(secllama_runner_complete(runner, "x", &params, on_piece, &c, NULL),
                 SECLLAMA_STATUS_NULL_PARAMETER);
    CHECK_STATUS(secllama_runner_chat(runner, NULL, 1, &params, on_piece, &c, &done),
                 SECLLAMA_STATUS_NULL_PARAMETER);
    CHECK_STATUS(secllama_runner_chat(runner, NULL, 0, &params, on_piece, &c, &done),
                 SECLLAMA_STATUS_RUNNER_INVALID_REQUEST);
    const char *stops[] = {"\n", NULL};
    params.stop = stops;
    params.stop_len = 2;
    CHECK_STATUS(secllama_runner_complete(runner, "x", &params, on_piece, &c, &done),
                 SECLLAMA_STATUS_NULL_PARAMETER);
    params.stop_len = 1;
    struct collected stopped = {0};
    CHECK_STATUS(secllama_runner_complete(runner, "The capital of France is", &params, NULL, NULL, &done),
                 SECLLAMA_STATUS_OK);
    (void)stopped;

    /* A cancel handle outlives nothing: cancelling with no request running is a no-op. */
    secllama_cancel_handle *cancel_handle = NULL;
    CHECK_STATUS(secllama_runner_cancel_handle(runner, &cancel_handle), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_cancel_handle_cancel(cancel_handle), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_cancel_handle_cancel(NULL), SECLLAMA_STATUS_NULL_PARAMETER);
    secllama_cancel_handle_free(cancel_handle);

    secllama_runner_free(runner);
}

/* ---- misuse: re-entry and free from callbacks, a stuck runner under a deadline ---- */

struct reentry {
    secllama_runner *runner;
    secllama_runner_config *config;
    secllama_status free_status, complete_status, info_status, config_status, config_free_status;
    int pieces;
};

/* Progress callback: the configuration is in use by secllama_runner_spawn. */
static void progress_frees_config(void *user_data, secllama_load_stage stage, float fraction) {
    (void)stage;
    (void)fraction;
    struct reentry *r = user_data;
    r->config_free_status = secllama_runner_config_free(r->config);
    r->config_status = secllama_runner_config_set_threads(r->config, 1);
}

/* Piece callback: frees the runner, starts a second request on it and reads its model info,
 * then cancels. */
static int32_t piece_misuses_runner(void *user_data, const char *piece, size_t piece_len) {
    (void)piece;
    (void)piece_len;
    struct reentry *r = user_data;
    r->pieces++;
    r->free_status = secllama_runner_free(r->runner);
    secllama_done inner;
    r->complete_status = secllama_runner_complete(r->runner, "again", NULL, NULL, NULL, &inner);
    secllama_buf info = {0};
    r->info_status = secllama_runner_model_info_json(r->runner, &info);
    secllama_buf_free(&info);
    return 1;
}

/* SIGSTOPs a process and all its descendants (the sandbox may put an init between). */
/* The runner sits below the sandbox's waiter and init: once the library has killed and reaped
 * the waiter, the kernel tears the PID namespace down a moment later. Wait (bounded) for it. */
static int gone_within(pid_t pid, int ms) {
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (int waited = 0; waited < ms; waited += 10) {
        if (kill(pid, 0) == -1) return 1;
        nanosleep(&tick, NULL);
    }
    return kill(pid, 0) == -1;
}

static void stop_tree(pid_t pid) {
    kill(pid, SIGSTOP);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
    FILE *f = fopen(path, "r");
    if (!f) return;
    int child;
    while (fscanf(f, "%d", &child) == 1) stop_tree(child);
    fclose(f);
}

static void test_misuse(void) {
    struct reentry r = {0};
    secllama_runner_config *cfg = NULL;
    CHECK_STATUS(secllama_runner_config_default_model(&cfg), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_runner_config_set_context_length(cfg, 512), SECLLAMA_STATUS_OK);
    r.config = cfg;
    secllama_runner *runner = NULL;
    CHECK_STATUS(secllama_runner_spawn(cfg, progress_frees_config, &r, &runner), SECLLAMA_STATUS_OK);
    CHECK(r.config_free_status == SECLLAMA_STATUS_BUSY);
    CHECK(r.config_status == SECLLAMA_STATUS_BUSY);
    CHECK_STATUS(secllama_runner_config_free(cfg), SECLLAMA_STATUS_OK);
    if (!runner) return;

    /* Free and a re-entrant request from the piece callback: BUSY, nothing freed, the request
     * ends cleanly. Reading model info meanwhile is allowed (calls on a runner are concurrent). */
    r.runner = runner;
    secllama_generation_params params;
    CHECK_STATUS(secllama_generation_params_greedy(32, &params), SECLLAMA_STATUS_OK);
    secllama_done done;
    CHECK_STATUS(secllama_runner_complete(runner, "Count from one to ten:", &params, piece_misuses_runner, &r, &done),
                 SECLLAMA_STATUS_OK);
    CHECK(r.pieces == 1);
    CHECK(r.free_status == SECLLAMA_STATUS_BUSY);
    CHECK(r.complete_status == SECLLAMA_STATUS_BUSY);
    CHECK(r.info_status == SECLLAMA_STATUS_OK);
    CHECK(done.reason == SECLLAMA_STOP_REASON_CANCELLED);

    /* A deadline: the request is cancelled and TIMEOUT returned. Whether the runner answered
     * the cancel within the grace (and stays usable) depends on the token latency of the
     * machine, so both outcomes are checked for consistency, not which one happens. */
    CHECK_STATUS(secllama_generation_params_greedy(64, &params), SECLLAMA_STATUS_OK);
    params.timeout_ms = 1;
    CHECK_STATUS(secllama_runner_complete(runner, "Count from one to fifty:", &params, NULL, NULL, &done),
                 SECLLAMA_STATUS_RUNNER_TIMEOUT);
    params.timeout_ms = 0;
    params.max_tokens = 2;
    if (done.reason == SECLLAMA_STOP_REASON_CANCELLED) {
        CHECK(done.metrics.eval_count < 64);
        CHECK_STATUS(secllama_runner_complete(runner, "Hello", &params, NULL, NULL, &done), SECLLAMA_STATUS_OK);
        CHECK(done.reason == SECLLAMA_STOP_REASON_MAX_TOKENS || done.reason == SECLLAMA_STOP_REASON_END_OF_TEXT);
    } else {
        CHECK(done.reason == SECLLAMA_STOP_REASON_NONE);
        CHECK_STATUS(secllama_runner_complete(runner, "Hello", &params, NULL, NULL, &done),
                     SECLLAMA_STATUS_RUNNER_CLOSED);
    }
    CHECK_STATUS(secllama_runner_free(runner), SECLLAMA_STATUS_OK);

    /* A stopped runner (SIGSTOP before the request, so the outcome does not depend on how fast
     * tokens come): the deadline cancels, then kills it; the runner is closed after. */
    CHECK_STATUS(secllama_runner_config_default_model(&cfg), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_runner_config_set_context_length(cfg, 512), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_runner_spawn(cfg, NULL, NULL, &runner), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_runner_config_free(cfg), SECLLAMA_STATUS_OK);
    if (!runner) return;
    uint32_t pid = 0;
    CHECK_STATUS(secllama_runner_pid(runner, &pid), SECLLAMA_STATUS_OK);
    CHECK(pid > 0);
    params.max_tokens = 200;
    params.timeout_ms = 1500;
    stop_tree((pid_t)pid);
    CHECK_STATUS(secllama_runner_complete(runner, "Count from one to fifty:", &params, NULL, NULL, &done),
                 SECLLAMA_STATUS_RUNNER_TIMEOUT);
    CHECK(done.reason == SECLLAMA_STOP_REASON_NONE);
    CHECK(gone_within((pid_t)pid, 10000)); /* killed and reaped */
    CHECK_STATUS(secllama_runner_complete(runner, "Hello", NULL, NULL, NULL, &done), SECLLAMA_STATUS_RUNNER_CLOSED);
    CHECK_STATUS(secllama_runner_free(runner), SECLLAMA_STATUS_OK);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    test_runner();
    test_misuse();
    printf("%s runner\n%d checks, %d failed\n", failures ? "FAIL" : "ok  ", checks, failures);
    return failures ? 1 : 0;
}
