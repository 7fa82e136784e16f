// Mat-vecs with 16-bit activations (see finch_matvec_q16.h): x is quantized per 32-block to int16
// (d = max|x|/32767, error ≤ d/2, about 2⁻¹⁶ of the block's largest value instead of int8's 2⁻⁸), and
// each Q4_0 / Q4_1 / Q8_0 weight block is widened to int16 and multiplied with pmaddwd (i16 × i16 → i32
// pairs): as few instructions per block as the 8-bit kernels' maddubs + madd, with the f32 path's numbers
// to ~1e-4 of the output's size. Q4_1's offset term uses the f32 block sum of x, so it is exact.
#include "finch_kernels.h"
#include "quant_refs.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { QK = 32, Q4_0_BYTES = 18, Q4_1_BYTES = 20, Q8_0_BYTES = 34 };

// ---- scalar references -------------------------------------------------------------------------

void finch_quantize_q16x_scalar(const float *x, finch_q16x_block *xq, size_t cols) {
    for (size_t b = 0; b < cols / QK; b++) {
        const float *v = x + b * QK;
        float amax = 0.0f, sum = 0.0f;
        for (int j = 0; j < QK; j++) { float a = fabsf(v[j]); if (a > amax) amax = a; }
        const float d = amax / 32767.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int j = 0; j < QK; j++) {
            sum += v[j];
            const float r = nearbyintf(v[j] * id);  // ties to even, as vroundps
            xq[b].qs[j] = (int16_t)(r != r ? 0 : (r > 32767.0f ? 32767 : (r < -32767.0f ? -32767 : (int)r)));  // NaN → 0
        }
        xq[b].d = d;
        xq[b].s = sum;
    }
}

QUANT_SCALAR_REFS(finch_matvec_q16_q4_0_scalar, finch_matvec_q16_q4_1_scalar, finch_matvec_q16_q8_0_scalar, finch_q16x_block)

// ---- AVX2 --------------------------------------------------------------------------------------
#if defined(__x86_64__)
#define Q16_AVX2 __attribute__((target("avx2,fma,f16c")))

Q16_AVX2 static inline float hsum8(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

// The same operations as the scalar reference (amax, d = amax/32767, id = 1/d, round to nearest even,
// NaN → 0, the block sum in order), so the blocks are bit-identical to it.
Q16_AVX2 static void quantize_avx2(const float *x, finch_q16x_block *xq, size_t cols) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF)), lim = _mm256_set1_ps(32767.0f);
    for (size_t b = 0; b < cols / QK; b++) {
        const float *v = x + b * QK;
        __m256 amax = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) amax = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(v + 8 * i), absmask), amax);  // NaN keeps amax
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        const float d = _mm_cvtss_f32(m) / 32767.0f;
        const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
        __m256i q[4];
        for (int i = 0; i < 4; i++) {
            __m256 r = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(v + 8 * i), id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            r = _mm256_and_ps(r, _mm256_cmp_ps(r, r, _CMP_ORD_Q));  // NaN → 0
            r = _mm256_max_ps(_mm256_min_ps(r, lim), _mm256_sub_ps(_mm256_setzero_ps(), lim));
            q[i] = _mm256_cvttps_epi32(r);
        }
        // packs interleaves 128-bit lanes: [q0 lo, q1 lo | q0 hi, q1 hi] → permute back to element order
        _mm256_storeu_si256((__m256i *)xq[b].qs, _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), 0xD8));
        _mm256_storeu_si256((__m256i *)(xq[b].qs + 16), _mm256_permute4x64_epi64(_mm256_packs_epi32(q[2], q[3]), 0xD8));
        float sum = 0.0f;
        for (int j = 0; j < QK; j++) sum += v[j];
        xq[b].d = d;
        xq[b].s = sum;
    }
}

// Σ_j w_j·x_j of one block as 8 i32 lanes, from the weights' 32 int16 values (lo = elements 0..15, hi = 16..31).
Q16_AVX2 static inline __m256i dot16(__m256i lo, __m256i hi, const finch_q16x_block *x) {
    return _mm256_add_epi32(_mm256_madd_epi16(lo, _mm256_loadu_si256((const __m256i *)x->qs)),
                            _mm256_madd_epi16(hi, _mm256_loadu_si256((const __m256i *)(x->qs + 16))));
}

