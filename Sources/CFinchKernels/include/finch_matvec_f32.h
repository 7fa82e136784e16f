#ifndef FINCH_MATVEC_F32_H
#define FINCH_MATVEC_F32_H
#include <stddef.h>

// y[r] = W[r,:] · x for rows [row_begin, row_end) of a row-major quantized matrix, with f32
// activations: each block is decoded in registers and multiplied in f32, so the result equals
// dequantize-then-f32-dot up to summation order (what transformers computes on dequantized
// weights), unlike the 8-bit-activation kernels. `xsum` holds the sum of x over each 32-block
// (needed by Q4_1's offset term). Scalar references beside the AVX2 versions.
void finch_matvec_f32x_q4_0(const void *w, const float *x, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_f32x_q4_1(const void *w, const float *x, const float *xsum, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_f32x_q8_0(const void *w, const float *x, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_f32x_q4_0_scalar(const void *w, const float *x, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_f32x_q4_1_scalar(const void *w, const float *x, const float *xsum, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_f32x_q8_0_scalar(const void *w, const float *x, float *y, size_t row_begin, size_t row_end, size_t cols);


// The same for nx rows of x at once (x rows ldx floats apart, xsum's ldxs apart, y's ldy apart: y[i·ldy + r]), each
// block decoded once for all the rows; every output equals the one-row kernel's at the same level.
void finch_matrows_f32x_q4_0(const void *w, const float *x, size_t ldx, size_t nx, float *y, size_t ldy, size_t row_begin, size_t row_end, size_t cols);
void finch_matrows_f32x_q4_1(const void *w, const float *x, size_t ldx, const float *xsum, size_t ldxs, size_t nx, float *y, size_t ldy, size_t row_begin, size_t row_end, size_t cols);
void finch_matrows_f32x_q8_0(const void *w, const float *x, size_t ldx, size_t nx, float *y, size_t ldy, size_t row_begin, size_t row_end, size_t cols);
void finch_matrows_f32x_q4_0_scalar(const void *w, const float *x, size_t ldx, size_t nx, float *y, size_t ldy, size_t row_begin, size_t row_end, size_t cols);
void finch_matrows_f32x_q4_1_scalar(const void *w, const float *x, size_t ldx, const float *xsum, size_t ldxs, size_t nx, float *y, size_t ldy, size_t row_begin, size_t row_end, size_t cols);
void finch_matrows_f32x_q8_0_scalar(const void *w, const float *x, size_t ldx, size_t nx, float *y, size_t ldy, size_t row_begin, size_t row_end, size_t cols);

#endif
