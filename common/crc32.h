// CRC-32 (the zlib/PNG polynomial), for checkpoint integrity checks.
#ifndef COMMON_CRC32_H
#define COMMON_CRC32_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// Continues a CRC: crc32_update(0, ...) starts one.
uint32_t crc32_update(uint32_t crc, const void *data, size_t n);
// CRC of a file's bytes from `offset` to its end; its size goes to
// size_out. Fails naming the file on a read error.
uint32_t crc32_file(const char *path, long long offset, long long *size_out);

#endif