// The pair's scales in one vcvtph2ps, lanes [d0, m0, d1, m1] (Q4_1) or [d0, 0, d1, 0], times the activation
// blocks' [d, s] pairs: lanes 0 and 2 scale the integer dots, 1 and 3 are Q4_1's offset terms.
Q16_AVX2 static inline __m128 pair_scales(const uint8_t *b0, const uint8_t *b1, int with_min, const finch_q16x_block *x0, const finch_q16x_block *x1) {
    uint32_t u0, u1;
    if (with_min) { memcpy(&u0, b0, 4); memcpy(&u1, b1, 4); }
    else { uint16_t h0, h1; memcpy(&h0, b0, 2); memcpy(&h1, b1, 2); u0 = h0; u1 = h1; }
    const __m128 w = _mm_cvtph_ps(_mm_insert_epi32(_mm_cvtsi32_si128((int)u0), (int)u1, 1));
    const __m128 x = _mm_loadh_pi(_mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)&x0->d), (const __m64 *)&x1->d);
    return _mm_mul_ps(w, x);
}

// One row at a time, two blocks per step into two accumulators. WIDEN(blk, lo, hi) sets the block's 32
// weights as int16: lo = elements 0..15, hi = 16..31. An odd last block pairs with itself and counts once.
#define Q16_KERNEL(name, BYTES, WITH_MIN, WIDEN)                                                                  \
Q16_AVX2 static void name(const void *w, const finch_q16x_block *xq, float *y, size_t rb, size_t re, size_t cols) { \
    const size_t nb = cols / QK, rowBytes = nb * BYTES;                                                          \
    const __m256i low = _mm256_set1_epi16(0x0F), eight = _mm256_set1_epi16(8);                                   \
    const __m256i widen = _mm256_setr_epi8(0, -1, 1, -1, 2, -1, 3, -1, 4, -1, 5, -1, 6, -1, 7, -1,               \
                                           8, -1, 9, -1, 10, -1, 11, -1, 12, -1, 13, -1, 14, -1, 15, -1);        \
    (void)low; (void)eight; (void)widen;                                                                         \
    for (size_t r = rb; r < re; r++) {                                                                           \
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;                                                  \
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();                                               \
        __m128 mins = _mm_setzero_ps();                                                                          \
        for (size_t b = 0; b < nb; b += 2) {                                                                     \
            const int two = b + 1 < nb;                                                                          \
            const finch_q16x_block *x0 = &xq[b], *x1 = two ? x0 + 1 : x0;                                        \
            const uint8_t *b0 = row + b * BYTES, *b1 = two ? b0 + BYTES : b0;                                    \
            __m128 f = pair_scales(b0, b1, WITH_MIN, x0, x1);                                                    \
            if (!two) f = _mm_blend_ps(f, _mm_setzero_ps(), 0xC);                                                \
            __m256i lo0, hi0, lo1, hi1;                                                                          \
            WIDEN(b0, lo0, hi0)                                                                                  \
            WIDEN(b1, lo1, hi1)                                                                                  \
            a0 = _mm256_fmadd_ps(_mm256_broadcastss_ps(f), _mm256_cvtepi32_ps(dot16(lo0, hi0, x0)), a0);         \
            a1 = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehl_ps(f, f)), _mm256_cvtepi32_ps(dot16(lo1, hi1, x1)), a1); \
            mins = _mm_add_ps(mins, f);                                                                          \
        }                                                                                                        \
        float m[4];                                                                                              \
        _mm_storeu_ps(m, mins);                                                                                  \
        y[r] = hsum8(_mm256_add_ps(a0, a1)) + (WITH_MIN ? m[1] + m[3] : 0.0f);                                   \
    }                                                                                                            \
}
// The nibble blocks' 16 bytes widen to int16 by an in-lane shuffle of their broadcast: vpmovzxbw crosses lanes,
// and the shuffle made these kernels ~15 % faster on Zen 5 (Q4_1, 576 and 1536 columns, cached or streamed).
#define NIBBLES(p) _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(p))), widen)
#define WIDEN_Q4_1(p, lo, hi) { const __m256i q = NIBBLES(p + 4);                                                 \
                                lo = _mm256_and_si256(q, low); hi = _mm256_srli_epi16(q, 4); }
