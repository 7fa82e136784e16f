#ifndef FINCH_SGEMV_H
#define FINCH_SGEMV_H
#include <stddef.h>

// Rows of an f32 matrix-vector product, for the one-call decoder's LoRA branches: x̂·Aᵀ (A rank × in) when a
// phase opens, then each chunk's rows of B (out × rank) times that. W is row-major, `cols` floats a row.
//   y[r] = (accumulate ? y[r] : 0) + alpha · W[r,:]·x     for r in [row_begin, row_end)
// The plain name follows finch_isa_active() (AVX-512, AVX2 + FMA, or the scalar reference).
void finch_sgemv_rows(const float *w, const float *x, float *y, size_t row_begin, size_t row_end, size_t cols, float alpha, int accumulate);
void finch_sgemv_rows_scalar(const float *w, const float *x, float *y, size_t row_begin, size_t row_end, size_t cols, float alpha, int accumulate);

#endif
