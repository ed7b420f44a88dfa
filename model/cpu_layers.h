// The transformer's layers on the CPU, fp32: each *_forward next to its
// *_backward. Matmuls go through BLAS; the rest is plain C with OpenMP.
// Backward functions ACCUMULATE (+=) into their gradient outputs; a NULL
// weight/bias gradient pointer skips that work (frozen parameters).
// No OpenMP reductions are used: results are bit-reproducible run to run.
#ifndef MODEL_CPU_LAYERS_H
#define MODEL_CPU_LAYERS_H

// out (B,T,C) = wte[inp] + wpe[t]
void encoder_forward(float *out, const int *inp, const float *wte, const float *wpe, int B, int T,
                     int C);
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp, int B, int T,
                      int C);

// LayerNorm over the last dim (eps 1e-5); saves mean and rstd per row.
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int N, int C);
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int N, int C);

// out (N,OC) = inp (N,IC) @ weight(OC,IC)^T + bias(OC) (bias may be NULL)
void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                    int IC, int OC);
// dinp += dout @ weight; dweight += dout^T @ inp; dbias += column sums of dout.
// ones: N floats equal to 1 (used for the bias reduction).
void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, const float *ones, int N, int IC,
                     int OC);

// Causal multi-head attention on qkv (B,T,3C) = [q | k | v], head h using
// channels h*hs..(h+1)*hs of each. att (B,NH,T,T) keeps the softmax weights.
void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH);
// dqkv += ...; datt_row: B*NH*T floats of scratch.
void attention_backward(float *dqkv, float *datt_row, const float *dout, const float *qkv,
                        const float *att, int B, int T, int C, int NH);

// tanh-approximation GELU.
void gelu_forward(float *out, const float *inp, int N);
// d holds d(out) and is turned in place into d(inp) = gelu'(inp) * d(out).
void gelu_backward(float *d, const float *inp, int N);

// out = a + b
void residual_forward(float *out, const float *a, const float *b, int N);

// Softmax over the first V of Vp logits per row (padded columns get 0) and
// cross-entropy against targets. losses (B*T).
void softmax_crossentropy_forward(float *probs, float *losses, const float *logits,
                                  const int *targets, int BT, int V, int Vp);
// dlogits = (probs - onehot(target)) * dloss for the first V columns, 0 for padding.
void softmax_crossentropy_backward(float *dlogits, const float *probs, const int *targets,
                                   float dloss, int BT, int V, int Vp);

#endif
