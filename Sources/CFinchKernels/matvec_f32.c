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

// Several rows of x: y[i·ldy + r] = W[r,:] · x[i·ldx …] for i < nx (a short prompt's projections). The references
// run the one-row references row by row; the vector kernels below decode each block once for all the rows and give
// each output exactly what their one-row kernels give.
void finch_matrows_f32x_q4_0_scalar(const void *w, const float *x, size_t ldx, size_t nx, float *y, size_t ldy,
                                    size_t rb, size_t re, size_t cols) {
    for (size_t i = 0; i < nx; i++) finch_matvec_f32x_q4_0_scalar(w, x + i * ldx, y + i * ldy, rb, re, cols);
}

void finch_matrows_f32x_q4_1_scalar(const void *w, const float *x, size_t ldx, const float *xsum, size_t ldxs, size_t nx,
                                    float *y, size_t ldy, size_t rb, size_t re, size_t cols) {
    for (size_t i = 0; i < nx; i++) finch_matvec_f32x_q4_1_scalar(w, x + i * ldx, xsum + i * ldxs, y + i * ldy, rb, re, cols);
}

void finch_matrows_f32x_q8_0_scalar(const void *w, const float *x, size_t ldx, size_t nx, float *y, size_t ldy,
                                    size_t rb, size_t re, size_t cols) {
    for (size_t i = 0; i < nx; i++) finch_matvec_f32x_q8_0_scalar(w, x + i * ldx, y + i * ldy, rb, re, cols);
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
// ---- Several rows of x (FMT 0 = Q4_0, 1 = Q4_1, 2 = Q8_0; R ≤ ROWS rows a pass) ------------------------------
// Each block is decoded once, then multiplied with each row's x by the same operations, in the same order, as the
// one-row kernels above (so every output equals theirs to the bit); R accumulators, one per row.
enum { ROWS = 8 };

__attribute__((target("avx2,fma,f16c"), always_inline))
static inline void rows_avx2(const int FMT, const int R, const void *w, const float *x, size_t ldx, const float *xsum,
                             size_t ldxs, float *y, size_t ldy, size_t rb, size_t re, size_t cols) {
    const size_t nb = cols / 32, bytes = FMT == 0 ? 18 : FMT == 1 ? 20 : 34, rowBytes = nb * bytes;
    const __m256 minus8 = _mm256_set1_ps(-8.0f);
    for (size_t r = rb; r < re; r++) {
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;
        __m256 acc[ROWS];
        float macc[ROWS];
        for (int i = 0; i < R; i++) { acc[i] = _mm256_setzero_ps(); macc[i] = 0; }
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * bytes;
            __m256 f[4];
            if (FMT == 2) {
                const int8_t *q = (const int8_t *)(blk + 2);
                for (int j = 0; j < 4; j++) f[j] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + 8 * j))));
            } else {
                __m128i q = _mm_loadu_si128((const __m128i *)(blk + (FMT == 0 ? 2 : 4)));
                __m128i lo = _mm_and_si128(q, _mm_set1_epi8(0xF));
                __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0xF));
                f[0] = u8x8_to_f32(lo), f[1] = u8x8_to_f32(_mm_srli_si128(lo, 8));
                f[2] = u8x8_to_f32(hi), f[3] = u8x8_to_f32(_mm_srli_si128(hi, 8));
                if (FMT == 0) for (int j = 0; j < 4; j++) f[j] = _mm256_add_ps(f[j], minus8);
            }
            const __m256 d = _mm256_set1_ps(h2f_fast(blk));
            const float mn = FMT == 1 ? h2f_fast(blk + 2) : 0;
            for (int i = 0; i < R; i++) {
                const float *xb = x + i * ldx + b * 32;
                __m256 s = _mm256_mul_ps(f[0], _mm256_loadu_ps(xb));
                s = _mm256_fmadd_ps(f[1], _mm256_loadu_ps(xb + 8), s);
                s = _mm256_fmadd_ps(f[2], _mm256_loadu_ps(xb + 16), s);
                s = _mm256_fmadd_ps(f[3], _mm256_loadu_ps(xb + 24), s);
                acc[i] = _mm256_fmadd_ps(d, s, acc[i]);
                if (FMT == 1) macc[i] += mn * xsum[i * ldxs + b];
            }
        }
        for (int i = 0; i < R; i++) y[i * ldy + r] = FMT == 1 ? hsum8(acc[i]) + macc[i] : hsum8(acc[i]);
    }
}

