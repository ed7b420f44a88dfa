// GPT-2 (OpenAI's definition, as in llm.c) on the CPU in fp32.
//
// One table describes every parameter tensor (ParamTensor): name, shape,
// owning group (a block index, or GROUP_ALWAYS_ACTIVE) and whether weight
// decay applies. Parameters live in one contiguous buffer laid out
// block by block:
//   [wte (Vp,C) | wpe (maxT,C) | lnfw (C) | lnfb (C)]   always-active group
//   [block 0: ln1w ln1b qkvw qkvb attprojw attprojb ln2w ln2b fcw fcb fcprojw fcprojb]
//   [block 1: ...] ... [block L-1: ...]
// so the always-active group and each block are one contiguous range.
// llm.c's tensor-major order is used only inside model files (checkpoint.c).
#ifndef MODEL_GPT2_H
#define MODEL_GPT2_H

#include <stddef.h>
#include <stdint.h>

#define GROUP_ALWAYS_ACTIVE (-1)
#define GPT2_TENSORS_PER_BLOCK 12
#define GPT2_MAX_NAME 32

typedef struct {
    int max_seq_len;        // maxT
    int vocab_size;         // V (real vocabulary, loss is over these)
    int padded_vocab_size;  // Vp >= V, multiple of 128 by default
    int num_layers;         // L
    int num_heads;          // NH
    int channels;           // C
} GPT2Config;

// Kinds of tensor, in llm.c's file order (0..15).
enum {
    T_WTE, T_WPE, T_LN1W, T_LN1B, T_QKVW, T_QKVB, T_ATTPROJW, T_ATTPROJB,
    T_LN2W, T_LN2B, T_FCW, T_FCB, T_FCPROJW, T_FCPROJB, T_LNFW, T_LNFB,
    T_NUM_KINDS
};

typedef struct {
    char name[GPT2_MAX_NAME];  // e.g. "h.3.attn.c_attn.weight" style: "blocks.3.qkvw"
    int kind;                  // T_* above
    int group;                 // block index 0..L-1, or GROUP_ALWAYS_ACTIVE
    int ndim;                  // 1 or 2
    size_t shape[2];           // rows, cols (cols = 1 for 1-D)
    size_t numel;
    size_t offset;             // element offset into the parameter buffer
    int decay;                 // 1 = weight decay applies (2-D tensors: matmul weights, embeddings)
} ParamTensor;

typedef struct {
    GPT2Config config;     // the shape this table was built for
    int num_tensors;           // 4 + 12 * L
    ParamTensor *tensors;      // the parameter table, in memory order
    size_t num_params;         // total elements
    // range of each group in the buffer: group g (block g) is
    // [block_offset[g], block_offset[g+1]); always-active is [0, block_offset[0])
    size_t *block_offset;      // L + 1 entries
} ParamTable;

void param_table_build(ParamTable *t, const GPT2Config *c);
void param_table_free(ParamTable *t);
// Index into t->tensors of the tensor of a kind in a block (block ignored for always-active kinds).
int param_index(const ParamTable *t, int kind, int block);

// Activations of one forward pass for a fixed (B, T), kept for the backward
// pass. Only the post-softmax attention matrix is stored (the backward pass
// does not need the pre-softmax scores).
typedef struct {
    float *encoded;    // (B,T,C)   token + position embedding
    float *ln1;        // (L,B,T,C)
    float *ln1_mean;   // (L,B,T)
    float *ln1_rstd;   // (L,B,T)
    float *qkv;        // (L,B,T,3C)
    float *atty;       // (L,B,T,C)  attention output before the projection
    float *att;        // (L,B,NH,T,T) softmax weights (causal: zero above the diagonal)
    float *attproj;    // (L,B,T,C)
    float *residual2;  // (L,B,T,C)
    float *ln2;        // (L,B,T,C)
    float *ln2_mean;   // (L,B,T)
    float *ln2_rstd;   // (L,B,T)
    float *fch;        // (L,B,T,4C)
    float *fch_gelu;   // (L,B,T,4C)
    float *fcproj;     // (L,B,T,C)
    float *residual3;  // (L,B,T,C)
    float *lnf;        // (B,T,C)
    float *lnf_mean;   // (B,T)
    float *lnf_rstd;   // (B,T)
    float *logits;     // (B,T,Vp)  reused for dlogits in the backward pass
    float *probs;      // (B,T,Vp)
    float *losses;     // (B,T)
} Activations;

// Scratch buffers of the backward pass (one layer at a time).
typedef struct {
    float *dresidual;  // (B,T,C) gradient of the residual stream
    float *dln;        // (B,T,C)
    float *dqkv;       // (B,T,3C)
    float *datty;      // (B,T,C)
    float *dfch;       // (B,T,4C)
    float *datt_row;   // (B,NH,T) per-(b,h) row of attention-weight gradients
    float *ones;       // (B*T) for bias gradients as a matrix-vector product
} BackwardScratch;

typedef struct {
    GPT2Config config;
    ParamTable table;
    float *params;        // num_params, block-by-block layout
    // Gradients exist for the trainable tensors only, packed in table order
    // (so with every tensor trainable, grads has the parameter layout).
    float *grads;         // grad_floats floats (NULL until set_trainable/zero_grad)
    size_t grad_floats;
    float **grad_of;      // num_tensors: each tensor's gradient in grads, NULL when frozen
    int B, T;             // (B, T) of the last forward pass
    Activations acts;
    BackwardScratch scratch;
    float *act_memory, *scratch_memory;
    size_t act_floats, scratch_floats, token_capacity;  // allocated sizes
    int *inputs, *targets;  // copies of the last forward's (B,T) batch
    int has_targets;
    float mean_loss;        // last forward's mean loss, -1 if no targets
} GPT2;

// Allocates parameters for config c (contents undefined until init or load).
void gpt2_build(GPT2 *m, const GPT2Config *c);
// GPT-2 / llm.c initialisation: N(0, 0.02) weights, residual projections
// (attprojw, fcprojw) scaled by 1/sqrt(2L), zero biases, LayerNorm weight 1.
void gpt2_init_random(GPT2 *m, uint64_t seed);
void gpt2_free(GPT2 *m);
// Whether every weight is a finite number; if not, names the first tensor
// and element that is not ("blocks.1.qkvw[42] = nan") in what and returns 0.
int gpt2_weights_finite(const GPT2 *m, char *what, size_t cap);
// Bytes of activations and backward scratch for a (B, T) batch.
size_t gpt2_activation_bytes(const GPT2Config *c, int B, int T);

// Forward pass on (B,T) token ids; targets may be NULL (inference).
// Returns the mean cross-entropy over the B*T positions (real vocab only),
// or -1 if targets is NULL. B, T may change between calls (T <= maxT);
// activation buffers grow to the largest (B, T) seen and are then reused.
float gpt2_forward(GPT2 *m, const int *inputs, const int *targets, int B, int T);
// Chooses which tensors get gradients (trainable[i] for table index i; NULL
// = all) and sizes m->grads for exactly those. Frozen tensors cost neither
// gradient memory nor weight-gradient work in the backward pass.
void gpt2_set_trainable(GPT2 *m, const uint8_t *trainable);
// Sets the gradients of the trainable tensors to zero (all tensors are
// trainable if set_trainable was never called).
void gpt2_zero_grad(GPT2 *m);
// Backward pass of the last forward (which must have had targets).
// Accumulates into the trainable tensors' gradients the gradient of
// loss_scale * mean loss (pass 1/grad_accum_steps for accumulation).
// Activation gradients still flow through frozen tensors.
void gpt2_backward(GPT2 *m, float loss_scale);

#endif
