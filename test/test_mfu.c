// MFU's two inputs (model/mfu.c): the training FLOPs per token against a
// count by hand for a small shape (full training, and OMGD with one of two
// blocks frozen), and the peak table and its override.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/gpt2.h"
#include "model/mfu.h"
#include "test/check.h"

static void bad_override(void *arg) {
    char what[256];
    peak_bf16_flops("NVIDIA H100 80GB HBM3", (const char *)arg, what, sizeof what);
}

int main(void) {
    // L 2, C 8, NH 2, V 10 (padded to 16), T 5
    GPT2Config c = {.max_seq_len = 8, .vocab_size = 10, .padded_vocab_size = 16, .num_layers = 2, .num_heads = 2,
                    .channels = 8};
    ParamTable t;
    param_table_build(&t, &c);
    // By hand. Per block the matmul weights hold 3*64 + 64 + 4*64 + 4*64 =
    // 768 multiply-adds per token; the LM head 10 * 8 = 80 (V, not Vp).
    //   forward:          2 * (2 * 768 + 80) = 3232
    //   input gradients:  the same,            3232
    //   weight gradients: the same when all train (3232); with block 0
    //                     frozen 2 * (768 + 80) = 1696
    //   attention:        6 * C * (T + 1) per block = 6 * 8 * 6 * 2 = 576
    double full = 3232 + 3232 + 3232 + 576, frozen0 = 3232 + 3232 + 1696 + 576;
    double got = gpt2_train_flops_per_token(&t, 5, NULL);
    CHECK(got == full, "FLOPs per token, full training, L2 C8 V10 T5: 10272 by hand", "got %.1f, want %.1f", got, full);
    uint8_t *trainable = malloc((size_t)t.num_tensors);
    for (int i = 0; i < t.num_tensors; i++) trainable[i] = t.tensors[i].group != 0;  // block 0 frozen
    got = gpt2_train_flops_per_token(&t, 5, trainable);
    CHECK(got == frozen0, "FLOPs per token, block 0 frozen: its weight gradients not counted (8736 by hand)",
          "got %.1f, want %.1f", got, frozen0);
    for (int i = 0; i < t.num_tensors; i++) trainable[i] = 1;
    got = gpt2_train_flops_per_token(&t, 5, trainable);
    CHECK(got == full, "FLOPs per token, every tensor trainable = NULL", "got %.1f", got);
    // GPT-2 124M at T 1024: 6 N-ish (N without wpe, biases, LayerNorms and
    // the vocabulary padding: 85.0M block weights + 38.6M wte) + 6 L C T
    GPT2Config g = {.max_seq_len = 1024, .vocab_size = 50257, .padded_vocab_size = 50304, .num_layers = 12,
                    .num_heads = 12, .channels = 768};
    ParamTable tg;
    param_table_build(&tg, &g);
    double want = 6.0 * (12.0 * 12 * 768 * 768 + 50257.0 * 768) + 6.0 * 12 * 768 * 1025;
    got = gpt2_train_flops_per_token(&tg, 1024, NULL);
    CHECK(fabs(got - want) < 1.0, "FLOPs per token, GPT-2 124M at T 1024: 6 (12 L C^2 + V C) + 6 L C (T+1) = 798.1M",
          "got %.1f, want %.1f", got, want);
    param_table_free(&tg);

    char what[256];
    struct { const char *name; double tflops; } cases[] = {
        {"NVIDIA H100 80GB HBM3", 989.4}, {"NVIDIA H100 PCIe", 756.5},  {"NVIDIA H100 NVL", 835.5},
        {"NVIDIA H200", 989.4},           {"NVIDIA H200 NVL", 835.5},   {"NVIDIA GH200 480GB", 989.4},
        {"NVIDIA A100-SXM4-80GB", 312.0}, {"NVIDIA A100 80GB PCIe", 312.0}, {"NVIDIA L40S", 362.05},
        {"NVIDIA L40", 181.05},           {"NVIDIA L4", 121.0},         {"NVIDIA GeForce GTX 1080", 0.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double p = peak_bf16_flops(cases[i].name, NULL, what, sizeof what);
        char name[128];
        snprintf(name, sizeof name, "peak of %s: %.6g TFLOP/s", cases[i].name, cases[i].tflops);
        CHECK(p == cases[i].tflops * 1e12 && strstr(what, cases[i].name), name, "got %.6g (%s)", p / 1e12, what);
    }
    double p = peak_bf16_flops("NVIDIA GeForce GTX 1080", NULL, what, sizeof what);
    CHECK(p == 0.0 && strstr(what, "OMGD_PEAK_TFLOPS"), "an unknown device: no peak, and the override named",
          "%s", what);
    p = peak_bf16_flops("NVIDIA H100 80GB HBM3", "500", what, sizeof what);
    CHECK(p == 500e12 && strstr(what, "OMGD_PEAK_TFLOPS"), "OMGD_PEAK_TFLOPS=500 wins over the table", "got %.6g (%s)",
          p / 1e12, what);
    p = peak_bf16_flops("NVIDIA H100 80GB HBM3", "", what, sizeof what);
    CHECK(p == 989.4e12, "an empty OMGD_PEAK_TFLOPS is no override", "got %.6g", p / 1e12);
    const char *bad[] = {"abc", "-3", "0", "12x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[512], name[96];
        int rc = run_in_child(bad_override, (void *)bad[i], err, sizeof err);
        snprintf(name, sizeof name, "OMGD_PEAK_TFLOPS=%s refused with one line", bad[i]);
        CHECK(rc == 1 && is_one_line_error(err, "OMGD_PEAK_TFLOPS"), name, "exit %d: %s", rc, err);
    }
    free(trainable);
    param_table_free(&t);
    CHECK_EXIT();
}
