#ifndef FINCH_VECMATH_H
#define FINCH_VECMATH_H
#include <stddef.h>

// Row kernels built on a vectorised exp (AVX-512: Cephes-style range reduction x = n·ln2 + r,
// degree-6 polynomial for e^r, scaled by 2^n; relative error within a few ulp of expf, inputs
// below -104 give 0, NaN stays NaN). Each has a scalar reference (`_ref`, libm expf) beside it;
// the plain names pick AVX-512 at run time and use the reference elsewhere.

/// 1 when the AVX-512 versions are in use.
int finch_vecmath_has_avx512(void);

/// y[i] = exp(x[i]) (y may be x).
void finch_exp_f32(const float *x, float *y, size_t n);
void finch_exp_f32_ref(const float *x, float *y, size_t n);

/// max over x[0:n] (-inf for n == 0).
float finch_max_f32(const float *x, size_t n);
float finch_max_f32_ref(const float *x, size_t n);

/// y[i] = exp(x[i] - shift) (y may be x); returns Σ y[i], accumulated in f32 lanes.
float finch_exp_shift_sum_f32(const float *x, float *y, size_t n, float shift);
float finch_exp_shift_sum_f32_ref(const float *x, float *y, size_t n, float shift);

/// Σ exp(x[i] - shift) without storing.
float finch_sum_exp_shift_f32(const float *x, size_t n, float shift);
float finch_sum_exp_shift_f32_ref(const float *x, size_t n, float shift);

/// Attention's backward over one causal block of scores, `heads` × `rows` rows of `keys` (head after head; row i
/// of a head sees the first min(keys, valid0 + i) keys), in one sweep: P = exp(S − lse) over S and
/// dS = P ⊙ (dP − D) over dP at the visible keys, both 0 past them. lse[h·lse_stride + i] and d[h·rows + i]
/// are row i of head h's log-sum-exp and D = rowsum(dO ⊙ O).
void finch_attention_grad_rows_f32(float *s, float *dp, size_t heads, size_t rows, size_t keys, size_t valid0,
                                   const float *lse, size_t lse_stride, const float *d);
void finch_attention_grad_rows_f32_ref(float *s, float *dp, size_t heads, size_t rows, size_t keys, size_t valid0,
                                       const float *lse, size_t lse_stride, const float *d);
/// One row of it: `valid` visible keys of `n`.
void finch_attention_grad_row_f32_ref(float *s, float *dp, size_t valid, size_t n, float lse, float d);

/// Attention's forward softmax over one causal block of scores, `heads` × `rows` rows of `keys` (head after head; row
/// i of a head sees the first min(keys, valid0 + i) keys), in one call: each row becomes exp(s − max) at its visible
/// keys and 0 past them, inv[h·rows + i] = 1 / Σ and lse[h·lse_stride + i] = max + log Σ. One call a block, not
/// three a row: rows are short (32–256 keys), and per-row calls each paid the ISA dispatch.
void finch_attention_softmax_rows_f32(float *s, size_t heads, size_t rows, size_t keys, size_t valid0, float *inv,
                                      float *lse, size_t lse_stride);
void finch_attention_softmax_rows_f32_ref(float *s, size_t heads, size_t rows, size_t keys, size_t valid0, float *inv,
                                          float *lse, size_t lse_stride);

/// out = silu(g) · u = g / (1 + exp(-g)) · u
void finch_swiglu_f32(const float *g, const float *u, float *out, size_t n);
void finch_swiglu_f32_ref(const float *g, const float *u, float *out, size_t n);

/// s = σ(g): dup = dout · g · s,  dgate = dout · u · s · (1 + g · (1 - s))
void finch_swiglu_backward_f32(const float *g, const float *u, const float *dout, float *dg, float *du, size_t n);
void finch_swiglu_backward_f32_ref(const float *g, const float *u, const float *dout, float *dg, float *du, size_t n);

/// The same, also writing h = silu(g) · u as finch_swiglu_f32 computes it (to the bit).
void finch_swiglu_backward_h_f32(const float *g, const float *u, const float *dout, float *dg, float *du, float *h, size_t n);
void finch_swiglu_backward_h_f32_ref(const float *g, const float *u, const float *dout, float *dg, float *du, float *h,
                                     size_t n);

/// Floats of scratch finch_swiglu_lora_backward_f32 takes (one thread's): rows of h that stay in L2 with dA.
#define FINCH_SWIGLU_LORA_SCRATCH 131072

/// The SwiGLU backward of an MLP whose down projection carries a LoRA branch y += s·(h·Aᵀ)·Bᵀ, with that branch's
/// dA, over `rows` contiguous rows of `cols` (one thread's share): dg and du as finch_swiglu_backward_f32, and
/// dA = dxaᵀ · h (r × cols, written, not added) with h = silu(g) · u rebuilt in `scratch`
/// (FINCH_SWIGLU_LORA_SCRATCH floats) a block of rows at a time, so the forward need not keep h (rows × cols floats
/// a layer) and dA's product reads it from cache. dxa: rows × r, row-major. Threads take shares of the rows,
/// each into its own dA, and add them.
void finch_swiglu_lora_backward_f32(const float *g, const float *u, const float *dh, float *dg, float *du, size_t rows,
                                    size_t cols, const float *dxa, size_t r, float *da, float *scratch);

#endif
