/* Several requests in flight on one runner from C threads (the default model, sandboxed):
 * interleaved greedy requests each give exactly the text they give alone, also more of them
 * than the runner has slots; embeddings, tokenize/detokenize and the context length (with their
 * limits) while a generation runs on another thread; a queued request cancelled by its token
 * before it gets a slot; the bound on waiting requests (64, then INVALID_REQUEST); cancelling
 * one (request token, deadline) leaves the others' text intact; freeing the runner while
 * requests run is refused with BUSY and frees nothing; a re-entrant request from a piece
 * callback is BUSY while one from another thread runs. CI runs it plain, under AddressSanitizer
 * and under valgrind (the host side: threads, the shared handle, the request tokens).
 *
 *   test_concurrent   (needs the default model and SECLLAMA_RUNNER_PATH)
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "secllama.h"
#include "check.h"

/* The prompts the runner crate's own batching test uses. */
static const char *const PROMPTS[4] = {
    "The three primary colors are",
    "The capital of France is",
    "Water boils at a temperature of",
    "A week has seven days: Monday,",
};
#define SHORT_TOKENS 8
#define LONG_TOKENS 400
#define LONG_PROMPT "Count from one to two hundred, one number per line:"

struct job {
    secllama_runner *runner;
    const char *prompt;
    uint32_t max_tokens;
    uint64_t timeout_ms;
    secllama_request_token *token; /* NULL: none */
    pthread_barrier_t *start;      /* NULL: start at once */
    int reenter;                   /* the callback tries a request on the same runner */
    secllama_status reenter_status;
    char text[4096];
    size_t len;
    atomic_int pieces;
    atomic_int returned; /* set once secllama_runner_complete returned */
    secllama_status status;
    secllama_done done;
};

static int32_t collect(void *user_data, const char *piece, size_t piece_len) {
    struct job *j = user_data;
    if (j->len + piece_len < sizeof j->text) {
        memcpy(j->text + j->len, piece, piece_len);
        j->len += piece_len;
        j->text[j->len] = '\0';
    }
    if (j->reenter && atomic_load(&j->pieces) == 0) {
        secllama_done inner;
        j->reenter_status = secllama_runner_complete(j->runner, "again", NULL, NULL, NULL, &inner);
    }
    atomic_fetch_add(&j->pieces, 1);
    return 0;
}

static void *run_job(void *arg) {
    struct job *j = arg;
    secllama_generation_params params;
    if (secllama_generation_params_greedy(j->max_tokens, &params) != SECLLAMA_STATUS_OK) {
        j->status = SECLLAMA_STATUS_PANIC;
        return NULL;
    }
    params.timeout_ms = j->timeout_ms;
    params.cancel = j->token;
    if (j->start) pthread_barrier_wait(j->start);
    j->status = secllama_runner_complete(j->runner, j->prompt, &params, collect, j, &j->done);
    atomic_store(&j->returned, 1);
    return NULL;
}

static void job_init(struct job *j, secllama_runner *runner, const char *prompt, uint32_t max_tokens) {
    memset(j, 0, sizeof *j);
    j->runner = runner;
    j->prompt = prompt;
    j->max_tokens = max_tokens;
    atomic_init(&j->pieces, 0);
    atomic_init(&j->returned, 0);
}

/* Waits (bounded: generous for a loaded machine under valgrind) until `j` streamed a piece. */
static int first_piece_within(struct job *j, int seconds) {
    struct timespec tick = {0, 20 * 1000 * 1000};
    for (int waited = 0; waited < seconds * 50; waited++) {
        if (atomic_load(&j->pieces) > 0) return 1;
        nanosleep(&tick, NULL);
    }
    return atomic_load(&j->pieces) > 0;
}

static void alone_texts(secllama_runner *runner, char alone[4][4096]) {
    for (int i = 0; i < 4; i++) {
        struct job j;
        job_init(&j, runner, PROMPTS[i], SHORT_TOKENS);
        run_job(&j);
        CHECK_STATUS(j.status, SECLLAMA_STATUS_OK);
        CHECK(j.len > 0);
        memcpy(alone[i], j.text, sizeof j.text);
        printf("alone %d: %s\n", i, alone[i]);
    }
}

