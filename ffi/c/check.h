/* The checks the C tests share: CHECK(cond) counts a check and reports a false one with its
 * file and line; CHECK_STATUS(expr, expected) asserts an exact status and, on a mismatch,
 * prints both statuses by name and the library's last error. Each test program is one
 * translation unit, so the counters are per program; main reports them and exits non-zero on
 * any failure.
 */
#ifndef SECLLAMA_TEST_CHECK_H
#define SECLLAMA_TEST_CHECK_H

#include <stdio.h>

#include "secllama.h"

static int failures;
static int checks;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        checks++;                                                                            \
        if (!(cond)) {                                                                       \
            failures++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);         \
        }                                                                                    \
    } while (0)

#define CHECK_STATUS(expr, expected) check_status((expr), (expected), #expr, __FILE__, __LINE__)

static inline const char *name_of(secllama_status s) {
    const char *name = NULL;
    if (secllama_status_name(s, &name) != SECLLAMA_STATUS_OK) return "(not a status)";
    return name;
}

/* The library's last error on this thread, or its size if `buf` is too small for it. */
static inline void last_error(char *buf, size_t len) {
    size_t n = 0;
    if (secllama_last_error(buf, len, &n) != SECLLAMA_STATUS_OK) snprintf(buf, len, "(%zu bytes)", n);
}

static inline int check_status(secllama_status got, secllama_status expected, const char *expr,
                               const char *file, int line) {
    checks++;
    if (got == expected) return 1;
    failures++;
    char msg[512];
    last_error(msg, sizeof msg);
    fprintf(stderr, "%s:%d: %s\n  returned %s (%u), expected %s (%u)\n  last error: %s\n", file, line,
            expr, name_of(got), got, name_of(expected), expected, msg);
    return 0;
}

#endif
