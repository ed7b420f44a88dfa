// Fuzzes the training-state reader: structure, checksum and section reads,
// checkpoint verification (model and shard digests) and the optimizer state
// store's load (shard identity, section sizes) for a tiny model.
#include "common/checkpoint.h"
#include "model/gpt2.h"
#include "omgd/state_store.h"
#include "test/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_input(data, size, ".state");
    static ParamTable table;
    static int built = 0, live = 0;
    static OptStateStore s;  // freed here if a refused input left it allocated
    if (live) state_store_free(&s);
    live = 0;
    if (!built) {
        GPT2Config c = {.max_seq_len = 8, .vocab_size = 16, .padded_vocab_size = 16, .num_layers = 2,
                        .num_heads = 1, .channels = 4};
        param_table_build(&table, &c);
        built = 1;
    }
    FUZZ_GUARDED({
        char why[512];
        (void)checkpoint_verify("/nonexistent/model_00000000.bin", path, why, sizeof why);
        if (state_file_check(path, why, sizeof why)) {
            StateReader r;
            state_reader_open(&r, path);
            int64_t step;
            if (state_has_section(&r, "step")) state_read_section(&r, "step", &step, sizeof step);
            state_store_init_sharded(&s, &table, 0, STATE_KEEP, 1, 2);
            live = 1;
            state_store_load(&s, &r);
            state_store_free(&s);
            live = 0;
            state_read_section(&r, "dataloader", NULL, 48);
            state_reader_close(&r);
        }
    });
    return 0;
}
