// Quantized matrix-vector kernels (see finch_quant.h). Block layouts are GGUF's (ggml-common.h):
//   Q4_0: f16 d, u8 qs[16]        value j = ((qs[j%16] >> 4*(j/16)) & 0xF) - 8, times d
//   Q4_1: f16 d, f16 m, u8 qs[16] value j = (nibble j) * d + m
//   Q8_0: f16 d, i8 qs[32]        value j = qs[j] * d
//   Q4_K, Q6_K: see the comments above their scalar kernels (and BlockQ4_K.swift / BlockQ6_K.swift)
// Per block the dot product is an exact integer sum; only the per-block scaling is floating point.
#include "finch_kernels.h"
#include "quant_refs.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { QK = 32, Q4_0_BYTES = 18, Q4_1_BYTES = 20, Q8_0_BYTES = 34, QK_K = 256, Q4_K_BYTES = 144, Q6_K_BYTES = 210 };

// llama.cpp get_scale_min_k4: the j-th 6-bit (scale, min) pair of Q4_K's 12 scale bytes.
static inline void scale_min_k4(int j, const uint8_t *s, int *sc, int *m) {
    if (j < 4) { *sc = s[j] & 63; *m = s[j + 4] & 63; }
    else { *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4); *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4); }
}

int finch_quant_has_avx2(void) { return finch_isa_active() >= FINCH_ISA_AVX2; }

void finch_quantize_q8x_scalar(const float *x, finch_q8x_block *xq, size_t cols) {
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

QUANT_SCALAR_REFS(finch_matvec_q4_0_scalar, finch_matvec_q4_1_scalar, finch_matvec_q8_0_scalar, finch_q8x_block)

// Q4_K: d, dmin, scales[12], qs[128]; chunk c (64 values) = qs[32c..32c+32): low nibbles are sub-block 2c,
// high nibbles sub-block 2c+1; value = d·sc·q − dmin·m. Against activation block x: d·sc·d_x·Σq·x_q − dmin·m·s_x.
void finch_matvec_q4_K_scalar(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols) {
    const size_t nb = cols / QK_K;
    for (size_t r = row_begin; r < row_end; r++) {
        const uint8_t *row = (const uint8_t *)w + r * nb * Q4_K_BYTES;
        float sum = 0.0f;
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * Q4_K_BYTES;
            const float d = quant_ref_f16(blk), dmin = quant_ref_f16(blk + 2);
            const uint8_t *qs = blk + 16;
            for (int c = 0; c < 4; c++) {
                int sc1, m1, sc2, m2;
                scale_min_k4(2 * c, blk + 4, &sc1, &m1);
                scale_min_k4(2 * c + 1, blk + 4, &sc2, &m2);
                const finch_q8x_block *x1 = &xq[b * 8 + 2 * c], *x2 = x1 + 1;
                int s1 = 0, s2 = 0;
                for (int l = 0; l < 32; l++) {
                    s1 += (qs[32 * c + l] & 0xF) * x1->qs[l];
                    s2 += (qs[32 * c + l] >> 4) * x2->qs[l];
                }
                sum += d * (float)sc1 * x1->d * (float)s1 - dmin * (float)m1 * x1->s;
                sum += d * (float)sc2 * x2->d * (float)s2 - dmin * (float)m2 * x2->s;
            }
        }
        y[r] = sum;
    }
}