__attribute__((target("avx512f,avx512bw,f16c"), always_inline))
static inline void rows_avx512(const int FMT, const int R, const void *w, const float *x, size_t ldx, const float *xsum,
                               size_t ldxs, float *y, size_t ldy, size_t rb, size_t re, size_t cols) {
    const size_t nb = cols / 32, bytes = FMT == 0 ? 18 : FMT == 1 ? 20 : 34, rowBytes = nb * bytes;
    const __m512 bias = FMT == 0 ? _mm512_set1_ps(-8.0f) : _mm512_setzero_ps();
    for (size_t r = rb; r < re; r++) {
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;
        __m512 acc[ROWS];
        float macc[ROWS];
        for (int i = 0; i < R; i++) { acc[i] = _mm512_setzero_ps(); macc[i] = 0; }
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * bytes;
            __m512 flo, fhi;
            if (FMT == 2) {
                const int8_t *q = (const int8_t *)(blk + 2);
                flo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)q)));
                fhi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(q + 16))));
            } else {
                __m128i q = _mm_loadu_si128((const __m128i *)(blk + (FMT == 0 ? 2 : 4)));
                __m128i lo = _mm_and_si128(q, _mm_set1_epi8(0xF));
                __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0xF));
                flo = _mm512_add_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(lo)), bias);
                fhi = _mm512_add_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(hi)), bias);
            }
            const __m512 d = _mm512_set1_ps(h2f_512(blk));
            const float mn = FMT == 1 ? h2f_512(blk + 2) : 0;
            for (int i = 0; i < R; i++) {
                const float *xb = x + i * ldx + b * 32;
                __m512 s = _mm512_fmadd_ps(fhi, _mm512_loadu_ps(xb + 16), _mm512_mul_ps(flo, _mm512_loadu_ps(xb)));
                acc[i] = _mm512_fmadd_ps(d, s, acc[i]);
                if (FMT == 1) macc[i] += mn * xsum[i * ldxs + b];
            }
        }
        for (int i = 0; i < R; i++) y[i * ldy + r] = FMT == 1 ? _mm512_reduce_add_ps(acc[i]) + macc[i] : _mm512_reduce_add_ps(acc[i]);
    }
}

// R = 1 … ROWS as compile-time constants (the accumulators stay in registers).
#define FINCH_ROWS_SWITCH(FN, FMT)                                                                                     \
    switch (R) {                                                                                                       \
    case 1: FN(FMT, 1, w, x, ldx, xsum, ldxs, y, ldy, rb, re, cols); break;                                           \
    case 2: FN(FMT, 2, w, x, ldx, xsum, ldxs, y, ldy, rb, re, cols); break;                                           \
    case 3: FN(FMT, 3, w, x, ldx, xsum, ldxs, y, ldy, rb, re, cols); break;                                           \
    case 4: FN(FMT, 4, w, x, ldx, xsum, ldxs, y, ldy, rb, re, cols); break;                                           \
    case 5: FN(FMT, 5, w, x, ldx, xsum, ldxs, y, ldy, rb, re, cols); break;                                           \
    case 6: FN(FMT, 6, w, x, ldx, xsum, ldxs, y, ldy, rb, re, cols); break;                                           \
    case 7: FN(FMT, 7, w, x, ldx, xsum, ldxs, y, ldy, rb, re, cols); break;                                           \
    default: FN(FMT, 8, w, x, ldx, xsum, ldxs, y, ldy, rb, re, cols); break;                                          \
    }
