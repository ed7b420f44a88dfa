// Fuzzes the llm.c tokenizer file reader and decoding.
#include "data/tokenizer.h"
#include "test/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_input(data, size, ".tok");
    FUZZ_GUARDED({
        static Tokenizer t;
        tokenizer_init(&t, path);
        size_t n = 0;
        for (uint32_t id = 0; id < (uint32_t)t.vocab_size + 2; id++) n += strlen(tokenizer_decode(&t, id));
        (void)n;
        tokenizer_free(&t);
    });
    return 0;
}