// Q6_K: ql[128], qh[64], scales[16] (int8), d. Half h (128 values) uses ql+64h, qh+32h, scales+8h; its
// activation block k (32 values) has q = low/high nibble of ql[32(k&1) + l] (high for k ≥ 2) plus 2 bits of
// qh[l] at 2k, minus 32; values l < 16 use scale 2k, l ≥ 16 scale 2k+1.
void finch_matvec_q6_K_scalar(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols) {
    const size_t nb = cols / QK_K;
    for (size_t r = row_begin; r < row_end; r++) {
        const uint8_t *row = (const uint8_t *)w + r * nb * Q6_K_BYTES;
        float sum = 0.0f;
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * Q6_K_BYTES;
            const float d = quant_ref_f16(blk + 208);
            for (int h = 0; h < 2; h++) {
                const uint8_t *ql = blk + 64 * h, *qh = blk + 128 + 32 * h;
                const int8_t *sc = (const int8_t *)(blk + 192) + 8 * h;
                for (int k = 0; k < 4; k++) {
                    const finch_q8x_block *x = &xq[b * 8 + 4 * h + k];
                    int sa = 0, sb = 0;
                    for (int l = 0; l < 32; l++) {
                        const int lo = k < 2 ? (ql[32 * (k & 1) + l] & 0xF) : (ql[32 * (k & 1) + l] >> 4);
                        const int q = (lo | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
                        if (l < 16) sa += q * x->qs[l]; else sb += q * x->qs[l];
                    }
                    sum += d * x->d * ((float)sc[2 * k] * (float)sa + (float)sc[2 * k + 1] * (float)sb);
                }
            }
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



FINCH_AVX2 static void q4_K_avx2(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols) {
    const size_t nb = cols / QK_K;
    const __m256i low = _mm256_set1_epi8(0x0F);
    for (size_t r = row_begin; r < row_end; r++) {
        const uint8_t *row = (const uint8_t *)w + r * nb * Q4_K_BYTES;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        float mins = 0.0f;
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * Q4_K_BYTES;
            const float d = load_f16(blk), dmin = load_f16(blk + 2);
            for (int c = 0; c < 4; c++) {
                int sc1, m1, sc2, m2;
                scale_min_k4(2 * c, blk + 4, &sc1, &m1);
                scale_min_k4(2 * c + 1, blk + 4, &sc2, &m2);
                const finch_q8x_block *x1 = &xq[b * 8 + 2 * c], *x2 = x1 + 1;
                const __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * c));
                const __m256 p1 = dot_us8(_mm256_and_si256(q, low), _mm256_loadu_si256((const __m256i *)x1->qs));
                const __m256 p2 = dot_us8(_mm256_and_si256(_mm256_srli_epi16(q, 4), low), _mm256_loadu_si256((const __m256i *)x2->qs));
                acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc1 * x1->d), p1, acc0);
                acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc2 * x2->d), p2, acc1);
                mins += dmin * ((float)m1 * x1->s + (float)m2 * x2->s);
            }
        }
        y[r] = hsum(_mm256_add_ps(acc0, acc1)) - mins;
    }
}

