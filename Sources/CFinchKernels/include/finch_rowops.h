#ifndef FINCH_ROWOPS_H
#define FINCH_ROWOPS_H
#include <stddef.h>

// Row kernels of a training step's pointwise ops (RMSNorm, rotary embeddings), one row per call.
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

#endif
