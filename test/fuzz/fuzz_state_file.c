// Fuzzes the training-state reader: structure, checksum and section reads.
#include "common/checkpoint.h"
#include "test/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_input(data, size, ".state");
    FUZZ_GUARDED({
        char why[512];
        if (state_file_check(path, why, sizeof why)) {
            StateReader r;
            state_reader_open(&r, path);
            int64_t step;
            if (state_has_section(&r, "step")) state_read_section(&r, "step", &step, sizeof step);
            state_read_section(&r, "dataloader", NULL, 48);
            state_reader_close(&r);
        }
    });
    return 0;
}