FINCH_AVX2 static void q6_K_avx2(const void *w, const finch_q8x_block *xq, float *y, size_t row_begin, size_t row_end, size_t cols) {
    const size_t nb = cols / QK_K;
    const __m256i low = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
    for (size_t r = row_begin; r < row_end; r++) {
        const uint8_t *row = (const uint8_t *)w + r * nb * Q6_K_BYTES;
        __m256 acc = _mm256_setzero_ps();
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * Q6_K_BYTES;
            const float d = load_f16(blk + 208);
            for (int h = 0; h < 2; h++) {
                const uint8_t *ql = blk + 64 * h;
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * h));
                const int8_t *sc = (const int8_t *)(blk + 192) + 8 * h;
                const __m256i ql0 = _mm256_loadu_si256((const __m256i *)ql), ql1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
                const __m256i lows[4] = {
                    _mm256_and_si256(ql0, low), _mm256_and_si256(ql1, low),
                    _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low), _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low),
                };
                for (int k = 0; k < 4; k++) {
                    const finch_q8x_block *x = &xq[b * 8 + 4 * h + k];
                    const __m256i highs = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), two);
                    const __m256i q = _mm256_sub_epi8(_mm256_or_si256(lows[k], _mm256_slli_epi16(highs, 4)), off);
                    // i32 lanes 0-3 sum values 0..15 (scale 2k), lanes 4-7 values 16..31 (scale 2k+1)
                    const __m256 p = dot_s8(q, _mm256_loadu_si256((const __m256i *)x->qs));
                    const __m256 scales = _mm256_setr_m128(_mm_set1_ps((float)sc[2 * k]), _mm_set1_ps((float)sc[2 * k + 1]));
                    acc = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(d * x->d), scales), p, acc);
                }
            }
        }
        y[r] = hsum(acc);
    }
}
// Activation quantization, vectorised: the same operations as the scalar reference (amax, d = amax/127,
// id = 1/d, q = round-half-away(x·id), NaN → 0), so the blocks are bit-identical to it.
FINCH_AVX2 static void quantize_avx2(const float *x, finch_q8x_block *xq, size_t cols) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), lim = _mm256_set1_ps(127.0f);
    for (size_t b = 0; b < cols / QK; b++) {
        __m256 v[4];
        __m256 amax = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(x + b * QK + 8 * i);
            amax = _mm256_max_ps(_mm256_and_ps(v[i], absmask), amax);  // NaN lanes keep amax (second operand)
        }
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        const float d = _mm_cvtss_f32(m) / 127.0f;
        const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
        __m256i q[4];
        __m256i total = _mm256_setzero_si256();
        for (int i = 0; i < 4; i++) {
            const __m256 t = _mm256_mul_ps(v[i], id);
            const __m256 tr = _mm256_round_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m256 away = _mm256_and_ps(_mm256_cmp_ps(_mm256_and_ps(_mm256_sub_ps(t, tr), absmask), half, _CMP_GE_OQ),
                                              _mm256_or_ps(_mm256_andnot_ps(absmask, t), one));
            __m256 r = _mm256_add_ps(tr, away);
            r = _mm256_and_ps(r, _mm256_cmp_ps(r, r, _CMP_ORD_Q));                       // NaN → 0
            r = _mm256_max_ps(_mm256_min_ps(r, lim), _mm256_sub_ps(_mm256_setzero_ps(), lim));
            q[i] = _mm256_cvttps_epi32(r);
            total = _mm256_add_epi32(total, q[i]);
        }
        const __m256i p01 = _mm256_packs_epi32(q[0], q[1]), p23 = _mm256_packs_epi32(q[2], q[3]);
        const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p01, p23), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)xq[b].qs, bytes);
        __m128i t4 = _mm_add_epi32(_mm256_castsi256_si128(total), _mm256_extracti128_si256(total, 1));
        t4 = _mm_add_epi32(t4, _mm_shuffle_epi32(t4, 0x4E));
        t4 = _mm_add_epi32(t4, _mm_shuffle_epi32(t4, 0xB1));
        xq[b].d = d;
        xq[b].s = d * (float)_mm_cvtsi128_si32(t4);
    }
}

// ---- Q4_0 / Q4_1 / Q8_0: AVX2 and AVX-512 VNNI ------------------------------------------------------
// One body, two instantiations: AVX2 multiplies bytes with maddubs + madd, AVX-512 VNNI with one 256-bit
// vpdpbusd (u8 × s8 → i32, four products per lane). Two rows per pass share each activation load and
// scale. Without VNNI the AVX2 kernels run at level avx512.
#define FINCH_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

FINCH_VNNI static inline __m256 dot_us8_vnni(const __m256i a, const __m256i b) {
    return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b));
}

// One row at a time, two blocks per step into two accumulators. (Two rows per pass, sharing the activation
// loads, ran at a fifth of the speed once the matrix outgrew the L3 cache: the hardware prefetcher lost the
// interleaved streams.) The f16 scales of both blocks are converted together (vmovd + vcvtph2ps; no false
// dependency on an accumulator, which clang's per-scalar _cvtsh_ss created) and, for Q4_1, with the
// minimums: lanes [d0, m0, d1, m1] · [dx0, sx0, dx1, sx1].
FINCH_AVX2 static inline __m128 scales_pair(const uint8_t *b0, const uint8_t *b1, int with_min) {
    uint32_t u0, u1;
    if (with_min) { memcpy(&u0, b0, 4); memcpy(&u1, b1, 4); }
    else { uint16_t h0, h1; memcpy(&h0, b0, 2); memcpy(&h1, b1, 2); u0 = h0; u1 = h1; }  // [d0, 0, d1, 0]
    return _mm_cvtph_ps(_mm_insert_epi32(_mm_cvtsi32_si128((int)u0), (int)u1, 1));
}

