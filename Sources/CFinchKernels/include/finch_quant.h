#ifndef FINCH_QUANT_H
#define FINCH_QUANT_H
#include <stdint.h>
#include <stddef.h>

// Quantized matrix-vector products for decode, as llama.cpp does them: the activation vector x is
// quantized on the fly to 8-bit blocks of 32 (scale d, and s = d * sum(q) for formats with a minimum),
// then each weight row (GGUF blocks, row-major, cols a multiple of 32) is dotted block by block in
// integers. Each kernel has a scalar reference beside an AVX2 version chosen at run time.

/// One block of the quantized activation vector (an in-memory format, never written to files).
typedef struct {
    float d;        // scale: x ≈ d * qs
    float s;        // d * sum(qs), for the Q4_1 minimum term
    int8_t qs[32];
} finch_q8x_block;

/// 1 when the CPU has AVX2, FMA and F16C (what the fast kernels below use).
int finch_quant_has_avx2(void);

/// Quantizes cols floats (a multiple of 32) into cols/32 blocks: d = max|x|/127, qs = round(x/d).
void finch_quantize_q8x(const float *x, finch_q8x_block *xq, size_t cols);
void finch_quantize_q8x_scalar(const float *x, finch_q8x_block *xq, size_t cols);
void finch_quantize_q8x_avx2(const float *x, finch_q8x_block *xq, size_t cols);

/// y[r] = W[r,:] · x for r in [row_begin, row_end). w points at row 0 of the matrix; y at y[0].
/// The plain names follow finch_isa_active() (finch_isa.h); _scalar, _avx2 and _avx512 are the
/// implementations (each falls back to the next lower one on CPUs without it; _avx512 is the
/// AVX-512 VNNI vpdpbusd kernel for Q4_0 / Q4_1 / Q8_0, and the AVX2 one for the K-quants).
void finch_matvec_q4_0(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q4_1(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q8_0(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q4_0_scalar(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q4_1_scalar(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q8_0_scalar(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
// K-quants (cols a multiple of 256): each 32-value activation block lines up with one Q4_K sub-block
// and with two Q6_K sub-blocks of 16.
void finch_matvec_q4_K(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q6_K(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q4_K_scalar(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q6_K_scalar(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q4_K_avx2(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q6_K_avx2(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q4_0_avx2(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q4_1_avx2(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q8_0_avx2(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q4_0_avx512(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q4_1_avx512(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q8_0_avx512(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q4_K_avx512(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);
void finch_matvec_q6_K_avx512(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols);

#endif
