#include "common/run_log.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/atomic_file.h"
#include "common/error.h"

// Step number of a log line ("step":N), or -1 if it has none.
static long line_step(const char *line) {
    const char *s = strstr(line, "\"step\":");
    return s ? strtol(s + 7, NULL, 10) : -1;
}

// The run's history (starts, resumes, stops) stays in the log on resume;
// records that the resumed run will write again do not.
static int is_lifecycle_event(const char *line) {
    static const char *keep[] = {"\"event\":\"start\"", "\"event\":\"resume\"", "\"event\":\"stopped\""};
    if (!strstr(line, "\"type\":\"event\"")) return 0;
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        if (strstr(line, keep[i])) return 1;
    return 0;
}

static void truncate_log(const char *path, int resume_step, int branch) {
    FILE *in = fopen(path, "rb");
    if (!in) return;  // no log yet
    AtomicFile out;
    atomic_open(&out, path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) > 0) {
        if (line[n - 1] != '\n') break;  // a partial last line from a crash
        long step = line_step(line);
        // the checkpoint being resumed from was logged at its own step
        int resumed_checkpoint = step == resume_step && strstr(line, "\"event\":\"checkpoint\"");
        // on a branch, starts and stops after the branch point belong to the history set aside
        int lifecycle = is_lifecycle_event(line) && (!branch || step <= resume_step);
        if (step < resume_step || resumed_checkpoint || lifecycle) atomic_write(&out, line, 1, (size_t)n);
    }
    free(line);
    fclose(in);
    atomic_commit(&out);
}

void run_log_open(RunLog *log, const char *dir, int resume_step, int branch) {
    snprintf(log->path, sizeof log->path, "%s/log.jsonl", dir);
    if (resume_step >= 0) truncate_log(log->path, resume_step, branch);
    log->f = fopen(log->path, resume_step >= 0 ? "ab" : "wb");
    if (!log->f) fail("%s: cannot open for writing (%s)", log->path, strerror(errno));
}

void run_log_write(RunLog *log, const char *fmt, ...) {
    if (!log->f) return;  // not the log-writing rank
    va_list ap;
    fputc('{', log->f);
    va_start(ap, fmt);
    vfprintf(log->f, fmt, ap);
    va_end(ap);
    fputs("}\n", log->f);
    if (fflush(log->f) != 0 || ferror(log->f))
        fail("%s: write failed (%s)", log->path, strerror(errno));
}

void run_log_close(RunLog *log) {
    if (log->f) xfclose(log->f, log->path);
    log->f = NULL;
}

void json_number(char *buf, size_t cap, double x) {
    if (isfinite(x)) snprintf(buf, cap, "%.9g", x);
    else snprintf(buf, cap, "null");
}

// Length of the valid UTF-8 sequence starting at p, or 0 if it is invalid.
static size_t utf8_len(const unsigned char *p) {
    size_t n = p[0] < 0x80 ? 1 : (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3
             : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return n;
}

void json_escape(char *buf, size_t cap, const char *s) {
    size_t j = 0;
    if (cap < 3) return;
    buf[j++] = '"';
    const unsigned char *p = (const unsigned char *)s;
    while (*p && j + 8 < cap) {
        size_t n = utf8_len(p);
        if (n == 0) {  // invalid byte (e.g. a token cut inside a character): U+FFFD
            j += (size_t)snprintf(buf + j, cap - j, "\\ufffd");
            p++;
        } else if (n > 1) {
            for (size_t i = 0; i < n; i++) buf[j++] = (char)p[i];
            p += n;
        } else if (*p == '"' || *p == '\\') {
            buf[j++] = '\\';
            buf[j++] = (char)*p++;
        } else if (*p == '\n') {
            buf[j++] = '\\';
            buf[j++] = 'n';
            p++;
        } else if (*p < 0x20) {
            j += (size_t)snprintf(buf + j, cap - j, "\\u%04x", *p++);
        } else {
            buf[j++] = (char)*p++;
        }
    }
    buf[j++] = '"';
    buf[j] = '\0';
}
