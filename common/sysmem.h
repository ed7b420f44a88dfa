// How much memory the machine can give us (MemAvailable of /proc/meminfo,
// falling back to physical memory); 0 if unknown.
#ifndef COMMON_SYSMEM_H
#define COMMON_SYSMEM_H

#include <stddef.h>

size_t sysmem_available_bytes(void);

#endif
