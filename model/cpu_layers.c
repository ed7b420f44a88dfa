#include "model/cpu_layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define LN_EPS 1e-5f

void encoder_forward(float *out, const int *inp, const float *wte, const float *wpe, int B, int T,
                     int C) {
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            float *o = out + ((size_t)b * T + t) * C;
            const float *te = wte + (size_t)inp[b * T + t] * C;
            const float *pe = wpe + (size_t)t * C;
            for (int i = 0; i < C; i++) o[i] = te[i] + pe[i];
        }
    }
}

void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp, int B, int T,
                      int C) {
    // serial over positions: a token may repeat, so rows of dwte collide
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            const float *d = dout + ((size_t)b * T + t) * C;
            if (dwte) {
                float *g = dwte + (size_t)inp[b * T + t] * C;
                for (int i = 0; i < C; i++) g[i] += d[i];
            }
            if (dwpe) {
                float *g = dwpe + (size_t)t * C;
                for (int i = 0; i < C; i++) g[i] += d[i];
            }
        }
    }
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int N, int C) {
#pragma omp parallel for
    for (int r = 0; r < N; r++) {
        const float *x = inp + (size_t)r * C;
        float m = 0.0f;
        for (int i = 0; i < C; i++) m += x[i];
        m /= C;
        float v = 0.0f;
        for (int i = 0; i < C; i++) {
            float d = x[i] - m;
            v += d * d;
        }
        v /= C;
        float s = 1.0f / sqrtf(v + LN_EPS);
        float *o = out + (size_t)r * C;
        for (int i = 0; i < C; i++) o[i] = (x[i] - m) * s * weight[i] + bias[i];
        mean[r] = m;
        rstd[r] = s;
    }
}

void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int N, int C) {
#pragma omp parallel for
    for (int r = 0; r < N; r++) {
        const float *x = inp + (size_t)r * C;
        const float *d = dout + (size_t)r * C;
        float m = mean[r], s = rstd[r];
        // dx = s * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)), dnorm = d * w
        float mean_dnorm = 0.0f, mean_dnorm_norm = 0.0f;
        for (int i = 0; i < C; i++) {
            float dn = d[i] * weight[i];
            mean_dnorm += dn;
            mean_dnorm_norm += dn * (x[i] - m) * s;
        }
        mean_dnorm /= C;
        mean_dnorm_norm /= C;
        float *dx = dinp + (size_t)r * C;
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - m) * s;
            float dn = d[i] * weight[i];
            dx[i] += s * (dn - mean_dnorm - norm * mean_dnorm_norm);
        }
    }
    if (!dweight && !dbias) return;
    // parameter gradients: each thread owns a range of columns, rows summed in order
#pragma omp parallel for
    for (int i = 0; i < C; i++) {
        float gw = 0.0f, gb = 0.0f;
        for (int r = 0; r < N; r++) {
            float d = dout[(size_t)r * C + i];
            gw += d * (inp[(size_t)r * C + i] - mean[r]) * rstd[r];
            gb += d;
        }
        if (dweight) dweight[i] += gw;
        if (dbias) dbias[i] += gb;
    }
}

void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                    int IC, int OC) {
    float beta = 0.0f;
    if (bias) {
#pragma omp parallel for
        for (int r = 0; r < N; r++) memcpy(out + (size_t)r * OC, bias, (size_t)OC * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, IC, 1.0f, inp, IC, weight, IC, beta,
                out, OC);
}

void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, const float *ones, int N, int IC,
                     int OC) {
    if (dinp) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IC, OC, 1.0f, dout, OC, weight,
                    IC, 1.0f, dinp, IC);
    }
    if (dweight) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, N, 1.0f, dout, OC, inp, IC,
                    1.0f, dweight, IC);
    }
    if (dbias) {
        cblas_sgemv(CblasRowMajor, CblasTrans, N, OC, 1.0f, dout, OC, ones, 1, 1.0f, dbias, 1);
    }
}

void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
    int hs = C / NH;
    size_t C3 = (size_t)C * 3;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel for collapse(3)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            for (int t = 0; t < T; t++) {
                const float *q = qkv + ((size_t)b * T + t) * C3 + (size_t)h * hs;
                float *a = att + (((size_t)b * NH + h) * T + t) * T;
                float maxv = -INFINITY;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *k = qkv + ((size_t)b * T + t2) * C3 + C + (size_t)h * hs;
                    float dot = 0.0f;
                    for (int i = 0; i < hs; i++) dot += q[i] * k[i];
                    dot *= scale;
                    a[t2] = dot;
                    if (dot > maxv) maxv = dot;
                }
                float sum = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    float e = expf(a[t2] - maxv);
                    a[t2] = e;
                    sum += e;
                }
                float inv = 1.0f / sum;
                for (int t2 = 0; t2 <= t; t2++) a[t2] *= inv;
                for (int t2 = t + 1; t2 < T; t2++) a[t2] = 0.0f;
                float *o = out + ((size_t)b * T + t) * C + (size_t)h * hs;
                for (int i = 0; i < hs; i++) o[i] = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *v = qkv + ((size_t)b * T + t2) * C3 + 2 * (size_t)C + (size_t)h * hs;
                    for (int i = 0; i < hs; i++) o[i] += a[t2] * v[i];
                }
            }
        }
    }
}