/* Four greedy requests at once (four slots): each gives exactly its alone text. */
static void test_interleaved(secllama_runner *runner, char alone[4][4096]) {
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 4);
    static struct job jobs[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        job_init(&jobs[i], runner, PROMPTS[i], SHORT_TOKENS);
        jobs[i].start = &start;
        pthread_create(&threads[i], NULL, run_job, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < 4; i++) {
        CHECK_STATUS(jobs[i].status, SECLLAMA_STATUS_OK);
        CHECK(strcmp(jobs[i].text, alone[i]) == 0);
        if (strcmp(jobs[i].text, alone[i]) != 0) fprintf(stderr, "  %d: %s\n  alone: %s\n", i, jobs[i].text, alone[i]);
    }
}

/* A long request with a token among three short ones: while it runs the runner cannot be
 * freed, the token cannot be freed, model info can be read; cancelling the token ends the long
 * one and the short ones give their alone text. A re-entrant request from a callback is BUSY. */
static void test_cancel_one_of_several(secllama_runner *runner, char alone[4][4096]) {
    secllama_request_token *token = NULL;
    CHECK_STATUS(secllama_request_token_new(&token), SECLLAMA_STATUS_OK);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 4);
    static struct job jobs[4];
    pthread_t threads[4];
    for (int i = 0; i < 3; i++) {
        job_init(&jobs[i], runner, PROMPTS[i], SHORT_TOKENS);
        jobs[i].start = &start;
    }
    jobs[0].reenter = 1;
    job_init(&jobs[3], runner, LONG_PROMPT, LONG_TOKENS);
    jobs[3].start = &start;
    jobs[3].token = token;
    for (int i = 0; i < 4; i++) pthread_create(&threads[i], NULL, run_job, &jobs[i]);

    CHECK(first_piece_within(&jobs[3], 300));
    CHECK_STATUS(secllama_runner_free(runner), SECLLAMA_STATUS_BUSY);
    CHECK_STATUS(secllama_request_token_free(token), SECLLAMA_STATUS_BUSY);
    secllama_buf info = {0};
    CHECK_STATUS(secllama_runner_model_info_json(runner, &info), SECLLAMA_STATUS_OK);
    secllama_buf_free(&info);
    CHECK_STATUS(secllama_request_token_cancel(token), SECLLAMA_STATUS_OK);
    for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);

    CHECK_STATUS(jobs[3].status, SECLLAMA_STATUS_OK);
    CHECK(jobs[3].done.reason == SECLLAMA_STOP_REASON_CANCELLED);
    CHECK(jobs[3].done.metrics.eval_count < LONG_TOKENS);
    printf("cancelled after %d pieces, %llu tokens\n", atomic_load(&jobs[3].pieces),
           (unsigned long long)jobs[3].done.metrics.eval_count);
    CHECK_STATUS(jobs[0].reenter_status, SECLLAMA_STATUS_BUSY);
    for (int i = 0; i < 3; i++) {
        CHECK_STATUS(jobs[i].status, SECLLAMA_STATUS_OK);
        CHECK(strcmp(jobs[i].text, alone[i]) == 0);
        if (strcmp(jobs[i].text, alone[i]) != 0) fprintf(stderr, "  %d: %s\n  alone: %s\n", i, jobs[i].text, alone[i]);
    }

    /* A cancelled token stays cancelled: the next request given it ends at once. */
    struct job again;
    job_init(&again, runner, LONG_PROMPT, LONG_TOKENS);
    again.token = token;
    run_job(&again);
    CHECK_STATUS(again.status, SECLLAMA_STATUS_OK);
    CHECK(again.done.reason == SECLLAMA_STOP_REASON_CANCELLED);
    CHECK(again.done.metrics.eval_count < LONG_TOKENS);
    CHECK_STATUS(secllama_request_token_free(token), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_request_token_cancel(NULL), SECLLAMA_STATUS_NULL_PARAMETER);
    CHECK_STATUS(secllama_request_token_new(NULL), SECLLAMA_STATUS_NULL_PARAMETER);
    secllama_request_token_free(NULL);
}

