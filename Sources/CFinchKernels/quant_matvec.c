// Quantized matrix-vector kernels (see finch_quant.h). Block layouts are GGUF's (ggml-common.h):
//   Q4_0: f16 d, u8 qs[16]        value j = ((qs[j%16] >> 4*(j/16)) & 0xF) - 8, times d
//   Q4_1: f16 d, f16 m, u8 qs[16] value j = (nibble j) * d + m
//   Q8_0: f16 d, i8 qs[32]        value j = qs[j] * d
// Per block the dot product is an exact integer sum; only the per-block scaling is floating point.
#include "finch_kernels.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { QK = 32, Q4_0_BYTES = 18, Q4_1_BYTES = 20, Q8_0_BYTES = 34 };

int finch_quant_has_avx2(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c") ? 1 : 0;
    }
    return cached;
#else
    return 0;
#endif
}

static inline float f16_to_f32(const uint8_t *p) {
    uint16_t h = (uint16_t)(p[0] | (p[1] << 8));
    float f;
    finch_f16_to_f32_scalar(&h, &f, 1);
    return f;
}

void finch_quantize_q8x(const float *x, finch_q8x_block *xq, size_t cols) {
    for (size_t b = 0; b < cols / QK; b++) {
        const float *v = x + b * QK;
        float amax = 0.0f;
        for (int j = 0; j < QK; j++) { float a = fabsf(v[j]); if (a > amax) amax = a; }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK; j++) {
            float r = roundf(v[j] * id);
            int q = r != r ? 0 : (r > 127.0f ? 127 : (r < -127.0f ? -127 : (int)r));  // NaN → 0
            xq[b].qs[j] = (int8_t)q;
            sum += q;
        }
        xq[b].d = d;
        xq[b].s = d * (float)sum;
    }
}

// ---- scalar references -------------------------------------------------------------------------

void finch_matvec_q4_0_scalar(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols) {
    const size_t nb = cols / QK;
    for (size_t r = row_begin; r < row_end; r++) {
        const uint8_t *row = (const uint8_t *)w + r * nb * Q4_0_BYTES;
        float sum = 0.0f;
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * Q4_0_BYTES;
            int isum = 0;
            for (int j = 0; j < 16; j++) {
                isum += ((blk[2 + j] & 0xF) - 8) * xq[b].qs[j];
                isum += ((blk[2 + j] >> 4) - 8) * xq[b].qs[j + 16];
            }
            sum += f16_to_f32(blk) * xq[b].d * (float)isum;
        }
        y[r] = sum;
    }
}

void finch_matvec_q4_1_scalar(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols) {
    const size_t nb = cols / QK;
    for (size_t r = row_begin; r < row_end; r++) {
        const uint8_t *row = (const uint8_t *)w + r * nb * Q4_1_BYTES;
        float sum = 0.0f;
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * Q4_1_BYTES;
            int isum = 0;
            for (int j = 0; j < 16; j++) {
                isum += (blk[4 + j] & 0xF) * xq[b].qs[j];
                isum += (blk[4 + j] >> 4) * xq[b].qs[j + 16];
            }
            // sum_j (q_j d_w + m) (x_j d_x) = d_w d_x Σ q_j x_j + m · d_x Σ x_j
            sum += f16_to_f32(blk) * xq[b].d * (float)isum + f16_to_f32(blk + 2) * xq[b].s;
        }
        y[r] = sum;
    }
}

void finch_matvec_q8_0_scalar(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols) {
    const size_t nb = cols / QK;
    for (size_t r = row_begin; r < row_end; r++) {
        const uint8_t *row = (const uint8_t *)w + r * nb * Q8_0_BYTES;
        float sum = 0.0f;
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * Q8_0_BYTES;
            const int8_t *qs = (const int8_t *)(blk + 2);
            int isum = 0;
            for (int j = 0; j < QK; j++) isum += qs[j] * xq[b].qs[j];
            sum += f16_to_f32(blk) * xq[b].d * (float)isum;
        }
        y[r] = sum;
    }
}

// ---- AVX2 --------------------------------------------------------------------------------------
#if defined(__x86_64__)
#define FINCH_AVX2 __attribute__((target("avx2,fma,f16c")))

FINCH_AVX2 static inline float load_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

