// One-line fatal errors and checked wrappers around libc calls.
// Every failure path in the project ends in fail(): it prints
// "error: <message>" on one line to stderr and exits with status 1.
#ifndef COMMON_ERROR_H
#define COMMON_ERROR_H

#include <stddef.h>
#include <stdio.h>

#if defined(__GNUC__)
#define NORETURN __attribute__((noreturn))
#define PRINTF_LIKE(a, b) __attribute__((format(printf, a, b)))
#else
#define NORETURN
#define PRINTF_LIKE(a, b)
#endif

// Exit status used for every user-facing error (bad config, bad file, ...).
#define EXIT_USER_ERROR 1

void fail(const char *fmt, ...) NORETURN PRINTF_LIKE(1, 2);

// For the fuzz harnesses only: when set, fail() prints its line and
// longjmps here instead of exiting, so one process can try many inputs.
#include <setjmp.h>
extern jmp_buf *fail_jump;

// Set by the communication layer in a job of several ranks: a prefix that
// names the rank ("rank 1 of 4: ") and a hook run after the message is
// printed (MPI_Abort), so that one failing rank stops the whole job
// instead of leaving the others waiting in a collective.
extern char fail_prefix[32];
extern void (*fail_hook)(void);
// Milliseconds fail() waits before printing (ranks > 0 of a job): an error
// that every rank meets (a bad config) is then reported once, by rank 0,
// whose abort ends the others first; an error of this rank alone still
// prints after the wait.
extern int fail_defer_ms;
// While fail_hook runs: the line fail() printed ("error: ...\n").
extern const char *fail_line;

void *xmalloc(size_t size, const char *what);
void *xcalloc(size_t count, size_t size, const char *what);
FILE *xfopen(const char *path, const char *mode);
// Reads exactly count items or fails naming the file.
void xfread(void *dst, size_t size, size_t count, FILE *f, const char *path);
void xfwrite(const void *src, size_t size, size_t count, FILE *f, const char *path);
void xfclose(FILE *f, const char *path);
// Size of an open file in bytes (fails naming the path if it cannot be found).
long long xfilesize(FILE *f, const char *path);

#endif