/* One request's deadline among others: it ends with TIMEOUT; if the runner stopped it within
 * the grace (CANCELLED, the usual case) the other request's text is intact. */
static void test_deadline_of_one(secllama_runner *runner, char alone[4][4096]) {
    static struct job jobs[2];
    pthread_t threads[2];
    job_init(&jobs[0], runner, LONG_PROMPT, LONG_TOKENS);
    jobs[0].timeout_ms = 1500;
    job_init(&jobs[1], runner, PROMPTS[1], SHORT_TOKENS);
    pthread_create(&threads[0], NULL, run_job, &jobs[0]);
    CHECK(first_piece_within(&jobs[0], 300));
    pthread_create(&threads[1], NULL, run_job, &jobs[1]);
    for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
    CHECK_STATUS(jobs[0].status, SECLLAMA_STATUS_RUNNER_TIMEOUT);
    if (jobs[0].done.reason == SECLLAMA_STOP_REASON_CANCELLED) {
        CHECK_STATUS(jobs[1].status, SECLLAMA_STATUS_OK);
        CHECK(strcmp(jobs[1].text, alone[1]) == 0);
    } else {
        /* Not stopped within the grace: the runner was killed, for every request on it. */
        CHECK(jobs[0].done.reason == SECLLAMA_STOP_REASON_NONE);
        fprintf(stderr, "note: the runner did not stop within the grace (loaded machine)\n");
    }
}

/* More requests than slots (six on four): the two past the slots queue, none gets BUSY, and
 * each gives exactly its alone text. */
static void test_more_requests_than_slots(secllama_runner *runner, char alone[4][4096]) {
    enum { N = 6 };
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N);
    static struct job jobs[N];
    pthread_t threads[N];
    for (int i = 0; i < N; i++) {
        job_init(&jobs[i], runner, PROMPTS[i % 4], SHORT_TOKENS);
        jobs[i].start = &start;
        pthread_create(&threads[i], NULL, run_job, &jobs[i]);
    }
    for (int i = 0; i < N; i++) pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < N; i++) {
        CHECK_STATUS(jobs[i].status, SECLLAMA_STATUS_OK);
        CHECK(strcmp(jobs[i].text, alone[i % 4]) == 0);
        if (strcmp(jobs[i].text, alone[i % 4]) != 0)
            fprintf(stderr, "  %d: %s\n  alone: %s\n", i, jobs[i].text, alone[i % 4]);
    }
}

/* Embeddings, the tokenizer and the context length, each limit with its exact status and the
 * out-parameters reset on every error. Runs while a long generation is in flight on another
 * thread (model calls do not wait for it to end), which is cancelled afterwards. */
