// Fuzzes the JSON config reader and its validation.
#include "common/config.h"
#include "test/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_input(data, size, ".json");
    FUZZ_GUARDED({
        static Config c;
        config_load(&c, path, 0, NULL);
    });
    return 0;
}
