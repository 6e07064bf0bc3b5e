/* Minimal unit-test helpers: CHECK* print file:line and both values on
 * failure, count the failure and carry on; a test program ends with
 * `return TEST_RESULT();` so ctest sees a non-zero exit on any failure. */
#ifndef DOCSYNC_TEST_H
#define DOCSYNC_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int test_failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__,  \
                    #cond);                                                    \
            test_failures++;                                                   \
        }                                                                      \
    } while (0)

#define CHECK_EQ(a, b)                                                         \
    do {                                                                       \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);        \
        if (check_a_ != check_b_) {                                            \
            fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed: %lld != %lld\n",  \
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_);           \
            test_failures++;                                                   \
        }                                                                      \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                     \
    do {                                                                       \
        const char *check_a_ = (a), *check_b_ = (b);                           \
        if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {      \
            fprintf(stderr,                                                    \
                    "%s:%d: CHECK_STR_EQ(%s, %s) failed:\n  \"%s\"\n  \"%s\"\n", \
                    __FILE__, __LINE__, #a, #b, check_a_ ? check_a_ : "(null)", \
                    check_b_ ? check_b_ : "(null)");                           \
            test_failures++;                                                   \
        }                                                                      \
    } while (0)

#define CHECK_MEM_EQ(a, b, n)                                                  \
    do {                                                                       \
        if (memcmp((a), (b), (n)) != 0) {                                      \
            fprintf(stderr, "%s:%d: CHECK_MEM_EQ(%s, %s, %s) failed\n",        \
                    __FILE__, __LINE__, #a, #b, #n);                           \
            test_failures++;                                                   \
        }                                                                      \
    } while (0)

#define TEST_RESULT()                                                          \
    (test_failures ? (fprintf(stderr, "%d check(s) failed\n", test_failures), 1) \
                   : 0)

#endif
