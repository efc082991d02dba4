/* SecLlama from C: seal and open a message, then (with --run) ask the default model one
 * question in a sandboxed chat turn (the model's own chat template) and stream the answer.
 *
 *   make -C ffi/c example && ffi/c/build/example --run "What is the capital of France?"
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

static int32_t print_piece(void *user_data, const char *piece, size_t len) {
    (void)user_data;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0; /* non-zero would cancel */
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

    if (argc < 3 || strcmp(argv[1], "--run") != 0) return 0;
    secllama_runner_config *cfg = NULL;
    secllama_runner *runner = NULL;
    secllama_generation_params params;
    secllama_done done;
    if ((s = secllama_runner_config_default_model(&cfg))) return fail("config", s);
    s = secllama_runner_spawn(cfg, NULL, NULL, &runner);
    secllama_runner_config_free(cfg);
    if (s) return fail("spawn", s);
    secllama_generation_params_greedy(64, &params);
    secllama_chat_message question = {"user", argv[2]};
    s = secllama_runner_chat(runner, &question, 1, &params, print_piece, NULL, &done);
    secllama_runner_free(runner);
    if (s) return fail("complete", s);
    printf("\n[%llu tokens, %.1f tokens/s]\n", (unsigned long long)done.metrics.eval_count,
           done.metrics.eval_tokens_per_second);
    return 0;
}
