// The shared-file-system rendezvous (comm.init "fs"). In comm.dir:
//   arrived.R  rank R > 0 is here: "omgd-rendezvous WORLD TOKEN"
//   id         rank 0's answer: the world size, every rank's token (so that a
//              stale file of an earlier job is never taken), the id in hex
//   ack.R      rank R has read the id; rank 0 then removes the files
//   failed.R   (later, comm_nccl.c) rank R's message when it failed; rank 0
//              removes an earlier job's before this job's id exists
// Files are written under a temporary name and renamed, so a reader never
// sees half of one. Rank 0 first removes what an earlier job left; a rank
// whose arrival file vanished writes it again.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "comm/rendezvous.h"
#include "common/error.h"

#define POLL_MS 20
#define TOKEN_CAP 128

static void path_of(char *buf, size_t cap, const char *dir, const char *name, int r) {
    if (r >= 0) snprintf(buf, cap, "%s/%s.%d", dir, name, r);
    else snprintf(buf, cap, "%s/%s", dir, name);
}

static void write_file(const char *dir, const char *name, int r, const char *text) {
    char path[4200], tmp[4300];
    path_of(path, sizeof path, dir, name, r);
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) fail("comm.init fs: cannot write %s: %s (comm.dir must be a writable directory)", tmp, strerror(errno));
    int bad = fputs(text, f) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) fail("comm.init fs: cannot write %s: %s", path, strerror(errno));
}

// The file's text (up to cap - 1 bytes), or NULL when it does not exist.
static char *read_file(const char *dir, const char *name, int r, char *buf, size_t cap) {
    char path[4200];
    path_of(path, sizeof path, dir, name, r);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return NULL;
        fail("comm.init fs: cannot read %s: %s", path, strerror(errno));
    }
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void remove_file(const char *dir, const char *name, int r) {
    char path[4200];
    path_of(path, sizeof path, dir, name, r);
    if (unlink(path) != 0 && errno != ENOENT) fail("comm.init fs: cannot remove %s: %s", path, strerror(errno));
}

static void check_dir(const char *dir) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        fail("comm.init fs: comm.dir %s: cannot create it: %s", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) fail("comm.init fs: comm.dir %s is not a directory", dir);
}

static void hex_encode(const unsigned char *p, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * n] = '\0';
}

static int hex_decode(const char *s, unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) return 0;
        p[i] = (unsigned char)v;
    }
    return 1;
}

static void rank0(const char *dir, int world, const void *id, size_t bytes, double timeout_s) {
    remove_file(dir, "id", -1);
    for (int r = 1; r < world; r++) remove_file(dir, "arrived", r), remove_file(dir, "ack", r);
    // an earlier job's failure messages (comm_nccl.c): this job starts clean
    for (int r = 0; r < world; r++) remove_file(dir, "failed", r);
    size_t cap = (size_t)world * TOKEN_CAP + 2 * bytes + 128;
    char *text = xmalloc(cap, "rendezvous"), line[256], missing[96];
    unsigned char *have = xcalloc((size_t)world, 1, "rendezvous");
    int len = snprintf(text, cap, "omgd-rendezvous-id %d %zu\n", world, bytes);
    double deadline = rendezvous_now() + timeout_s;
    // arrivals, in rank order: each one's token goes into the id file
    for (int r = 1; r < world; r++) {
        int w = 0;
        char token[TOKEN_CAP];
        while (!read_file(dir, "arrived", r, line, sizeof line) ||
               sscanf(line, "omgd-rendezvous %d %127s", &w, token) != 2) {
            if (rendezvous_now() > deadline) {
                for (int q = r; q < world; q++) have[q] = read_file(dir, "arrived", q, line, sizeof line) != NULL;
                rendezvous_missing(have, world, missing, sizeof missing);
                fail("comm.init fs: rank 0 waited %g s (comm.timeout_s) in %s for rank%s %s of %d: start every rank "
                     "with the same comm.dir, on a file system all nodes share",
                     timeout_s, dir, strchr(missing, ',') ? "s" : "", missing, world);
            }
            rendezvous_sleep_ms(POLL_MS);
        }
        if (w != world)
            fail("comm.init fs: rank %d in %s says the job has %d ranks, rank 0 says %d: start every rank with the "
                 "same launcher, and one comm.dir per job",
                 r, dir, w, world);
        have[r] = 1;
        len += snprintf(text + len, cap - (size_t)len, "%s\n", token);
    }
    hex_encode(id, bytes, text + len);
    strcat(text + len, "\n");
    write_file(dir, "id", -1, text);
    memset(have, 0, (size_t)world);
    for (int r = 1; r < world; r++) {
        while (!read_file(dir, "ack", r, line, sizeof line)) {
            if (rendezvous_now() > deadline) {
                for (int q = r; q < world; q++) have[q] = read_file(dir, "ack", q, line, sizeof line) != NULL;
                rendezvous_missing(have, world, missing, sizeof missing);
                fail("comm.init fs: rank 0 waited %g s (comm.timeout_s) in %s for rank%s %s to read the id",
                     timeout_s, dir, strchr(missing, ',') ? "s" : "", missing);
            }
            rendezvous_sleep_ms(POLL_MS);
        }
        have[r] = 1;
    }
    for (int r = 1; r < world; r++) remove_file(dir, "arrived", r), remove_file(dir, "ack", r);
    remove_file(dir, "id", -1);
    free(text);
    free(have);
}

