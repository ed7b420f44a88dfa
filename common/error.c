#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

jmp_buf *fail_jump = NULL;
char fail_prefix[32] = "";
void (*fail_hook)(void) = NULL;
int fail_defer_ms = 0;
const char *fail_line = NULL;

void fail(const char *fmt, ...) {
    // One write of the whole line: ranks of a job that fail together do not
    // interleave their messages.
    char line[4096];
    int n = snprintf(line, sizeof line, "error: %s", fail_prefix);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && n < (int)sizeof line) n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    fflush(stdout);
    if (fail_jump) {
        fwrite(line, 1, (size_t)n, stderr);
        longjmp(*fail_jump, 1);
    }
    if (fail_defer_ms > 0) {  // give rank 0, failing on the same input, time to speak for the job
        struct timespec ts = {fail_defer_ms / 1000, (long)(fail_defer_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    for (ssize_t done = 0, w; done < n; done += w)
        if ((w = write(2, line + done, (size_t)(n - done))) <= 0) break;
    fail_line = line;  // for the hook (the NCCL back end hands it to the other ranks)
    if (fail_hook) fail_hook();
    exit(EXIT_USER_ERROR);
}

void *xmalloc(size_t size, const char *what) {
    void *p = malloc(size ? size : 1);
    if (!p) fail("out of memory allocating %zu bytes for %s", size, what);
    return p;
}

void *xcalloc(size_t count, size_t size, const char *what) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) fail("out of memory allocating %zu x %zu bytes for %s", count, size, what);
    return p;
}

FILE *xfopen(const char *path, const char *mode) {
    FILE *f = fopen(path, mode);
    if (!f) fail("%s: cannot open (%s)", path, strerror(errno));
    return f;
}

void xfread(void *dst, size_t size, size_t count, FILE *f, const char *path) {
    size_t got = fread(dst, size, count, f);
    if (got != count) {
        if (ferror(f)) fail("%s: read error (%s)", path, strerror(errno));
        fail("%s: file is truncated (expected %zu more bytes)", path, (count - got) * size);
    }
}

void xfwrite(const void *src, size_t size, size_t count, FILE *f, const char *path) {
    if (fwrite(src, size, count, f) != count) fail("%s: write error (%s)", path, strerror(errno));
}

void xfclose(FILE *f, const char *path) {
    if (fclose(f) != 0) fail("%s: error closing file (%s)", path, strerror(errno));
}

long long xfilesize(FILE *f, const char *path) {
    long here = ftell(f);
    if (here < 0 || fseek(f, 0, SEEK_END) != 0) fail("%s: cannot seek (%s)", path, strerror(errno));
    long end = ftell(f);
    if (end < 0 || fseek(f, here, SEEK_SET) != 0) fail("%s: cannot seek (%s)", path, strerror(errno));
    return (long long)end;
}
