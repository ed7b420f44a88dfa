// Fuzzes the token shard validation and the loader reading from it.
#include "data/dataloader.h"
#include "test/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_input(data, size, ".shard");
    FUZZ_GUARDED({
        static DataLoader l;
        int in[6], tg[6];
        dataloader_init(&l, path, 2, 3, 1, 7, 0, 1, 50257);
        for (int i = 0; i < 3; i++) dataloader_next_batch(&l, in, tg);
        dataloader_free(&l);
    });
    return 0;
}
