// Freezing tensors skips their gradient work but changes nothing else: the
// gradients of the trainable tensors are bit-identical to those of a full
// backward pass, and frozen tensors get no gradient buffer at all.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/gpt2.h"
#include "test/check.h"

int main(void) {
    GPT2Config c = {.max_seq_len = 12, .vocab_size = 61, .padded_vocab_size = 64,
                    .num_layers = 4, .num_heads = 3, .channels = 24};
    GPT2 full, part;
    gpt2_build(&full, &c);
    gpt2_init_random(&full, 5);
    gpt2_build(&part, &c);
    memcpy(part.params, full.params, full.table.num_params * sizeof(float));
    int B = 2, T = 11, in[22], tg[22];
    for (int i = 0; i < B * T; i++) {
        in[i] = (i * 17 + 3) % 61;
        tg[i] = (i * 29 + 11) % 61;
    }
    const ParamTable *t = &full.table;
    // freeze blocks 0 and 2 entirely, and a single tensor (fcb) of block 3
    uint8_t *trainable = xcalloc((size_t)t->num_tensors, 1, "mask");
    size_t expected_floats = 0;
    for (int i = 0; i < t->num_tensors; i++) {
        const ParamTensor *p = &t->tensors[i];
        trainable[i] = !(p->group == 0 || p->group == 2 || (p->group == 3 && p->kind == T_FCB));
        if (trainable[i]) expected_floats += p->numel;
    }
    gpt2_set_trainable(&part, trainable);
    CHECK(part.grad_floats == expected_floats, "gradient memory only for trainable tensors",
          "%zu floats, expected %zu", part.grad_floats, expected_floats);

    // two micro-batches of accumulation
    gpt2_zero_grad(&full);
    gpt2_zero_grad(&part);
    for (int micro = 0; micro < 2; micro++) {
        in[0] = micro + 1;
        float lf = gpt2_forward(&full, in, tg, B, T);
        gpt2_backward(&full, 0.5f);
        float lp = gpt2_forward(&part, in, tg, B, T);
        gpt2_backward(&part, 0.5f);
        CHECK(lf == lp, "same loss with frozen tensors", "%.9g vs %.9g", lf, lp);
    }
    int same = 1, frozen_null = 1;
    for (int i = 0; i < t->num_tensors; i++) {
        const ParamTensor *p = &t->tensors[i];
        if (!trainable[i]) {
            frozen_null &= part.grad_of[i] == NULL;
            continue;
        }
        if (memcmp(part.grad_of[i], full.grad_of[i], p->numel * sizeof(float)) != 0) {
            printf("# %s differs\n", p->name);
            same = 0;
        }
    }
    CHECK(frozen_null, "frozen tensors have no gradient buffer", "a frozen tensor has one");
    CHECK(same, "trainable gradients bit-identical to the full backward pass", "see above");
    // switching back to all-trainable restores the parameter layout
    gpt2_set_trainable(&part, NULL);
    CHECK(part.grad_floats == t->num_params && part.grad_of[5] == part.grads + t->tensors[5].offset,
          "all trainable: gradients in parameter layout", "layout differs");
    free(trainable);
    gpt2_free(&full);
    gpt2_free(&part);
    CHECK_EXIT();
}
