// Fuzzes the OMGD schedule replay file reader.
#include "omgd/mask_schedule.h"
#include "test/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_input(data, size, ".txt");
    FUZZ_GUARDED({
        static MaskSchedule m;
        MaskSettings s = {.mode = MASK_OMGD, .num_units = 12, .gamma = 3, .switch_interval = 1, .seed = 1};
        mask_init(&m, &s);
        mask_load_replay(&m, path);
        for (int64_t step = 0; step < 4; step++) mask_update(&m, step, 0);
        mask_free(&m);
    });
    return 0;
}
