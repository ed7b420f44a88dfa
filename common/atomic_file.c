#include "common/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <unistd.h>

#include "common/crc32.h"
#include "common/error.h"

void atomic_open(AtomicFile *a, const char *path) {
    if (strlen(path) >= ATOMIC_PATH_MAX) fail("%s: path too long", path);
    snprintf(a->path, sizeof a->path, "%s", path);
    snprintf(a->tmp_path, sizeof a->tmp_path, "%s.tmp", path);
    a->crc = 0;
    a->bytes = 0;
    a->f = fopen(a->tmp_path, "wb");
    if (!a->f) fail("%s: cannot open for writing (%s)", a->tmp_path, strerror(errno));
}

static void abandon(AtomicFile *a, const char *what, int err) {
    if (a->f) fclose(a->f);
    a->f = NULL;
    remove(a->tmp_path);
    fail("%s: %s (%s); the previous file, if any, is unchanged", a->path, what, strerror(err));
}

void atomic_write(AtomicFile *a, const void *src, size_t size, size_t count) {
    if (count && fwrite(src, size, count, a->f) != count) abandon(a, "write failed", errno);
    a->crc = crc32_update(a->crc, src, size * count);
    a->bytes += (long long)(size * count);
}

void atomic_commit(AtomicFile *a) {
    if (fflush(a->f) != 0) abandon(a, "write failed", errno);
    if (fsync(fileno(a->f)) != 0) abandon(a, "fsync failed", errno);
    int rc = fclose(a->f);
    a->f = NULL;
    if (rc != 0) abandon(a, "close failed", errno);
    if (rename(a->tmp_path, a->path) != 0) abandon(a, "rename failed", errno);
    // make the rename itself durable
    char dir[ATOMIC_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", a->path);
    int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);  // best effort: some file systems refuse fsync on directories
        close(fd);
    }
}
