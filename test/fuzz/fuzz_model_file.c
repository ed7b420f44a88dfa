// Fuzzes the llm.c model file reader (header validation, then loading).
#include "model/model_file.h"
#include "test/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_input(data, size, ".bin");
    FUZZ_GUARDED({
        GPT2Config c;
        model_file_read_config(path, &c);
        static GPT2 m;  // static: a refused load longjmps past any free
        memset(&m, 0, sizeof m);
        gpt2_build(&m, &c);
        model_file_load(&m, path);
        gpt2_free(&m);
    });
    return 0;
}