// Rank r's token in the id file's text, and the id after the tokens; 0 when
// the file is another job's (its tokens are not ours).
static int parse_id(char *text, int rank, int world, const char *token, void *id, size_t bytes, const char *dir) {
    int w = 0;
    size_t b = 0;
    if (sscanf(text, "omgd-rendezvous-id %d %zu", &w, &b) != 2) return 0;
    char *p = strchr(text, '\n');
    for (int r = 1; r < world && p; r++) {
        char *line = p + 1;
        p = strchr(line, '\n');
        if (!p) return 0;
        if (r == rank && ((size_t)(p - line) != strlen(token) || strncmp(line, token, strlen(token)) != 0)) return 0;
    }
    if (!p) return 0;
    // our token is in it: this job's rank 0 wrote it
    if (w != world)
        fail("comm.init fs: rank 0 in %s says the job has %d ranks, rank %d says %d: start every rank with the same "
             "launcher",
             dir, w, rank, world);
    if (b != bytes || strlen(p + 1) < 2 * bytes || !hex_decode(p + 1, id, bytes))
        fail("comm.init fs: %s/id holds a malformed id (%zu bytes, expected %zu)", dir, b, bytes);
    return 1;
}

static void other_rank(const char *dir, int rank, int world, void *id, size_t bytes, double timeout_s) {
    char token[TOKEN_CAP], line[256];
    rendezvous_token(token, sizeof token);
    snprintf(line, sizeof line, "omgd-rendezvous %d %s\n", world, token);
    size_t cap = (size_t)world * TOKEN_CAP + 2 * bytes + 128;
    char *text = xmalloc(cap, "rendezvous");
    double deadline = rendezvous_now() + timeout_s;
    char seen[256];
    for (;;) {
        // rank 0 removes arrivals left by an earlier job when it starts: write ours again if it is gone
        if (!read_file(dir, "arrived", rank, seen, sizeof seen) || strcmp(seen, line) != 0)
            write_file(dir, "arrived", rank, line);
        if (read_file(dir, "id", -1, text, cap) && parse_id(text, rank, world, token, id, bytes, dir)) break;
        if (rendezvous_now() > deadline)
            fail("comm.init fs: rank %d of %d waited %g s (comm.timeout_s) for rank 0's id in %s: start rank 0 "
                 "with the same comm.dir, on a file system all nodes share",
                 rank, world, timeout_s, dir);
        rendezvous_sleep_ms(POLL_MS);
    }
    snprintf(line, sizeof line, "%s\n", token);
    write_file(dir, "ack", rank, line);
    free(text);
}

void rendezvous_fs(const char *dir, int rank, int world, void *id, size_t bytes, double timeout_s) {
    if (world == 1) return;
    check_dir(dir);
    if (rank == 0) rank0(dir, world, id, bytes, timeout_s);
    else other_rank(dir, rank, world, id, bytes, timeout_s);
}
