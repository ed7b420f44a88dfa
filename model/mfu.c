// FLOPs per token and device peaks for MFU (see model/mfu.h).
#include "model/mfu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

double gpt2_train_flops_per_token(const ParamTable *t, int T, const uint8_t *trainable) {
    const GPT2Config *c = &t->config;
    double flops = 0.0;
    for (int i = 0; i < t->num_tensors; i++) {
        const ParamTensor *p = &t->tensors[i];
        double macs;  // multiply-adds per token of this weight's matmul
        switch (p->kind) {
            case T_QKVW: case T_ATTPROJW: case T_FCW: case T_FCPROJW: macs = (double)p->numel; break;
            case T_WTE: macs = (double)c->vocab_size * c->channels; break;  // the LM head, real vocabulary only
            default: continue;  // LayerNorm, biases, wpe: no matmul
        }
        int has_grad = trainable ? trainable[i] != 0 : 1;
        flops += 2.0 * macs * (2 + has_grad);  // forward, input gradient, weight gradient
    }
    flops += (double)c->num_layers * 6.0 * c->channels * ((double)T + 1.0);  // causal attention
    return flops;
}

// Dense (no sparsity) bf16 tensor-core peaks with fp32 accumulation, from
// NVIDIA's data sheets (which print the sparse figure, twice these). The
// first key contained in the device name wins: more specific names first.
static const struct {
    const char *key, *label;
    double tflops;
} PEAKS[] = {
    {"H200 NVL", "H200 NVL", 835.5},  {"H200", "H200 SXM", 989.4},   {"H100 NVL", "H100 NVL", 835.5},
    {"H100 PCIe", "H100 PCIe", 756.5}, {"H100", "H100 SXM", 989.4},  {"H800", "H800 SXM", 989.4},
    {"A100", "A100", 312.0},          {"A800", "A800", 312.0},       {"L40S", "L40S", 362.05},
    {"L40", "L40", 181.05},           {"L4", "L4", 121.0},
};

double peak_bf16_flops(const char *device_name, const char *override, char *what, size_t cap) {
    if (override && *override) {
        char *end;
        double tf = strtod(override, &end);
        if (end == override || *end != '\0' || !(tf > 0.0) || tf > 1e6)
            fail("OMGD_PEAK_TFLOPS=%s: not a peak in TFLOP/s (a positive number, e.g. 989.4)", override);
        snprintf(what, cap, "%.6g TFLOP/s, from OMGD_PEAK_TFLOPS (device: %s)", tf, device_name);
        return tf * 1e12;
    }
    for (size_t i = 0; i < sizeof PEAKS / sizeof PEAKS[0]; i++)
        if (strstr(device_name, PEAKS[i].key)) {
            snprintf(what, cap, "%.6g TFLOP/s, %s dense bf16 (table; device: %s)", PEAKS[i].tflops, PEAKS[i].label,
                     device_name);
            return PEAKS[i].tflops * 1e12;
        }
    snprintf(what, cap, "unknown for %s: set OMGD_PEAK_TFLOPS to its dense bf16 peak for MFU", device_name);
    return 0.0;
}
