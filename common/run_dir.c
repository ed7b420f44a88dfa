#include "common/run_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/checkpoint.h"
#include "common/error.h"

static int lock_fd = -1;  // held open (and locked) until the process ends

void run_dir_lock(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fail("%s: cannot create the run directory's lock file (%s)", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        if (err == EWOULDBLOCK) {
            char holder[128] = "";
            ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
            holder[n > 0 ? n : 0] = '\0';
            holder[strcspn(holder, "\r\n")] = '\0';
            close(fd);
            fail("output.dir %s is in use by another training process (%s, holding %s); wait for it to end or "
                 "choose another output.dir",
                 dir, holder[0] ? holder : "pid unknown", path);
        }
        // some network file systems have no locks: say so once and go on
        fprintf(stderr, "warning: %s: cannot lock (%s); make sure no other run uses %s\n", path, strerror(err), dir);
    }
    char me[128], host[64] = "";
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "?");
    host[sizeof host - 1] = '\0';
    int len = snprintf(me, sizeof me, "pid %ld on %s\n", (long)getpid(), host);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, me, (size_t)len, 0) != len)
        fprintf(stderr, "warning: %s: cannot record this process in the lock file (%s)\n", path, strerror(errno));
    lock_fd = fd;
}

// Step of a checkpoint file's name (model_S.bin, state_S.bin, state_S.rankR.bin), or -1.
static long checkpoint_file_step(const char *name) {
    long step;
    int rank, end = 0;
    if (sscanf(name, "model_%8ld.bin%n", &step, &end) == 1 && end == (int)strlen(name) && end == 18) return step;
    end = 0;
    if (sscanf(name, "state_%8ld.bin%n", &step, &end) == 1 && end == (int)strlen(name) && end == 18) return step;
    end = 0;
    if (sscanf(name, "state_%8ld.rank%3d.bin%n", &step, &rank, &end) == 2 && end == (int)strlen(name)) return step;
    return -1;
}

// Whether dir/log.jsonl was written by this trainer: its first record is a run's start.
static int log_is_ours(const char *dir) {
    char path[4200], line[64] = "";
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    static const char start[] = "{\"type\":\"event\",\"event\":\"start\"";
    return strncmp(line, start, sizeof start - 1) == 0;
}

static void add_name(RunDirLeftovers *l, const char *name) {
    if (l->count < (int)(sizeof l->names / sizeof l->names[0]))
        snprintf(l->names[l->count++], sizeof l->names[0], "%s", name);
}

void run_dir_check_fresh(const char *dir, RunDirLeftovers *out) {
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) fail("%s: cannot read the run directory (%s)", dir, strerror(errno));
    int ours = log_is_ours(dir), has_log = 0, has_config = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, "log.jsonl") == 0) has_log = 1;
        else if (strcmp(e->d_name, "config.json") == 0) has_config = 1;
        else if (checkpoint_file_step(e->d_name) >= 0) add_name(out, e->d_name);  // pieces of a first checkpoint
    }
    closedir(d);
    if ((has_log || has_config) && !ours) {
        const char *which = has_log && has_config ? "config.json and log.jsonl" : has_log ? "log.jsonl" : "config.json";
        fail("output.dir %s holds %s that this trainer did not write (no checkpoint of a run goes with %s); "
             "move %s away or choose another output.dir",
             dir, which, has_log && has_config ? "them" : "it", has_log && has_config ? "them" : "it");
    }
    if (has_config) add_name(out, "config.json");
    if (has_log) add_name(out, "log.jsonl");
}

// Creates dir/base, or dir/base.2, .3, ... if taken; returns the name used.
static const char *make_free_folder(const char *dir, const char *base) {
    static char name[512];
    for (int i = 1; i < 10000; i++) {
        if (i == 1) snprintf(name, sizeof name, "%s", base);
        else snprintf(name, sizeof name, "%s.%d", base, i);
        char path[4800];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (mkdir(path, 0755) == 0) return name;
        if (errno != EEXIST) fail("%s: cannot create directory (%s)", path, strerror(errno));
    }
    fail("%s: no free name for %s", dir, base);
}

static void move_into(const char *dir, const char *folder, const char *name) {
    char from[4400], to[4800];
    snprintf(from, sizeof from, "%s/%s", dir, name);
    snprintf(to, sizeof to, "%s/%s/%s", dir, folder, name);
    if (rename(from, to) != 0) fail("%s: cannot move it to %s (%s)", from, to, strerror(errno));
}

void run_dir_move_leftovers(const char *dir, const RunDirLeftovers *l) {
    if (l->count == 0) return;
    const char *folder = make_free_folder(dir, "unfinished_run");
    char list[1024] = "";
    size_t len = 0;
    for (int i = 0; i < l->count; i++) {
        move_into(dir, folder, l->names[i]);
        if (len < sizeof list) len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", l->names[i]);
    }
    printf("moved %s of an earlier run that stopped before its first checkpoint to %s/%s/\n", list, dir, folder);
}

int run_dir_newer_checkpoints(const char *dir, long step, long *newest) {
    long *steps;
    int n = checkpoint_list(dir, &steps), count = 0;
    *newest = -1;
    for (int i = 0; i < n; i++)
        if (steps[i] > step) {
            count++;
            *newest = steps[i];
        }
    free(steps);
    return count;
}

// Copies dir/name into dir/folder/name if it exists.
static void copy_into(const char *dir, const char *folder, const char *name) {
    char from[4400], to[4800];
    snprintf(from, sizeof from, "%s/%s", dir, name);
    snprintf(to, sizeof to, "%s/%s/%s", dir, folder, name);
    FILE *in = fopen(from, "rb");
    if (!in) return;
    FILE *o = fopen(to, "wb");
    if (!o) fail("%s: cannot open for writing (%s)", to, strerror(errno));
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) xfwrite(buf, 1, n, o, to);
    if (ferror(in)) fail("%s: read error (%s)", from, strerror(errno));
    fclose(in);
    if (fflush(o) != 0 || fsync(fileno(o)) != 0) fail("%s: write failed (%s)", to, strerror(errno));
    xfclose(o, to);
}

const char *run_dir_set_aside_after(const char *dir, long step) {
    char base[64];
    snprintf(base, sizeof base, "history_after_%08ld", step);
    const char *folder = make_free_folder(dir, base);
    copy_into(dir, folder, "log.jsonl");  // copies first: if one fails, nothing has moved
    copy_into(dir, folder, "config.json");
    // names first, moves after: renaming while readdir walks is unspecified
    RunDirLeftovers *later = xcalloc(1, sizeof *later, "file names");
    for (;;) {
        DIR *d = opendir(dir);
        if (!d) fail("%s: cannot read the run directory (%s)", dir, strerror(errno));
        struct dirent *e;
        later->count = 0;
        while ((e = readdir(d)) != NULL)
            if (checkpoint_file_step(e->d_name) > step) add_name(later, e->d_name);
        closedir(d);
        if (later->count == 0) break;
        for (int i = 0; i < later->count; i++) move_into(dir, folder, later->names[i]);
    }
    free(later);
    return folder;
}