static void test_model_calls(secllama_runner *runner) {
    secllama_request_token *token = NULL;
    CHECK_STATUS(secllama_request_token_new(&token), SECLLAMA_STATUS_OK);
    static struct job long_job;
    pthread_t thread;
    job_init(&long_job, runner, LONG_PROMPT, LONG_TOKENS);
    long_job.token = token;
    pthread_create(&thread, NULL, run_job, &long_job);
    CHECK(first_piece_within(&long_job, 300));

    uint32_t n_ctx = 7;
    CHECK_STATUS(secllama_runner_context_length(runner, &n_ctx), SECLLAMA_STATUS_OK);
    CHECK(n_ctx == 1024);
    CHECK_STATUS(secllama_runner_context_length(NULL, &n_ctx), SECLLAMA_STATUS_NULL_PARAMETER);
    CHECK(n_ctx == 0);
    CHECK_STATUS(secllama_runner_context_length(runner, NULL), SECLLAMA_STATUS_NULL_PARAMETER);

    const char *texts[3] = {"a cat sat on the mat", "a dog ran in the park", "Paris is the capital of France"};
    secllama_embeddings e = {0};
    CHECK_STATUS(secllama_runner_embed(runner, texts, 3, true, &e), SECLLAMA_STATUS_OK);
    CHECK(e.count == 3 && e.dimensions == 576 && e.data != NULL);
    for (size_t v = 0; e.data && v < e.count; v++) {
        double norm = 0;
        for (size_t k = 0; k < e.dimensions; k++) norm += (double)e.data[v * e.dimensions + k] * e.data[v * e.dimensions + k];
        CHECK(fabs(sqrt(norm) - 1.0) < 1e-3);
    }
    secllama_embeddings_free(&e);
    CHECK(e.data == NULL && e.count == 0 && e.dimensions == 0);
    secllama_embeddings_free(&e); /* twice is harmless */
    secllama_embeddings_free(NULL);

    /* Limits: no text, too many, an empty one, together over 2 MiB; NULLs; invalid UTF-8. */
    static const char *many[SECLLAMA_MAX_EMBED_INPUTS + 1];
    for (int i = 0; i <= SECLLAMA_MAX_EMBED_INPUTS; i++) many[i] = "x";
    e.count = 9;
    CHECK_STATUS(secllama_runner_embed(runner, texts, 0, true, &e), SECLLAMA_STATUS_RUNNER_INVALID_REQUEST);
    CHECK(e.data == NULL && e.count == 0 && e.dimensions == 0);
    CHECK_STATUS(secllama_runner_embed(runner, many, SECLLAMA_MAX_EMBED_INPUTS + 1, true, &e),
                 SECLLAMA_STATUS_RUNNER_INVALID_REQUEST);
    const char *empty[1] = {""};
    CHECK_STATUS(secllama_runner_embed(runner, empty, 1, true, &e), SECLLAMA_STATUS_RUNNER_INVALID_REQUEST);
    size_t big_len = 1100 * 1024;
    char *big = malloc(big_len + 1);
    CHECK(big != NULL);
    if (big) {
        memset(big, 'a', big_len);
        big[big_len] = '\0';
        const char *two_big[2] = {big, big};
        CHECK_STATUS(secllama_runner_embed(runner, two_big, 2, true, &e), SECLLAMA_STATUS_RUNNER_INVALID_REQUEST);
        CHECK(e.data == NULL);
    }
    CHECK_STATUS(secllama_runner_embed(runner, NULL, 1, true, &e), SECLLAMA_STATUS_NULL_PARAMETER);
    const char *with_null[2] = {"fine", NULL};
    CHECK_STATUS(secllama_runner_embed(runner, with_null, 2, true, &e), SECLLAMA_STATUS_NULL_PARAMETER);
    const char *bad_utf8[1] = {"\xff\xfe"};
    CHECK_STATUS(secllama_runner_embed(runner, bad_utf8, 1, true, &e), SECLLAMA_STATUS_INVALID_UTF8);
    CHECK_STATUS(secllama_runner_embed(NULL, texts, 1, true, &e), SECLLAMA_STATUS_NULL_PARAMETER);
    CHECK_STATUS(secllama_runner_embed(runner, texts, 1, true, NULL), SECLLAMA_STATUS_NULL_PARAMETER);

    /* Tokenize / detokenize: non-ASCII text round trips byte for byte. */
    const char *text = "Gr\xc3\xbc\xc3\x9f" "e aus Z\xc3\xbcrich \xe2\x80\x94 \xe6\x9d\xb1\xe4\xba\xac \xe2\x98\x95";
    secllama_tokens t = {0};
    CHECK_STATUS(secllama_runner_tokenize(runner, text, false, false, &t), SECLLAMA_STATUS_OK);
    CHECK(t.len > 0 && t.ptr != NULL);
    secllama_buf back = {0};
    CHECK_STATUS(secllama_runner_detokenize(runner, t.ptr, t.len, &back), SECLLAMA_STATUS_OK);
    CHECK(back.len == strlen(text) && memcmp(back.ptr, text, back.len) == 0);
    secllama_buf_free(&back);
    secllama_tokens_free(&t);
    CHECK(t.ptr == NULL && t.len == 0);
    secllama_tokens_free(&t);
    secllama_tokens_free(NULL);
    /* Special tokens: "<|im_start|>" is one token only with parse_special. */
    CHECK_STATUS(secllama_runner_tokenize(runner, "<|im_start|>", false, true, &t), SECLLAMA_STATUS_OK);
    CHECK(t.len == 1);
    secllama_tokens_free(&t);
    CHECK_STATUS(secllama_runner_tokenize(runner, "<|im_start|>", false, false, &t), SECLLAMA_STATUS_OK);
    CHECK(t.len > 1);
    secllama_tokens_free(&t);

    if (big) {
        big[SECLLAMA_MAX_TOKENIZE_BYTES + 1] = '\0';
        t.len = 9;
        CHECK_STATUS(secllama_runner_tokenize(runner, big, false, false, &t), SECLLAMA_STATUS_RUNNER_INVALID_REQUEST);
        CHECK(t.ptr == NULL && t.len == 0);
        free(big);
    }
    CHECK_STATUS(secllama_runner_tokenize(runner, "\xff", false, false, &t), SECLLAMA_STATUS_INVALID_UTF8);
    CHECK_STATUS(secllama_runner_tokenize(runner, NULL, false, false, &t), SECLLAMA_STATUS_NULL_PARAMETER);
    static int32_t zeros[SECLLAMA_MAX_DETOKENIZE_TOKENS + 1];
    back.len = 9;
    CHECK_STATUS(secllama_runner_detokenize(runner, zeros, SECLLAMA_MAX_DETOKENIZE_TOKENS + 1, &back),
                 SECLLAMA_STATUS_RUNNER_INVALID_REQUEST);
    CHECK(back.ptr == NULL && back.len == 0);
    int32_t outside[1] = {-1};
    CHECK_STATUS(secllama_runner_detokenize(runner, outside, 1, &back), SECLLAMA_STATUS_RUNNER_INVALID_REQUEST);
    CHECK_STATUS(secllama_runner_detokenize(runner, NULL, 1, &back), SECLLAMA_STATUS_NULL_PARAMETER);
    CHECK_STATUS(secllama_runner_detokenize(runner, NULL, 0, &back), SECLLAMA_STATUS_OK);
    CHECK(back.len == 0);
    secllama_buf_free(&back);

    /* The long generation went on meanwhile; cancel it. */
    CHECK_STATUS(secllama_request_token_cancel(token), SECLLAMA_STATUS_OK);
    pthread_join(thread, NULL);
    CHECK_STATUS(long_job.status, SECLLAMA_STATUS_OK);
    CHECK(long_job.done.reason == SECLLAMA_STOP_REASON_CANCELLED);
    CHECK_STATUS(secllama_request_token_free(token), SECLLAMA_STATUS_OK);
}

