// SIGINT and SIGTERM (what a user's Ctrl-C and Slurm send): the first one
// asks the trainer to finish the current step, write a checkpoint and exit
// 0; a second one exits at once (status 128 + signal).
#ifndef COMMON_SIGNALS_H
#define COMMON_SIGNALS_H

void signals_install(void);
// The signal that asked to stop, or 0.
int signals_stop_requested(void);
const char *signals_name(int sig);

// A file-size limit (ulimit -f) kills a process by SIGXFSZ by default,
// silently and mid-write; ignored, the write fails with EFBIG instead and
// the trainer says which file in one line.
void signals_ignore_file_size_limit(void);

#endif