// 16 bytes of nibbles → 32 bytes: low nibbles are elements 0..15, high nibbles 16..31.
FINCH_AVX2 static inline __m256i nibbles_32(const uint8_t *p) {
    const __m128i tmp = _mm_loadu_si128((const __m128i *)p);
    const __m256i both = _mm256_insertf128_si256(_mm256_castsi128_si256(tmp), _mm_srli_epi16(tmp, 4), 1);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// Σ over pairs of unsigned a × signed b, widened to 8 i32 lanes as floats. |a·b| sums fit in i16
// because activation bytes are in [-127, 127] and weights in [0, 128].
FINCH_AVX2 static inline __m256 dot_us8(const __m256i a, const __m256i b) {
    const __m256i pairs = _mm256_maddubs_epi16(a, b);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// Signed × signed: move the sign of a onto b (llama.cpp's mul_sum_i8_pairs). a may be -128.
FINCH_AVX2 static inline __m256 dot_s8(const __m256i a, const __m256i b) {
    return dot_us8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

FINCH_AVX2 static inline float hsum(const __m256 x) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

// Q4_0 as unsigned nibbles n = q + 8: Σ (n - 8)·x = Σ n·x - 8·Σ x, and d_x·Σ x_q is the block's s,
// so the signed fix-up costs one scalar multiply-add per block instead of two sign instructions.
FINCH_AVX2 static void q4_0_avx2(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols) {
    const size_t nb = cols / QK;
    for (size_t r = row_begin; r < row_end; r++) {
        const uint8_t *row = (const uint8_t *)w + r * nb * Q4_0_BYTES;
        // Two independent accumulators so consecutive blocks' FMAs do not wait on each other.
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        float offset = 0.0f;
        size_t b = 0;
        for (; b + 2 <= nb; b += 2) {
            const uint8_t *b0 = row + b * Q4_0_BYTES, *b1 = b0 + Q4_0_BYTES;
            const float d0 = load_f16(b0), d1 = load_f16(b1);
            const __m256 p0 = dot_us8(nibbles_32(b0 + 2), _mm256_loadu_si256((const __m256i *)xq[b].qs));
            const __m256 p1 = dot_us8(nibbles_32(b1 + 2), _mm256_loadu_si256((const __m256i *)xq[b + 1].qs));
            acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0 * xq[b].d), p0, acc0);
            acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d1 * xq[b + 1].d), p1, acc1);
            offset += d0 * xq[b].s + d1 * xq[b + 1].s;
        }
        for (; b < nb; b++) {
            const uint8_t *blk = row + b * Q4_0_BYTES;
            const float d = load_f16(blk);
            acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d * xq[b].d), dot_us8(nibbles_32(blk + 2), _mm256_loadu_si256((const __m256i *)xq[b].qs)), acc0);
            offset += d * xq[b].s;
        }
        y[r] = hsum(_mm256_add_ps(acc0, acc1)) - 8.0f * offset;
    }
}

FINCH_AVX2 static void q4_1_avx2(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols) {
    const size_t nb = cols / QK;
    for (size_t r = row_begin; r < row_end; r++) {
        const uint8_t *row = (const uint8_t *)w + r * nb * Q4_1_BYTES;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        float mins = 0.0f;
        size_t b = 0;
        for (; b + 2 <= nb; b += 2) {
            const uint8_t *b0 = row + b * Q4_1_BYTES, *b1 = b0 + Q4_1_BYTES;
            const __m256 p0 = dot_us8(nibbles_32(b0 + 4), _mm256_loadu_si256((const __m256i *)xq[b].qs));
            const __m256 p1 = dot_us8(nibbles_32(b1 + 4), _mm256_loadu_si256((const __m256i *)xq[b + 1].qs));
            acc0 = _mm256_fmadd_ps(_mm256_set1_ps(load_f16(b0) * xq[b].d), p0, acc0);
            acc1 = _mm256_fmadd_ps(_mm256_set1_ps(load_f16(b1) * xq[b + 1].d), p1, acc1);
            mins += load_f16(b0 + 2) * xq[b].s + load_f16(b1 + 2) * xq[b + 1].s;
        }
        for (; b < nb; b++) {
            const uint8_t *blk = row + b * Q4_1_BYTES;
            acc0 = _mm256_fmadd_ps(_mm256_set1_ps(load_f16(blk) * xq[b].d), dot_us8(nibbles_32(blk + 4), _mm256_loadu_si256((const __m256i *)xq[b].qs)), acc0);
            mins += load_f16(blk + 2) * xq[b].s;
        }
        y[r] = hsum(_mm256_add_ps(acc0, acc1)) + mins;
    }
}

FINCH_AVX2 static void q8_0_avx2(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols) {
    const size_t nb = cols / QK;
    for (size_t r = row_begin; r < row_end; r++) {
        const uint8_t *row = (const uint8_t *)w + r * nb * Q8_0_BYTES;
        __m256 acc = _mm256_setzero_ps();
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * Q8_0_BYTES;
            const __m256 d = _mm256_set1_ps(load_f16(blk) * xq[b].d);
            const __m256i qw = _mm256_loadu_si256((const __m256i *)(blk + 2));
            const __m256i qx = _mm256_loadu_si256((const __m256i *)xq[b].qs);
            acc = _mm256_fmadd_ps(d, dot_s8(qw, qx), acc);
        }
        y[r] = hsum(acc);
    }
}
#endif

#if defined(__x86_64__)
#define DISPATCH(name)                                                                                          \
    void finch_matvec_##name##_avx2(const void *w, const finch_q8x_block *xq, float *y, size_t rb, size_t re, size_t cols) { \
        if (finch_quant_has_avx2()) name##_avx2(w, xq, y, rb, re, cols); else finch_matvec_##name##_scalar(w, xq, y, rb, re, cols); \
    }                                                                                                           \
    void finch_matvec_##name(const void *w, const finch_q8x_block *xq, float *y, size_t rb, size_t re, size_t cols) { \
        finch_matvec_##name##_avx2(w, xq, y, rb, re, cols);                                                     \
    }
#else
#define DISPATCH(name)                                                                                          \
    void finch_matvec_##name##_avx2(const void *w, const finch_q8x_block *xq, float *y, size_t rb, size_t re, size_t cols) { \
        finch_matvec_##name##_scalar(w, xq, y, rb, re, cols);                                                   \
    }                                                                                                           \
    void finch_matvec_##name(const void *w, const finch_q8x_block *xq, float *y, size_t rb, size_t re, size_t cols) { \
        finch_matvec_##name##_scalar(w, xq, y, rb, re, cols);                                                   \
    }
#endif
DISPATCH(q4_0)
DISPATCH(q4_1)
DISPATCH(q8_0)