// Q4_1 (OFF = 4, offset + m·s) and Q4_0 (OFF = 2, unsigned nibbles: Σ(n − 8)·x = Σ n·x − 8·Σx, i.e. − 8·d·s).
// An odd last block pairs with itself and counts once (`two`).
#define NIBBLE_KERNEL(name, BYTES, OFF, WITH_MIN, TARGET, DOT)                                                    \
TARGET static void name(const void *w, const finch_q8x_block *xq, float *y, size_t rb, size_t re, size_t cols) { \
    const size_t nb = cols / QK, rowBytes = nb * BYTES;                                                          \
    for (size_t r = rb; r < re; r++) {                                                                           \
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;                                                  \
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();                                               \
        __m128 mins = _mm_setzero_ps();                                                                          \
        for (size_t b = 0; b < nb; b += 2) {                                                                     \
            const int two = b + 1 < nb;                                                                          \
            const finch_q8x_block *x0 = &xq[b], *x1 = two ? x0 + 1 : x0;                                         \
            const uint8_t *b0 = row + b * BYTES, *b1 = two ? b0 + BYTES : b0;                                    \
            const __m128 sp = scales_pair(b0, b1, WITH_MIN);                                                     \
            const __m128 f = _mm_mul_ps(sp, _mm_setr_ps(x0->d, x0->s, two ? x1->d : 0.0f, two ? x1->s : 0.0f));  \
            a0 = _mm256_fmadd_ps(_mm256_broadcastss_ps(f), DOT(nibbles_32(b0 + OFF), _mm256_loadu_si256((const __m256i *)x0->qs)), a0); \
            a1 = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehl_ps(f, f)), DOT(nibbles_32(b1 + OFF), _mm256_loadu_si256((const __m256i *)x1->qs)), a1); \
            if (WITH_MIN) mins = _mm_add_ps(mins, f);                                                            \
            else mins = _mm_fmadd_ps(sp, _mm_setr_ps(x0->s, 0.0f, two ? x1->s : 0.0f, 0.0f), mins);               \
        }                                                                                                        \
        float m[4];                                                                                              \
        _mm_storeu_ps(m, mins);                                                                                  \
        y[r] = hsum(_mm256_add_ps(a0, a1)) + (WITH_MIN ? m[1] + m[3] : -8.0f * (m[0] + m[2]));                   \
    }                                                                                                            \
}
NIBBLE_KERNEL(q4_1_vnni_256, Q4_1_BYTES, 4, 1, FINCH_VNNI, dot_us8_vnni)
NIBBLE_KERNEL(q4_0_vnni, Q4_0_BYTES, 2, 0, FINCH_VNNI, dot_us8_vnni)
NIBBLE_KERNEL(q4_1_avx2, Q4_1_BYTES, 4, 1, FINCH_AVX2, dot_us8)
NIBBLE_KERNEL(q4_0_avx2, Q4_0_BYTES, 2, 0, FINCH_AVX2, dot_us8)

