#include "finch_matvec_f32.h"
#include "finch_kernels.h"
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static inline float h2f(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    float f;
    finch_f16_to_f32_scalar(&h, &f, 1);
    return f;
}

// ---- scalar references -------------------------------------------------------------------

void finch_matvec_f32x_q4_0_scalar(const void *w, const float *x, float *y, size_t rb, size_t re, size_t cols) {
    const size_t nb = cols / 32, rowBytes = nb * 18;
    for (size_t r = rb; r < re; r++) {
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;
        float acc = 0;
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * 18;
            const float d = h2f(blk);
            const float *xb = x + b * 32;
            float s = 0;
            for (int j = 0; j < 16; j++) {
                s += (float)((int)(blk[2 + j] & 0xF) - 8) * xb[j];
                s += (float)((int)(blk[2 + j] >> 4) - 8) * xb[j + 16];
            }
            acc += d * s;
        }
        y[r] = acc;
    }
}

void finch_matvec_f32x_q4_1_scalar(const void *w, const float *x, const float *xsum, float *y, size_t rb, size_t re, size_t cols) {
    const size_t nb = cols / 32, rowBytes = nb * 20;
    for (size_t r = rb; r < re; r++) {
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;
        float acc = 0;
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * 20;
            const float d = h2f(blk), m = h2f(blk + 2);
            const float *xb = x + b * 32;
            float s = 0;
            for (int j = 0; j < 16; j++) {
                s += (float)(blk[4 + j] & 0xF) * xb[j];
                s += (float)(blk[4 + j] >> 4) * xb[j + 16];
            }
            acc += d * s + m * xsum[b];
        }
        y[r] = acc;
    }
}

void finch_matvec_f32x_q8_0_scalar(const void *w, const float *x, float *y, size_t rb, size_t re, size_t cols) {
    const size_t nb = cols / 32, rowBytes = nb * 34;
    for (size_t r = rb; r < re; r++) {
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;
        float acc = 0;
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * 34;
            const float d = h2f(blk);
            const int8_t *q = (const int8_t *)(blk + 2);
            const float *xb = x + b * 32;
            float s = 0;
            for (int j = 0; j < 32; j++) s += (float)q[j] * xb[j];
            acc += d * s;
        }
        y[r] = acc;
    }
}

// ---- AVX2 --------------------------------------------------------------------------------
#if defined(__x86_64__)
__attribute__((target("avx2,fma,f16c")))
static inline float hsum8(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma,f16c")))
static inline float h2f_fast(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

__attribute__((target("avx2,fma,f16c")))
static inline __m256 u8x8_to_f32(__m128i bytes) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)); }

// Σ over one 32-block of nibble values (low nibbles → xb[0..15], high → xb[16..31]) times x, as a vector.
__attribute__((target("avx2,fma,f16c")))
static inline __m256 nibble_dot(const uint8_t *qs, const float *xb, __m256 bias) {
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    __m128i lo = _mm_and_si128(q, _mm_set1_epi8(0xF));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0xF));
    __m256 s = _mm256_mul_ps(_mm256_add_ps(u8x8_to_f32(lo), bias), _mm256_loadu_ps(xb));
    s = _mm256_fmadd_ps(_mm256_add_ps(u8x8_to_f32(_mm_srli_si128(lo, 8)), bias), _mm256_loadu_ps(xb + 8), s);
    s = _mm256_fmadd_ps(_mm256_add_ps(u8x8_to_f32(hi), bias), _mm256_loadu_ps(xb + 16), s);
    s = _mm256_fmadd_ps(_mm256_add_ps(u8x8_to_f32(_mm_srli_si128(hi, 8)), bias), _mm256_loadu_ps(xb + 24), s);
    return s;
}

__attribute__((target("avx2,fma,f16c")))
static inline __m256 nibble_dot_nobias(const uint8_t *qs, const float *xb) {
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    __m128i lo = _mm_and_si128(q, _mm_set1_epi8(0xF));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0xF));
    __m256 s = _mm256_mul_ps(u8x8_to_f32(lo), _mm256_loadu_ps(xb));
    s = _mm256_fmadd_ps(u8x8_to_f32(_mm_srli_si128(lo, 8)), _mm256_loadu_ps(xb + 8), s);
    s = _mm256_fmadd_ps(u8x8_to_f32(hi), _mm256_loadu_ps(xb + 16), s);
    s = _mm256_fmadd_ps(u8x8_to_f32(_mm_srli_si128(hi, 8)), _mm256_loadu_ps(xb + 24), s);
    return s;
}

__attribute__((target("avx2,fma,f16c")))
static void q4_0_avx2(const void *w, const float *x, float *y, size_t rb, size_t re, size_t cols) {
    const size_t nb = cols / 32, rowBytes = nb * 18;
    const __m256 minus8 = _mm256_set1_ps(-8.0f);
    for (size_t r = rb; r < re; r++) {
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;
        __m256 acc = _mm256_setzero_ps();
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * 18;
            acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f_fast(blk)), nibble_dot(blk + 2, x + b * 32, minus8), acc);
        }
        y[r] = hsum8(acc);
    }
}

__attribute__((target("avx2,fma,f16c")))
static void q4_1_avx2(const void *w, const float *x, const float *xsum, float *y, size_t rb, size_t re, size_t cols) {
    const size_t nb = cols / 32, rowBytes = nb * 20;
    for (size_t r = rb; r < re; r++) {
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;
        __m256 acc = _mm256_setzero_ps();
        float macc = 0;
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * 20;
            acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f_fast(blk)), nibble_dot_nobias(blk + 4, x + b * 32), acc);
            macc += h2f_fast(blk + 2) * xsum[b];
        }
        y[r] = hsum8(acc) + macc;
    }
}

