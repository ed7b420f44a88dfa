// Minimal check helpers for C tests: print "ok - name" / "not ok - name: why".
#ifndef TEST_CHECK_H
#define TEST_CHECK_H
#include <stdio.h>

static int check_failures __attribute__((unused)) = 0;

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

// Runs fn(arg) in a forked child and captures its stderr into err (NUL-
// terminated). Returns the child's exit status, or 128+signal if it was
// killed by a signal (a crash is never mistaken for a clean error exit).
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static inline int run_in_child(void (*fn)(void *), void *arg, char *err, size_t cap) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        if (!freopen("/dev/null", "w", stdout)) _exit(99);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(fds[0], err + len, cap - 1 - len)) > 0) len += (size_t)r;
    err[len] = '\0';
    char sink[256];
    while (read(fds[0], sink, sizeof sink) > 0) {
    }
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

// Whether s is exactly one line starting with "error: " and containing needle.
static inline int is_one_line_error(const char *s, const char *needle) {
    size_t n = strlen(s);
    if (strncmp(s, "error: ", 7) != 0 || n == 0 || s[n - 1] != '\n') return 0;
    if (memchr(s, '\n', n - 1) != NULL) return 0;
    return needle == NULL || strstr(s, needle) != NULL;
}
#endif