/* A queued request's token cancels it before it gets a slot: four long requests hold the four
 * slots, a fifth waits; cancelling its token ends it with no piece while the four go on. */
static void test_cancel_a_queued_request(secllama_runner *runner) {
    static struct job jobs[5];
    pthread_t threads[5];
    for (int i = 0; i < 4; i++) {
        job_init(&jobs[i], runner, LONG_PROMPT, LONG_TOKENS);
        pthread_create(&threads[i], NULL, run_job, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) CHECK(first_piece_within(&jobs[i], 300));
    secllama_request_token *token = NULL;
    CHECK_STATUS(secllama_request_token_new(&token), SECLLAMA_STATUS_OK);
    job_init(&jobs[4], runner, PROMPTS[1], SHORT_TOKENS);
    jobs[4].token = token;
    pthread_create(&threads[4], NULL, run_job, &jobs[4]);
    /* Sent or about to be: either way it can only wait, the four slots are taken. */
    struct timespec moment = {0, 200 * 1000 * 1000};
    nanosleep(&moment, NULL);
    CHECK_STATUS(secllama_request_token_cancel(token), SECLLAMA_STATUS_OK);
    pthread_join(threads[4], NULL);
    int still_running = 0;
    for (int i = 0; i < 4; i++) still_running += !atomic_load(&jobs[i].returned);
    CHECK_STATUS(jobs[4].status, SECLLAMA_STATUS_OK);
    CHECK(jobs[4].done.reason == SECLLAMA_STOP_REASON_CANCELLED);
    if (still_running == 4) {
        /* It never had a slot: not one piece. */
        CHECK(atomic_load(&jobs[4].pieces) == 0);
        CHECK(jobs[4].done.metrics.eval_count == 0);
    } else {
        fprintf(stderr, "note: %d of the four long requests ended before the queued one was cancelled\n",
                4 - still_running);
    }
    CHECK_STATUS(secllama_request_token_free(token), SECLLAMA_STATUS_OK);
    secllama_cancel_handle *cancel = NULL;
    CHECK_STATUS(secllama_runner_cancel_handle(runner, &cancel), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_cancel_handle_cancel(cancel), SECLLAMA_STATUS_OK);
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        CHECK_STATUS(jobs[i].status, SECLLAMA_STATUS_OK);
        CHECK(jobs[i].done.reason == SECLLAMA_STOP_REASON_CANCELLED);
    }
    CHECK_STATUS(secllama_cancel_handle_free(cancel), SECLLAMA_STATUS_OK);
}