#define FINCH_ROWS_KERNEL(NAME, FN, FMT, TARGET)                                                                       \
    __attribute__((target(TARGET))) static void NAME(int R, const void *w, const float *x, size_t ldx,                  \
                                                      const float *xsum, size_t ldxs, float *y, size_t ldy, size_t rb, \
                                                      size_t re, size_t cols) {                                        \
        FINCH_ROWS_SWITCH(FN, FMT)                                                                                     \
    }
FINCH_ROWS_KERNEL(rows_q4_0_avx2, rows_avx2, 0, "avx2,fma,f16c")
FINCH_ROWS_KERNEL(rows_q4_1_avx2, rows_avx2, 1, "avx2,fma,f16c")
FINCH_ROWS_KERNEL(rows_q8_0_avx2, rows_avx2, 2, "avx2,fma,f16c")
FINCH_ROWS_KERNEL(rows_q4_0_avx512, rows_avx512, 0, "avx512f,avx512bw,f16c")
FINCH_ROWS_KERNEL(rows_q4_1_avx512, rows_avx512, 1, "avx512f,avx512bw,f16c")
FINCH_ROWS_KERNEL(rows_q8_0_avx512, rows_avx512, 2, "avx512f,avx512bw,f16c")
#undef FINCH_ROWS_KERNEL
#undef FINCH_ROWS_SWITCH

typedef void (*rows_fn)(int, const void *, const float *, size_t, const float *, size_t, float *, size_t, size_t, size_t, size_t);

// The rows of x in passes of ROWS at the level the one-row kernels pick; 0 where none applies (the scalar level).
static int rows_vector(rows_fn f512, rows_fn f2, const void *w, const float *x, size_t ldx, const float *xsum, size_t ldxs,
                       size_t nx, float *y, size_t ldy, size_t rb, size_t re, size_t cols) {
    rows_fn f = has_avx512() ? f512 : finch_cpu_has_avx2() ? f2 : NULL;
    if (!f) return 0;
    for (size_t i0 = 0; i0 < nx; i0 += ROWS) {
        size_t n = nx - i0 < ROWS ? nx - i0 : ROWS;
        f((int)n, w, x + i0 * ldx, ldx, xsum ? xsum + i0 * ldxs : NULL, ldxs, y + i0 * ldy, ldy, rb, re, cols);
    }
    return 1;
}
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

void finch_matrows_f32x_q4_0(const void *w, const float *x, size_t ldx, size_t nx, float *y, size_t ldy,
                             size_t rb, size_t re, size_t cols) {
#if defined(__x86_64__)
    if (rows_vector(rows_q4_0_avx512, rows_q4_0_avx2, w, x, ldx, NULL, 0, nx, y, ldy, rb, re, cols)) return;
#endif
    finch_matrows_f32x_q4_0_scalar(w, x, ldx, nx, y, ldy, rb, re, cols);
}

void finch_matrows_f32x_q4_1(const void *w, const float *x, size_t ldx, const float *xsum, size_t ldxs, size_t nx,
                             float *y, size_t ldy, size_t rb, size_t re, size_t cols) {
#if defined(__x86_64__)
    if (rows_vector(rows_q4_1_avx512, rows_q4_1_avx2, w, x, ldx, xsum, ldxs, nx, y, ldy, rb, re, cols)) return;
#endif
    finch_matrows_f32x_q4_1_scalar(w, x, ldx, xsum, ldxs, nx, y, ldy, rb, re, cols);
}

void finch_matrows_f32x_q8_0(const void *w, const float *x, size_t ldx, size_t nx, float *y, size_t ldy,
                             size_t rb, size_t re, size_t cols) {
#if defined(__x86_64__)
    if (rows_vector(rows_q8_0_avx512, rows_q8_0_avx2, w, x, ldx, NULL, 0, nx, y, ldy, rb, re, cols)) return;
#endif
    finch_matrows_f32x_q8_0_scalar(w, x, ldx, nx, y, ldy, rb, re, cols);
}