void attention_backward(float *dqkv, float *datt_row, const float *dout, const float *qkv,
                        const float *att, int B, int T, int C, int NH) {
    int hs = C / NH;
    size_t C3 = (size_t)C * 3;
    float scale = 1.0f / sqrtf((float)hs);
    // one (b, h) per iteration: it writes only its own head's slice of dqkv
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            float *datt = datt_row + ((size_t)b * NH + h) * T;
            for (int t = 0; t < T; t++) {
                const float *a = att + (((size_t)b * NH + h) * T + t) * T;
                const float *d = dout + ((size_t)b * T + t) * C + (size_t)h * hs;
                const float *q = qkv + ((size_t)b * T + t) * C3 + (size_t)h * hs;
                float *dq = dqkv + ((size_t)b * T + t) * C3 + (size_t)h * hs;
                // through out = sum_t2 a[t2] v[t2]
                float dot_ad = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *v = qkv + ((size_t)b * T + t2) * C3 + 2 * (size_t)C + (size_t)h * hs;
                    float *dv = dqkv + ((size_t)b * T + t2) * C3 + 2 * (size_t)C + (size_t)h * hs;
                    float s = 0.0f;
                    for (int i = 0; i < hs; i++) {
                        s += d[i] * v[i];
                        dv[i] += a[t2] * d[i];
                    }
                    datt[t2] = s;
                    dot_ad += a[t2] * s;
                }
                // through the softmax, then the scaled dot product
                for (int t2 = 0; t2 <= t; t2++) {
                    float dpre = a[t2] * (datt[t2] - dot_ad) * scale;
                    const float *k = qkv + ((size_t)b * T + t2) * C3 + C + (size_t)h * hs;
                    float *dk = dqkv + ((size_t)b * T + t2) * C3 + C + (size_t)h * hs;
                    for (int i = 0; i < hs; i++) {
                        dq[i] += dpre * k[i];
                        dk[i] += dpre * q[i];
                    }
                }
            }
        }
    }
}

#define GELU_SCALE 0.7978845608028654f  // sqrt(2/pi)

void gelu_forward(float *out, const float *inp, int N) {
#pragma omp parallel for
    for (int i = 0; i < N; i++) {
        float x = inp[i];
        float u = GELU_SCALE * (x + 0.044715f * x * x * x);
        out[i] = 0.5f * x * (1.0f + tanhf(u));
    }
}

void gelu_backward(float *d, const float *inp, int N) {
#pragma omp parallel for
    for (int i = 0; i < N; i++) {
        float x = inp[i];
        float u = GELU_SCALE * (x + 0.044715f * x * x * x);
        float th = tanhf(u);
        float sech2 = 1.0f - th * th;
        float du = GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        float grad = 0.5f * (1.0f + th) + 0.5f * x * sech2 * du;
        d[i] *= grad;
    }
}

void residual_forward(float *out, const float *a, const float *b, int N) {
#pragma omp parallel for
    for (int i = 0; i < N; i++) out[i] = a[i] + b[i];
}

void softmax_crossentropy_forward(float *probs, float *losses, const float *logits,
                                  const int *targets, int BT, int V, int Vp) {
#pragma omp parallel for
    for (int r = 0; r < BT; r++) {
        const float *x = logits + (size_t)r * Vp;
        float *p = probs + (size_t)r * Vp;
        float maxv = -INFINITY;
        for (int i = 0; i < V; i++)
            if (x[i] > maxv) maxv = x[i];
        double sum = 0.0;
        for (int i = 0; i < V; i++) {
            p[i] = expf(x[i] - maxv);
            sum += p[i];
        }
        float inv = (float)(1.0 / sum);
        for (int i = 0; i < V; i++) p[i] *= inv;
        for (int i = V; i < Vp; i++) p[i] = 0.0f;
        if (targets) {
            // log-softmax directly (no log(0) when a probability underflows)
            losses[r] = (float)(log(sum) - (double)(x[targets[r]] - maxv));
        }
    }
}

void softmax_crossentropy_backward(float *dlogits, const float *probs, const int *targets,
                                   float dloss, int BT, int V, int Vp) {
#pragma omp parallel for
    for (int r = 0; r < BT; r++) {
        const float *p = probs + (size_t)r * Vp;
        float *d = dlogits + (size_t)r * Vp;
        for (int i = 0; i < V; i++) d[i] = p[i] * dloss;
        d[targets[r]] -= dloss;
        for (int i = V; i < Vp; i++) d[i] = 0.0f;
    }
}
