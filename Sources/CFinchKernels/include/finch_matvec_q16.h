#ifndef FINCH_MATVEC_Q16_H
#define FINCH_MATVEC_Q16_H
#include <stdint.h>
#include <stddef.h>

// Mat-vecs with 16-bit activations, the decoder's default arithmetic: x is quantized per 32-block to int16
// (d = max|x|/32767: 2⁻¹⁶ of the block's largest value, vs 2⁻⁸ for llama.cpp's 8-bit blocks) and dotted
// with Q4_0 / Q4_1 / Q8_0 weight blocks widened to int16 (pmaddwd): about the 8-bit kernels' instruction
// count, and the f32 path's numbers to ~1e-4 of the output's size. Scalar reference beside the AVX2 and AVX-512 (BW) kernels;
// _avx2 / _avx512 fall back to the next lower level on CPUs without it.

/// One block of the 16-bit activation vector (an in-memory format, never written to files).
typedef struct {
    int16_t qs[32];
    float d;    // scale: x ≈ d * qs
    float s;    // Σ x over the block in f32 (Q4_1's offset term, exact)
} finch_q16x_block;

/// Quantizes cols floats (a multiple of 32) into cols/32 blocks: d = max|x|/32767, qs = round(x/d) (ties to even).
void finch_quantize_q16x(const float *x, finch_q16x_block *xq, size_t cols);
void finch_quantize_q16x_scalar(const float *x, finch_q16x_block *xq, size_t cols);
void finch_quantize_q16x_avx2(const float *x, finch_q16x_block *xq, size_t cols);

/// y[r] = W[r,:] · x for r in [row_begin, row_end); the plain names follow finch_isa_active().
void finch_matvec_q16_q4_0(const void *w, const finch_q16x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q16_q4_1(const void *w, const finch_q16x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q16_q8_0(const void *w, const finch_q16x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q16_q4_0_scalar(const void *w, const finch_q16x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q16_q4_1_scalar(const void *w, const finch_q16x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q16_q8_0_scalar(const void *w, const finch_q16x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q16_q4_0_avx2(const void *w, const finch_q16x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q16_q4_1_avx2(const void *w, const finch_q16x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q16_q8_0_avx2(const void *w, const finch_q16x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q16_q4_0_avx512(const void *w, const finch_q16x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q16_q4_1_avx512(const void *w, const finch_q16x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q16_q8_0_avx512(const void *w, const finch_q16x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);

#endif
