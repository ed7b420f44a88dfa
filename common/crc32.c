#include "common/crc32.h"

#include "common/error.h"

static uint32_t table[8][256];
static int table_ready = 0;

static void build_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[0][i] = c;
    }
    // slicing-by-8 tables: 8 bytes per step
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++) table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xFF];
    table_ready = 1;
}

uint32_t crc32_update(uint32_t crc, const void *data, size_t n) {
    if (!table_ready) build_table();
    const unsigned char *p = data;
    uint32_t c = ~crc;
    while (n >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        c = table[7][lo & 0xFF] ^ table[6][(lo >> 8) & 0xFF] ^ table[5][(lo >> 16) & 0xFF] ^ table[4][lo >> 24] ^
            table[3][p[4]] ^ table[2][p[5]] ^ table[1][p[6]] ^ table[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--) c = table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

uint32_t crc32_file(const char *path, long long offset, long long *size_out) {
    FILE *f = xfopen(path, "rb");
    long long size = xfilesize(f, path);
    if (offset > size) offset = size;
    if (fseek(f, (long)offset, SEEK_SET) != 0) fail("%s: cannot seek", path);
    static unsigned char buf[1 << 20];
    uint32_t crc = 0;
    for (long long done = offset; done < size;) {
        size_t n = (size_t)(size - done < (long long)sizeof buf ? size - done : (long long)sizeof buf);
        xfread(buf, 1, n, f, path);
        crc = crc32_update(crc, buf, n);
        done += (long long)n;
    }
    fclose(f);
    if (size_out) *size_out = size;
    return crc;
}