// Q4_1 with 512-bit vpdpbusd: two blocks per instruction. Nibbles of blocks b, b+1 become [lo0 lo1 hi0 hi1]
// (16 bytes each) and the activations are shuffled to the same order, so i32 lanes 0–3 and 8–11 belong to
// block b, 4–7 and 12–15 to b+1; one permute spreads the two blocks' scales over them. ~20 % fewer
// instructions per block than the 256-bit kernel (the largest share of decode time).
FINCH_VNNI static void q4_1_vnni(const void *w, const finch_q8x_block *xq, float *y, size_t rb, size_t re, size_t cols) {
    const size_t nb = cols / QK, rowBytes = nb * Q4_1_BYTES;
    if (nb % 2) { q4_1_vnni_256(w, xq, y, rb, re, cols); return; }
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2, 0, 0, 0, 0, 2, 2, 2, 2);
    const __m512i low = _mm512_set1_epi8(0x0F);
    for (size_t r = rb; r < re; r++) {
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;
        __m512 acc = _mm512_setzero_ps();
        __m128 mins = _mm_setzero_ps();
        for (size_t b = 0; b < nb; b += 2) {
            const uint8_t *b0 = row + b * Q4_1_BYTES, *b1 = b0 + Q4_1_BYTES;
            const __m256i t = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(b0 + 4))),
                                                      _mm_loadu_si128((const __m128i *)(b1 + 4)), 1);
            const __m512i q = _mm512_and_si512(_mm512_inserti64x4(_mm512_castsi256_si512(t), _mm256_srli_epi16(t, 4), 1), low);
            __m512i x = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)xq[b].qs)),
                                           _mm256_loadu_si256((const __m256i *)xq[b + 1].qs), 1);
            x = _mm512_shuffle_i64x2(x, x, 0xD8);  // 128-bit lanes [0 2 1 3]
            const __m512 p = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q, x));
            const __m128 f = _mm_mul_ps(scales_pair(b0, b1, 1), _mm_setr_ps(xq[b].d, xq[b].s, xq[b + 1].d, xq[b + 1].s));
            acc = _mm512_fmadd_ps(_mm512_permutexvar_ps(spread, _mm512_castps128_ps512(f)), p, acc);
            mins = _mm_add_ps(mins, f);
        }
        float m[4];
        _mm_storeu_ps(m, mins);
        y[r] = _mm512_reduce_add_ps(acc) + m[1] + m[3];
    }
}

// Q8_0: both sides signed; |w| (u8) · (x with w's sign) keeps the unsigned × signed form.
#define Q8_0_KERNEL(name, TARGET, DOT)                                                                            \
TARGET static void name(const void *w, const finch_q8x_block *xq, float *y, size_t rb, size_t re, size_t cols) { \
    const size_t nb = cols / QK, rowBytes = nb * Q8_0_BYTES;                                                     \
    for (size_t r = rb; r < re; r++) {                                                                           \
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;                                                  \
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();                                               \
        for (size_t b = 0; b < nb; b += 2) {                                                                     \
            const int two = b + 1 < nb;                                                                          \
            const finch_q8x_block *x0 = &xq[b], *x1 = two ? x0 + 1 : x0;                                         \
            const uint8_t *b0 = row + b * Q8_0_BYTES, *b1 = two ? b0 + Q8_0_BYTES : b0;                          \
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)(b0 + 2)), w1 = _mm256_loadu_si256((const __m256i *)(b1 + 2)); \
            const __m256i q0 = _mm256_loadu_si256((const __m256i *)x0->qs), q1 = _mm256_loadu_si256((const __m256i *)x1->qs); \
            const __m128 f = _mm_mul_ps(scales_pair(b0, b1, 0), _mm_setr_ps(x0->d, 0.0f, two ? x1->d : 0.0f, 0.0f)); \
            a0 = _mm256_fmadd_ps(_mm256_broadcastss_ps(f), DOT(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(q0, w0)), a0); \
            a1 = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehl_ps(f, f)), DOT(_mm256_sign_epi8(w1, w1), _mm256_sign_epi8(q1, w1)), a1); \
        }                                                                                                        \
        y[r] = hsum(_mm256_add_ps(a0, a1));                                                                      \
    }                                                                                                            \
}
Q8_0_KERNEL(q8_0_vnni, FINCH_VNNI, dot_us8_vnni)
Q8_0_KERNEL(q8_0_avx2, FINCH_AVX2, dot_us8)
#endif

