// Minimal check helpers for C tests: print "ok - name" / "not ok - name: why".
#ifndef TEST_CHECK_H
#define TEST_CHECK_H
#include <stdio.h>

static int check_failures = 0;

#define CHECK(cond, name, ...)                                   \
    do {                                                         \
        if (cond) {                                              \
            printf("ok - %s\n", name);                           \
        } else {                                                 \
            printf("not ok - %s: ", name);                       \
            printf(__VA_ARGS__);                                 \
            printf("\n");                                        \
            check_failures++;                                    \
        }                                                        \
        fflush(stdout);                                          \
    } while (0)

#define CHECK_EXIT() return check_failures ? 1 : 0
#endif