__attribute__((target("avx2,fma,f16c")))
static void q8_0_avx2(const void *w, const float *x, float *y, size_t rb, size_t re, size_t cols) {
    const size_t nb = cols / 32, rowBytes = nb * 34;
    for (size_t r = rb; r < re; r++) {
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;
        __m256 acc = _mm256_setzero_ps();
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * 34;
            const int8_t *q = (const int8_t *)(blk + 2);
            const float *xb = x + b * 32;
            __m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)q))), _mm256_loadu_ps(xb));
            s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + 8)))), _mm256_loadu_ps(xb + 8), s);
            s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + 16)))), _mm256_loadu_ps(xb + 16), s);
            s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + 24)))), _mm256_loadu_ps(xb + 24), s);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f_fast(blk)), s, acc);
        }
        y[r] = hsum8(acc);
    }
}

// ---- AVX-512 (16 lanes: one conversion per half-block) ------------------------------------
__attribute__((target("avx512f,avx512bw,f16c")))
static inline float h2f_512(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

// Σ q_j x_j over one 32-block of nibbles (low nibbles → xb[0..15], high → xb[16..31]), plus `bias` per q.
__attribute__((target("avx512f,avx512bw,f16c")))
static inline __m512 nibble_dot_512(const uint8_t *qs, const float *xb, __m512 bias) {
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    __m128i lo = _mm_and_si128(q, _mm_set1_epi8(0xF));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0xF));
    __m512 flo = _mm512_add_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(lo)), bias);
    __m512 fhi = _mm512_add_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(hi)), bias);
    return _mm512_fmadd_ps(fhi, _mm512_loadu_ps(xb + 16), _mm512_mul_ps(flo, _mm512_loadu_ps(xb)));
}

__attribute__((target("avx512f,avx512bw,f16c")))
static void q4_0_avx512(const void *w, const float *x, float *y, size_t rb, size_t re, size_t cols) {
    const size_t nb = cols / 32, rowBytes = nb * 18;
    const __m512 minus8 = _mm512_set1_ps(-8.0f);
    for (size_t r = rb; r < re; r++) {
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;
        __m512 acc = _mm512_setzero_ps();
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * 18;
            acc = _mm512_fmadd_ps(_mm512_set1_ps(h2f_512(blk)), nibble_dot_512(blk + 2, x + b * 32, minus8), acc);
        }
        y[r] = _mm512_reduce_add_ps(acc);
    }
}

__attribute__((target("avx512f,avx512bw,f16c")))
static void q4_1_avx512(const void *w, const float *x, const float *xsum, float *y, size_t rb, size_t re, size_t cols) {
    const size_t nb = cols / 32, rowBytes = nb * 20;
    const __m512 zero = _mm512_setzero_ps();
    for (size_t r = rb; r < re; r++) {
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;
        __m512 acc = _mm512_setzero_ps();
        float macc = 0;
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * 20;
            acc = _mm512_fmadd_ps(_mm512_set1_ps(h2f_512(blk)), nibble_dot_512(blk + 4, x + b * 32, zero), acc);
            macc += h2f_512(blk + 2) * xsum[b];
        }
        y[r] = _mm512_reduce_add_ps(acc) + macc;
    }
}

__attribute__((target("avx512f,avx512bw,f16c")))
static void q8_0_avx512(const void *w, const float *x, float *y, size_t rb, size_t re, size_t cols) {
    const size_t nb = cols / 32, rowBytes = nb * 34;
    for (size_t r = rb; r < re; r++) {
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;
        __m512 acc = _mm512_setzero_ps();
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * 34;
            const int8_t *q = (const int8_t *)(blk + 2);
            const float *xb = x + b * 32;
            __m512 s = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)q))), _mm512_loadu_ps(xb));
            s = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(q + 16)))), _mm512_loadu_ps(xb + 16), s);
            acc = _mm512_fmadd_ps(_mm512_set1_ps(h2f_512(blk)), s, acc);
        }
        y[r] = _mm512_reduce_add_ps(acc);
    }
}

static int has_avx512(void) { return finch_isa_active() >= FINCH_ISA_AVX512; }
#endif

void finch_matvec_f32x_q4_0(const void *w, const float *x, float *y, size_t rb, size_t re, size_t cols) {
#if defined(__x86_64__)
    if (has_avx512()) { q4_0_avx512(w, x, y, rb, re, cols); return; }
    if (finch_cpu_has_avx2()) { q4_0_avx2(w, x, y, rb, re, cols); return; }
#endif
    finch_matvec_f32x_q4_0_scalar(w, x, y, rb, re, cols);
}

void finch_matvec_f32x_q4_1(const void *w, const float *x, const float *xsum, float *y, size_t rb, size_t re, size_t cols) {
#if defined(__x86_64__)
    if (has_avx512()) { q4_1_avx512(w, x, xsum, y, rb, re, cols); return; }
    if (finch_cpu_has_avx2()) { q4_1_avx2(w, x, xsum, y, rb, re, cols); return; }
#endif
    finch_matvec_f32x_q4_1_scalar(w, x, xsum, y, rb, re, cols);
}

void finch_matvec_f32x_q8_0(const void *w, const float *x, float *y, size_t rb, size_t re, size_t cols) {
#if defined(__x86_64__)
    if (has_avx512()) { q8_0_avx512(w, x, y, rb, re, cols); return; }
    if (finch_cpu_has_avx2()) { q8_0_avx2(w, x, y, rb, re, cols); return; }
#endif
    finch_matvec_f32x_q8_0_scalar(w, x, y, rb, re, cols);
}