/* The wait for a slot is bounded: with the four slots held and 64 requests waiting, each further
 * request is refused at once with RUNNER_INVALID_REQUEST (never BUSY, never a hang). The waiting
 * ones are then cancelled through their tokens before any slot frees (none gets a piece), then
 * the four. */
static void test_queue_limit(secllama_runner *runner) {
    enum { QUEUED = 64, EXTRA = 3, N = 4 + QUEUED + EXTRA };
    static struct job jobs[N];
    static pthread_t threads[N];
    static secllama_request_token *tokens[N];
    for (int i = 0; i < 4; i++) {
        job_init(&jobs[i], runner, LONG_PROMPT, LONG_TOKENS);
        pthread_create(&threads[i], NULL, run_job, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) CHECK(first_piece_within(&jobs[i], 300));
    for (int i = 4; i < N; i++) {
        job_init(&jobs[i], runner, PROMPTS[i % 4], SHORT_TOKENS);
        CHECK_STATUS(secllama_request_token_new(&tokens[i]), SECLLAMA_STATUS_OK);
        jobs[i].token = tokens[i];
        pthread_create(&threads[i], NULL, run_job, &jobs[i]);
    }
    /* Wait (bounded) until the refused ones returned, or one of the four ended (a slot freed:
     * then the queue moved and the counts below are not the limit's). */
    struct timespec tick = {0, 20 * 1000 * 1000};
    int refused = 0, long_ended = 0;
    for (int waited = 0; waited < 300 * 50; waited++) {
        refused = 0;
        long_ended = 0;
        for (int i = 4; i < N; i++) refused += atomic_load(&jobs[i].returned);
        for (int i = 0; i < 4; i++) long_ended += atomic_load(&jobs[i].returned);
        if (refused >= EXTRA || long_ended) break;
        nanosleep(&tick, NULL);
    }
    for (int i = 4; i < N; i++) CHECK_STATUS(secllama_request_token_cancel(tokens[i]), SECLLAMA_STATUS_OK);
    for (int i = 4; i < N; i++) pthread_join(threads[i], NULL);
    for (int i = 0; i < 4; i++) long_ended += atomic_load(&jobs[i].returned);
    secllama_cancel_handle *cancel = NULL;
    CHECK_STATUS(secllama_runner_cancel_handle(runner, &cancel), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_cancel_handle_cancel(cancel), SECLLAMA_STATUS_OK);
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        CHECK_STATUS(jobs[i].status, SECLLAMA_STATUS_OK);
    }
    CHECK_STATUS(secllama_cancel_handle_free(cancel), SECLLAMA_STATUS_OK);
    for (int i = 4; i < N; i++) CHECK_STATUS(secllama_request_token_free(tokens[i]), SECLLAMA_STATUS_OK);
    if (long_ended) {
        fprintf(stderr, "note: a long request ended before the waiting ones were cancelled; limit not checked\n");
        return;
    }
    int invalid = 0, cancelled = 0;
    for (int i = 4; i < N; i++) {
        if (jobs[i].status == SECLLAMA_STATUS_RUNNER_INVALID_REQUEST) invalid++;
        else if (jobs[i].status == SECLLAMA_STATUS_OK && jobs[i].done.reason == SECLLAMA_STOP_REASON_CANCELLED &&
                 atomic_load(&jobs[i].pieces) == 0)
            cancelled++;
        else
            fprintf(stderr, "  waiting request %d: status %u, reason %d, %d pieces\n", i, jobs[i].status,
                    (int)jobs[i].done.reason, atomic_load(&jobs[i].pieces));
    }
    CHECK(invalid == EXTRA);
    CHECK(cancelled == QUEUED);
    if (invalid != EXTRA || cancelled != QUEUED) fprintf(stderr, "  refused %d, cancelled waiting %d\n", invalid, cancelled);
    for (int i = 0; i < 4; i++) CHECK(jobs[i].done.reason == SECLLAMA_STOP_REASON_CANCELLED);
}