#define WIDEN_Q4_0(p, lo, hi) { const __m256i q = NIBBLES(p + 2);                                                 \
                                lo = _mm256_sub_epi16(_mm256_and_si256(q, low), eight); hi = _mm256_sub_epi16(_mm256_srli_epi16(q, 4), eight); }
#define WIDEN_Q8_0(p, lo, hi) { lo = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p + 2)));           \
                                hi = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p + 18))); }
Q16_KERNEL(q4_1_avx2, Q4_1_BYTES, 1, WIDEN_Q4_1)
Q16_KERNEL(q4_0_avx2, Q4_0_BYTES, 0, WIDEN_Q4_0)
Q16_KERNEL(q8_0_avx2, Q8_0_BYTES, 0, WIDEN_Q8_0)

// ---- AVX-512 (BW): two blocks per 512-bit vector ------------------------------------------------
// Q4_0 / Q4_1: the nibbles of blocks b, b+1 widen to [b 0..15 | b+1 0..15] (low) and [b 16..31 | b+1 16..31]
// (high), the activations are loaded in the same order, so i32 lanes 0–7 belong to block b and 8–15 to b+1.
#define Q16_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl")))

Q16_AVX512 static inline __m512i pair_x(const finch_q16x_block *x0, const finch_q16x_block *x1, int half) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(x0->qs + 16 * half))),
                              _mm256_loadu_si256((const __m256i *)(x1->qs + 16 * half)), 1);
}

#define Q16_NIBBLE_512(name, BYTES, OFF, WITH_MIN, FALLBACK)                                                      \
Q16_AVX512 static void name(const void *w, const finch_q16x_block *xq, float *y, size_t rb, size_t re, size_t cols) { \
    const size_t nb = cols / QK, rowBytes = nb * BYTES;                                                          \
    if (nb % 2) { FALLBACK(w, xq, y, rb, re, cols); return; }                                                    \
    const __m512i low = _mm512_set1_epi16(0x0F), bias = _mm512_set1_epi16(WITH_MIN ? 0 : 8);                     \
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);                      \
    for (size_t r = rb; r < re; r++) {                                                                           \
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;                                                  \
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();                                               \
        __m128 mins = _mm_setzero_ps();                                                                          \
        for (size_t b = 0; b < nb; b += 2) {                                                                     \
            const uint8_t *b0 = row + b * BYTES, *b1 = b0 + BYTES;                                               \
            const finch_q16x_block *x0 = &xq[b], *x1 = x0 + 1;                                                   \
            const __m512i q = _mm512_cvtepu8_epi16(_mm256_inserti128_si256(                                      \
                _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(b0 + OFF))), _mm_loadu_si128((const __m128i *)(b1 + OFF)), 1)); \
            const __m512i lo = _mm512_sub_epi16(_mm512_and_si512(q, low), bias), hi = _mm512_sub_epi16(_mm512_srli_epi16(q, 4), bias); \
            const __m512i p = _mm512_add_epi32(_mm512_madd_epi16(lo, pair_x(x0, x1, 0)), _mm512_madd_epi16(hi, pair_x(x0, x1, 1))); \
            const __m128 f = pair_scales(b0, b1, WITH_MIN, x0, x1);                                              \
            const __m512 sc = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(f));                          \
            if (b & 2) a1 = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(p), a1);                                      \
            else a0 = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(p), a0);                                            \
            mins = _mm_add_ps(mins, f);                                                                          \
        }                                                                                                        \
        float m[4];                                                                                              \
        _mm_storeu_ps(m, mins);                                                                                  \
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) + (WITH_MIN ? m[1] + m[3] : 0.0f);                    \
    }                                                                                                            \
}
Q16_NIBBLE_512(q4_1_avx512, Q4_1_BYTES, 4, 1, q4_1_avx2)
Q16_NIBBLE_512(q4_0_avx512, Q4_0_BYTES, 2, 0, q4_0_avx2)