// ---- dispatch (finch_isa.h) --------------------------------------------------------------------
// name_avx2 / name_avx512 run that variant when the CPU has it (else the next lower one); the plain
// name follows finch_isa_active().
static int use_vnni(void) {
#if defined(__x86_64__)
    return finch_isa_supported() >= FINCH_ISA_AVX512 && finch_isa_has_vnni();
#else
    return 0;
#endif
}

typedef void (*qfn)(const void *, const finch_q8x_block *, float *, size_t, size_t, size_t);
#if defined(__x86_64__)
#define DISPATCH(name, VNNI_FN)                                                                                 \
    void finch_matvec_##name##_avx2(const void *w, const finch_q8x_block *xq, float *y, size_t rb, size_t re, size_t cols) { \
        if (finch_isa_supported() >= FINCH_ISA_AVX2) name##_avx2(w, xq, y, rb, re, cols); else finch_matvec_##name##_scalar(w, xq, y, rb, re, cols); \
    }                                                                                                           \
    void finch_matvec_##name##_avx512(const void *w, const finch_q8x_block *xq, float *y, size_t rb, size_t re, size_t cols) { \
        const qfn vnni = VNNI_FN;                                                                               \
        if (vnni && use_vnni()) vnni(w, xq, y, rb, re, cols); else finch_matvec_##name##_avx2(w, xq, y, rb, re, cols); \
    }                                                                                                           \
    void finch_matvec_##name(const void *w, const finch_q8x_block *xq, float *y, size_t rb, size_t re, size_t cols) { \
        const int isa = finch_isa_active();                                                                     \
        if (isa >= FINCH_ISA_AVX512) finch_matvec_##name##_avx512(w, xq, y, rb, re, cols);                     \
        else if (isa == FINCH_ISA_AVX2) name##_avx2(w, xq, y, rb, re, cols);                                    \
        else finch_matvec_##name##_scalar(w, xq, y, rb, re, cols);                                              \
    }
DISPATCH(q4_0, q4_0_vnni)
DISPATCH(q4_1, q4_1_vnni)
DISPATCH(q8_0, q8_0_vnni)
DISPATCH(q4_K, NULL)
DISPATCH(q6_K, NULL)

void finch_quantize_q8x(const float *x, finch_q8x_block *xq, size_t cols) {
    if (finch_isa_active() >= FINCH_ISA_AVX2) quantize_avx2(x, xq, cols); else finch_quantize_q8x_scalar(x, xq, cols);
}
void finch_quantize_q8x_avx2(const float *x, finch_q8x_block *xq, size_t cols) {
    if (finch_isa_supported() >= FINCH_ISA_AVX2) quantize_avx2(x, xq, cols); else finch_quantize_q8x_scalar(x, xq, cols);
}
#else
#define DISPATCH(name)                                                                                          \
    void finch_matvec_##name##_avx2(const void *w, const finch_q8x_block *xq, float *y, size_t rb, size_t re, size_t cols) { \
        finch_matvec_##name##_scalar(w, xq, y, rb, re, cols);                                                   \
    }                                                                                                           \
    void finch_matvec_##name##_avx512(const void *w, const finch_q8x_block *xq, float *y, size_t rb, size_t re, size_t cols) { \
        finch_matvec_##name##_scalar(w, xq, y, rb, re, cols);                                                   \
    }                                                                                                           \
    void finch_matvec_##name(const void *w, const finch_q8x_block *xq, float *y, size_t rb, size_t re, size_t cols) { \
        finch_matvec_##name##_scalar(w, xq, y, rb, re, cols);                                                   \
    }
DISPATCH(q4_0)
DISPATCH(q4_1)
DISPATCH(q8_0)
DISPATCH(q4_K)
DISPATCH(q6_K)
void finch_quantize_q8x(const float *x, finch_q8x_block *xq, size_t cols) { finch_quantize_q8x_scalar(x, xq, cols); }
void finch_quantize_q8x_avx2(const float *x, finch_q8x_block *xq, size_t cols) { finch_quantize_q8x_scalar(x, xq, cols); }
#endif
