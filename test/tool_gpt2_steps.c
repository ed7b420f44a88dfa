// Driver for test/test_gpt2_torch.py: runs our C GPT-2 and AdamW on a model
// file and a token file and dumps everything the PyTorch reference checks.
//
// usage: tool_gpt2_steps MODEL_FILE TOKENS_FILE OUT_FILE B T NSTEPS
//                        lr beta1 beta2 eps weight_decay grad_clip
//
// TOKENS_FILE (little-endian int32): B, T, NB, then NB batches of
// B*(T+1) tokens each (row b of a batch: inputs = tokens[0..T-1],
// targets = tokens[1..T]). Batch 0 is used for the gradient check, step t
// (1-based) uses batch (t-1) % NB.
//
// OUT_FILE (little-endian): int32 B, T, Vp, NSTEPS, num_params, then fp32:
//   logits of batch 0 (B*T*Vp), loss of batch 0 (1),
//   the gradient at the initial weights (num_params, llm.c file order:
//   each tensor kind for all layers together),
//   per step: the parameters the step starts from (num_params, llm.c file
//   order), loss, gradient norm, clip factor (3), then the step's gradient
//   before clipping (num_params, llm.c file order).
// The parameters after the last step go to OUT_FILE.model (model_file_save).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/gpt2.h"
#include "model/model_file.h"
#include "omgd/adamw.h"

static int parse_int(const char *s, const char *what, long min) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > 1000000) fail("bad %s: '%s'", what, s);
    return (int)v;
}

static float parse_float(const char *s, const char *what) {
    char *end;
    float v = strtof(s, &end);
    if (*s == '\0' || *end != '\0') fail("bad %s: '%s'", what, s);
    return v;
}

// Writes every parameter gradient (grads != 0) or parameter (grads == 0) in
// llm.c's tensor-major order (the order of the tensors in a model file).
static void write_llmc_order(const GPT2 *m, int grads, FILE *f, const char *path) {
    const ParamTable *t = &m->table;
    for (int kind = 0; kind < T_NUM_KINDS; kind++) {
        int per_layer = kind != T_WTE && kind != T_WPE && kind != T_LNFW && kind != T_LNFB;
        for (int l = 0; l < (per_layer ? m->config.num_layers : 1); l++) {
            int i = param_index(t, kind, l);
            const float *src = m->params + t->tensors[i].offset;
            if (grads) {
                if (!m->grad_of || !m->grad_of[i])
                    fail("no gradient for tensor %s", t->tensors[i].name);
                src = m->grad_of[i];
            }
            xfwrite(src, sizeof(float), t->tensors[i].numel, f, path);
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 13)
        fail("usage: %s MODEL_FILE TOKENS_FILE OUT_FILE B T NSTEPS lr beta1 beta2 eps "
             "weight_decay grad_clip",
             argc > 0 ? argv[0] : "tool_gpt2_steps");
    const char *model_path = argv[1], *tokens_path = argv[2], *out_path = argv[3];
    int B = parse_int(argv[4], "B", 1), T = parse_int(argv[5], "T", 1);
    int nsteps = parse_int(argv[6], "NSTEPS", 0);
    AdamWHyper h = {.lr = parse_float(argv[7], "lr"),
                    .beta1 = parse_float(argv[8], "beta1"),
                    .beta2 = parse_float(argv[9], "beta2"),
                    .eps = parse_float(argv[10], "eps"),
                    .weight_decay = parse_float(argv[11], "weight_decay")};
    float grad_clip = parse_float(argv[12], "grad_clip");

    GPT2Config cfg;
    model_file_read_config(model_path, &cfg);
    GPT2 m;
    gpt2_build(&m, &cfg);
    model_file_load(&m, model_path);
    gpt2_set_trainable(&m, NULL);  // every tensor: grads has the parameter layout

    // tokens
    FILE *tf = xfopen(tokens_path, "rb");
    int thead[3];
    xfread(thead, sizeof(int), 3, tf, tokens_path);
    if (thead[0] != B || thead[1] != T || thead[2] <= 0)
        fail("%s: header %d x %d x %d does not match B=%d T=%d", tokens_path, thead[0], thead[1],
             thead[2], B, T);
    int nb = thead[2];
    size_t per_batch = (size_t)B * (T + 1);
    long long expect = (long long)(3 + (size_t)nb * per_batch) * (long long)sizeof(int);
    if (xfilesize(tf, tokens_path) != expect)
        fail("%s: %lld bytes, expected %lld", tokens_path, xfilesize(tf, tokens_path), expect);
    int *raw = xmalloc((size_t)nb * per_batch * sizeof(int), "tokens");
    xfread(raw, sizeof(int), (size_t)nb * per_batch, tf, tokens_path);
    xfclose(tf, tokens_path);
    int *inputs = xmalloc((size_t)nb * B * T * sizeof(int), "inputs");
    int *targets = xmalloc((size_t)nb * B * T * sizeof(int), "targets");
    for (int k = 0; k < nb; k++)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                const int *row = raw + (size_t)k * per_batch + (size_t)b * (T + 1);
                inputs[((size_t)k * B + b) * T + t] = row[t];
                targets[((size_t)k * B + b) * T + t] = row[t + 1];
            }
    free(raw);

    FILE *out = xfopen(out_path, "wb");
    int ohead[5] = {B, T, cfg.padded_vocab_size, nsteps, (int)m.table.num_params};
    xfwrite(ohead, sizeof(int), 5, out, out_path);

    // step 0: logits, loss and gradient at the initial weights
    float loss = gpt2_forward(&m, inputs, targets, B, T);
    xfwrite(m.acts.logits, sizeof(float), (size_t)B * T * cfg.padded_vocab_size, out, out_path);
    xfwrite(&loss, sizeof(float), 1, out, out_path);
    gpt2_zero_grad(&m);
    gpt2_backward(&m, 1.0f);
    write_llmc_order(&m, 1, out, out_path);

    // AdamW steps
    float *mom = xcalloc(m.table.num_params, sizeof(float), "AdamW m");
    float *vel = xcalloc(m.table.num_params, sizeof(float), "AdamW v");
    for (int step = 1; step <= nsteps; step++) {
        size_t k = (size_t)((step - 1) % nb);
        write_llmc_order(&m, 0, out, out_path);  // the parameters this step starts from
        float l = gpt2_forward(&m, inputs + k * B * T, targets + k * B * T, B, T);
        gpt2_zero_grad(&m);
        gpt2_backward(&m, 1.0f);
        float norm = grad_global_norm(m.grads, m.table.num_params);
        float factor = grad_clip_factor(norm, grad_clip);
        adamw_step(m.params, m.grads, mom, vel, &m.table, &h, step, factor);
        float rec[3] = {l, norm, factor};
        xfwrite(rec, sizeof(float), 3, out, out_path);
        write_llmc_order(&m, 1, out, out_path);
    }
    xfclose(out, out_path);

    size_t n = strlen(out_path) + sizeof(".model");
    char *final_path = xmalloc(n, "path");
    snprintf(final_path, n, "%s.model", out_path);
    model_file_save(&m, final_path);

    free(final_path);
    free(mom);
    free(vel);
    free(inputs);
    free(targets);
    gpt2_free(&m);
    return 0;
}
