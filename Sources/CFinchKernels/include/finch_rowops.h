#ifndef FINCH_ROWOPS_H
#define FINCH_ROWOPS_H
#include <stddef.h>

// Row kernels of a training step's pointwise ops (RMSNorm, rotary embeddings), one row per call, and the
// optimizer's passes over a range of a parameter (AdamW, the sum of squares behind gradient clipping).
// Each has a scalar reference (`_ref`) beside it; the plain names pick AVX-512 / AVX2 / the reference
// through the ISA table (finch_isa.h). Vector sums run in lanes, so results differ from the
// references by rounding only (tests state the tolerance).

/// out = x · rstd ⊙ w with rstd = 1 / sqrt(mean(x²) + eps) over c elements; returns rstd.
float finch_rmsnorm_f32(const float *x, const float *w, float *out, size_t c, float eps);
float finch_rmsnorm_f32_ref(const float *x, const float *w, float *out, size_t c, float eps);

/// The same of sum = x + a, written as well (a residual add fused with the norm that reads it).
float finch_add_rmsnorm_f32(const float *x, const float *a, float *sum, const float *w, float *out, size_t c, float eps);
float finch_add_rmsnorm_f32_ref(const float *x, const float *a, float *sum, const float *w, float *out, size_t c, float eps);

/// dx = rstd · (dy⊙w − x̂ · mean(dy⊙w⊙x̂)) with x̂ = x · rstd; added onto dx when accumulate != 0.
void finch_rmsnorm_backward_f32(const float *x, const float *w, const float *dy, float rstd, float *dx, size_t c, int accumulate);
void finch_rmsnorm_backward_f32_ref(const float *x, const float *w, const float *dy, float rstd, float *dx, size_t c, int accumulate);

/// One row of `heads` heads of size 2·half in the "rotate_half" layout: out[i] = a·cos − b·sin,
/// out[i + half] = b·cos + a·sin with a = x[i], b = x[i + half], sin times `sign` (−1: the inverse
/// rotation, the backward). out may be x.
void finch_rope_f32(const float *x, const float *cos, const float *sin, float *out, size_t heads, size_t half, float sign);
void finch_rope_f32_ref(const float *x, const float *cos, const float *sin, float *out, size_t heads, size_t half, float sign);

/// One AdamW step's scalars (bias corrections folded in, as `AdamWStep` in Swift).
typedef struct {
    float beta1, beta2, eps;
    float step_size;  // lr / (1 − β1ᵗ)
    float bc2_sqrt;   // √(1 − β2ᵗ)
    float decay;      // 1 − lr · weight decay
} finch_adamw_hyper;

/// PyTorch's AdamW over n elements of a parameter p, its gradient g and moments m, v: p ← p·decay;
/// m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²; p ← p − step_size · m / (√v / bc2_sqrt + eps). The vector
/// versions do the reference's operations lane by lane (no FMA), so they equal it bit for bit.
void finch_adamw_f32(float *p, const float *g, float *m, float *v, size_t n, const finch_adamw_hyper *h);
void finch_adamw_f32_ref(float *p, const float *g, float *m, float *v, size_t n, const finch_adamw_hyper *h);

/// Σ x² over n elements: in f32 (lanes) over blocks of FINCH_SUM_SQUARES_BLOCK elements, the blocks' sums added
/// in f64, so long vectors keep their precision.
#define FINCH_SUM_SQUARES_BLOCK 4096
double finch_sum_squares_f32(const float *x, size_t n);
double finch_sum_squares_f32_ref(const float *x, size_t n);

#endif