/* Closing with requests in flight: free is refused (BUSY, nothing freed), the cancel handle
 * stops them all, then free succeeds. */
static void test_close_while_in_flight(secllama_runner *runner) {
    static struct job jobs[2];
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) {
        job_init(&jobs[i], runner, LONG_PROMPT, LONG_TOKENS);
        pthread_create(&threads[i], NULL, run_job, &jobs[i]);
    }
    CHECK(first_piece_within(&jobs[0], 300));
    CHECK(first_piece_within(&jobs[1], 300));
    CHECK_STATUS(secllama_runner_free(runner), SECLLAMA_STATUS_BUSY);
    secllama_cancel_handle *cancel = NULL;
    CHECK_STATUS(secllama_runner_cancel_handle(runner, &cancel), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_cancel_handle_cancel(cancel), SECLLAMA_STATUS_OK);
    for (int i = 0; i < 2; i++) {
        pthread_join(threads[i], NULL);
        CHECK_STATUS(jobs[i].status, SECLLAMA_STATUS_OK);
        CHECK(jobs[i].done.reason == SECLLAMA_STOP_REASON_CANCELLED);
    }
    CHECK_STATUS(secllama_runner_free(runner), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_cancel_handle_free(cancel), SECLLAMA_STATUS_OK);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    secllama_runner_config *cfg = NULL;
    secllama_runner *runner = NULL;
    CHECK_STATUS(secllama_runner_config_default_model(&cfg), SECLLAMA_STATUS_OK);
    /* One thread: on a loaded machine ggml's thread barriers spin against the other work. */
    CHECK_STATUS(secllama_runner_config_set_threads(cfg, 1), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_runner_config_set_context_length(cfg, 1024), SECLLAMA_STATUS_OK);
    CHECK_STATUS(secllama_runner_spawn(cfg, NULL, NULL, &runner), SECLLAMA_STATUS_OK);
    secllama_runner_config_free(cfg);
    if (runner) {
        static char alone[4][4096];
        alone_texts(runner, alone);
        test_interleaved(runner, alone);
        test_more_requests_than_slots(runner, alone);
        test_model_calls(runner);
        test_cancel_one_of_several(runner, alone);
        test_deadline_of_one(runner, alone);
        test_cancel_a_queued_request(runner);
        test_queue_limit(runner);
        test_close_while_in_flight(runner);
    }
    printf("%s concurrent\n%d checks, %d failed\n", failures ? "FAIL" : "ok  ", checks, failures);
    return failures ? 1 : 0;
}
