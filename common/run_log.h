// The run's log: <output.dir>/log.jsonl, one JSON object per line, flushed
// after every record so that a crash loses nothing already reported.
// Record types: "train", "val", "sample", "event" (start, resume, branch,
// checkpoint, stopped, done, ...).
#ifndef COMMON_RUN_LOG_H
#define COMMON_RUN_LOG_H

#include <stdio.h>

typedef struct {
    FILE *f;
    char path[4096];
} RunLog;

// Opens <dir>/log.jsonl. When resume_step >= 0 the existing log is first
// cut back to the records of steps before resume_step (a crashed run may
// have logged steps after its last checkpoint; they will be run again).
// Starts, resumes and stops stay as the run's history; on a branch (branch
// = 1) only those up to resume_step do.
void run_log_open(RunLog *log, const char *dir, int resume_step, int branch);
// Writes one record: a JSON object body without braces, e.g.
// "\"type\":\"val\",\"step\":3,\"val_loss\":4.5". A RunLog that was
// zeroed instead of opened (the ranks other than 0) writes nothing.
void run_log_write(RunLog *log, const char *fmt, ...);
void run_log_close(RunLog *log);
// A number for JSON: "%.9g", or null when it is NaN or infinite (JSON has
// no such numbers).
void json_number(char *buf, size_t cap, double x);
// Writes s as a JSON string literal (with quotes and escapes) into buf.
void json_escape(char *buf, size_t cap, const char *s);

#endif