// Q8_0: one block per 512-bit vector (32 weights widen to 32 int16).
Q16_AVX512 static void q8_0_avx512(const void *w, const finch_q16x_block *xq, float *y, size_t rb, size_t re, size_t cols) {
    const size_t nb = cols / QK, rowBytes = nb * Q8_0_BYTES;
    for (size_t r = rb; r < re; r++) {
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        for (size_t b = 0; b < nb; b += 2) {
            const int two = b + 1 < nb;
            const uint8_t *b0 = row + b * Q8_0_BYTES, *b1 = two ? b0 + Q8_0_BYTES : b0;
            const finch_q16x_block *x0 = &xq[b], *x1 = two ? x0 + 1 : x0;
            const __m128 f = pair_scales(b0, b1, 0, x0, x1);
            const __m512i p0 = _mm512_madd_epi16(_mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(b0 + 2))), _mm512_loadu_si512(x0->qs));
            a0 = _mm512_fmadd_ps(_mm512_broadcastss_ps(f), _mm512_cvtepi32_ps(p0), a0);
            if (!two) break;
            const __m512i p1 = _mm512_madd_epi16(_mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(b1 + 2))), _mm512_loadu_si512(x1->qs));
            a1 = _mm512_fmadd_ps(_mm512_broadcastss_ps(_mm_movehl_ps(f, f)), _mm512_cvtepi32_ps(p1), a1);
        }
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    }
}
#endif

// ---- dispatch ----------------------------------------------------------------------------------
// name_avx2 / name_avx512 run that variant when the CPU has it (else the next lower one); the plain name
// follows finch_isa_active(). Elsewhere than x86-64 every level is the scalar reference.
#if !defined(__x86_64__)
#define q4_0_avx2 finch_matvec_q16_q4_0_scalar
#define q4_1_avx2 finch_matvec_q16_q4_1_scalar
#define q8_0_avx2 finch_matvec_q16_q8_0_scalar
#define q4_0_avx512 finch_matvec_q16_q4_0_scalar
#define q4_1_avx512 finch_matvec_q16_q4_1_scalar
#define q8_0_avx512 finch_matvec_q16_q8_0_scalar
#define quantize_avx2 finch_quantize_q16x_scalar
#endif
#define Q16_DISPATCH(name)                                                                                      \
    void finch_matvec_q16_##name##_avx2(const void *w, const finch_q16x_block *xq, float *y, size_t rb, size_t re, size_t cols) { \
        if (finch_isa_supported() >= FINCH_ISA_AVX2) name##_avx2(w, xq, y, rb, re, cols);                      \
        else finch_matvec_q16_##name##_scalar(w, xq, y, rb, re, cols);                                          \
    }                                                                                                           \
    void finch_matvec_q16_##name##_avx512(const void *w, const finch_q16x_block *xq, float *y, size_t rb, size_t re, size_t cols) { \
        if (finch_isa_supported() >= FINCH_ISA_AVX512) name##_avx512(w, xq, y, rb, re, cols);                  \
        else finch_matvec_q16_##name##_avx2(w, xq, y, rb, re, cols);                                            \
    }                                                                                                           \
    void finch_matvec_q16_##name(const void *w, const finch_q16x_block *xq, float *y, size_t rb, size_t re, size_t cols) { \
        const int isa = finch_isa_active();                                                                     \
        if (isa >= FINCH_ISA_AVX512) name##_avx512(w, xq, y, rb, re, cols);                                     \
        else if (isa == FINCH_ISA_AVX2) name##_avx2(w, xq, y, rb, re, cols);                                    \
        else finch_matvec_q16_##name##_scalar(w, xq, y, rb, re, cols);                                          \
    }
void finch_quantize_q16x(const float *x, finch_q16x_block *xq, size_t cols) {
    if (finch_isa_active() >= FINCH_ISA_AVX2) quantize_avx2(x, xq, cols); else finch_quantize_q16x_scalar(x, xq, cols);
}
void finch_quantize_q16x_avx2(const float *x, finch_q16x_block *xq, size_t cols) {
    if (finch_isa_supported() >= FINCH_ISA_AVX2) quantize_avx2(x, xq, cols); else finch_quantize_q16x_scalar(x, xq, cols);
}
Q16_DISPATCH(q4_0)
Q16_DISPATCH(q4_1)
Q16_DISPATCH(q8_0)
