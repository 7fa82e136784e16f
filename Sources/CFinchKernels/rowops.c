// Row kernels of a training step's pointwise ops: RMSNorm (forward, fused with the residual add
// before it, and backward) and rotary embeddings; and the optimizer's passes over the adapter (the
// AdamW update, the sum of squares behind gradient clipping). See finch_rowops.h.
#include "finch_rowops.h"
#include "finch_isa.h"
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// MARK: Scalar references (the arithmetic of the Swift loops they replace)

static float rms_scale(float ss, size_t c, float eps) { return 1.0f / sqrtf(ss / (float)c + eps); }

float finch_rmsnorm_f32_ref(const float *x, const float *w, float *out, size_t c, float eps) {
    float ss = 0;
    for (size_t i = 0; i < c; i++) ss += x[i] * x[i];
    const float s = rms_scale(ss, c, eps);
    for (size_t i = 0; i < c; i++) out[i] = x[i] * s * w[i];
    return s;
}

float finch_add_rmsnorm_f32_ref(const float *x, const float *a, float *sum, const float *w, float *out, size_t c, float eps) {
    for (size_t i = 0; i < c; i++) sum[i] = x[i] + a[i];
    return finch_rmsnorm_f32_ref(sum, w, out, c, eps);
}

void finch_rmsnorm_backward_f32_ref(const float *x, const float *w, const float *dy, float s, float *dx, size_t c, int accumulate) {
    float dot = 0;
    for (size_t i = 0; i < c; i++) dot += dy[i] * w[i] * x[i] * s;
    const float m = dot / (float)c;
    for (size_t i = 0; i < c; i++) {
        const float v = s * (dy[i] * w[i] - x[i] * s * m);
        dx[i] = accumulate ? dx[i] + v : v;
    }
}

void finch_rope_f32_ref(const float *x, const float *cos, const float *sin, float *out, size_t heads, size_t half, float sign) {
    for (size_t h = 0; h < heads; h++) {
        const float *xi = x + h * 2 * half;
        float *oi = out + h * 2 * half;
        for (size_t i = 0; i < half; i++) {
            const float a = xi[i], b = xi[i + half], co = cos[i], si = sign * sin[i];
            oi[i] = a * co - b * si;
            oi[i + half] = b * co + a * si;
        }
    }
}

// PyTorch's AdamW, one statement per rounding step (no contraction into FMAs), as the Swift loop it replaced.
static inline void adamw_one(float *p, const float *g, float *m, float *v, const finch_adamw_hyper *h) {
    const float gi = *g;
    const float m1 = h->beta1 * *m, m2 = (1 - h->beta1) * gi;
    const float mi = m1 + m2;
    const float v1 = h->beta2 * *v, v2 = (1 - h->beta2) * gi * gi;
    const float vi = v1 + v2;
    const float root = sqrtf(vi) / h->bc2_sqrt;
    const float denom = root + h->eps;
    const float pd = *p * h->decay;
    *m = mi;
    *v = vi;
    *p = pd - h->step_size * mi / denom;
}

void finch_adamw_f32_ref(float *p, const float *g, float *m, float *v, size_t n, const finch_adamw_hyper *h) {
    for (size_t i = 0; i < n; i++) adamw_one(p + i, g + i, m + i, v + i, h);
}

double finch_sum_squares_f32_ref(const float *x, size_t n) {
    double total = 0;
    for (size_t i = 0; i < n; i += FINCH_SUM_SQUARES_BLOCK) {
        const size_t end = n - i < FINCH_SUM_SQUARES_BLOCK ? n : i + FINCH_SUM_SQUARES_BLOCK;
        float acc = 0;
        for (size_t j = i; j < end; j++) acc += x[j] * x[j];
        total += acc;
    }
    return total;
}

#if defined(__x86_64__)

// MARK: AVX-512 (unmasked main loops, one masked tail: see vecmath.c)
#define AVX512 __attribute__((target("avx512f")))

static inline __mmask16 lanes16(size_t left) { return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1); }

// Σ x² over c elements in two accumulators.
AVX512 static inline float sum_squares512(const float *x, size_t c) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= c; i += 32) {
        const __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
        a0 = _mm512_fmadd_ps(v0, v0, a0);
        a1 = _mm512_fmadd_ps(v1, v1, a1);
    }
    for (; i < c; i += 16) {
        const __m512 v = _mm512_maskz_loadu_ps(lanes16(c - i), x + i);
        a0 = _mm512_fmadd_ps(v, v, a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

// out = x · s ⊙ w
AVX512 static inline void scale_weight512(const float *x, const float *w, float *out, size_t c, float s) {
    const __m512 sv = _mm512_set1_ps(s);
    size_t i = 0;
    for (; i + 16 <= c; i += 16) _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), sv), _mm512_loadu_ps(w + i)));
    if (i < c) {
        const __mmask16 k = lanes16(c - i);
        _mm512_mask_storeu_ps(out + i, k, _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), sv), _mm512_maskz_loadu_ps(k, w + i)));
    }
}

AVX512 static float rmsnorm_avx512(const float *x, const float *w, float *out, size_t c, float eps) {
    const float s = rms_scale(sum_squares512(x, c), c, eps);
    scale_weight512(x, w, out, c, s);
    return s;
}

// sum = x + a over one vector; returns it (k: the lanes, all of them in the main loop).
AVX512 static inline __m512 add_store512(const float *x, const float *a, float *sum, __mmask16 k) {
    if (k == 0xFFFF) {
        const __m512 v = _mm512_add_ps(_mm512_loadu_ps(x), _mm512_loadu_ps(a));
        _mm512_storeu_ps(sum, v);
        return v;
    }
    const __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(k, x), _mm512_maskz_loadu_ps(k, a));
    _mm512_mask_storeu_ps(sum, k, v);
    return v;
}

AVX512 static float add_rmsnorm_avx512(const float *x, const float *a, float *sum, const float *w, float *out, size_t c, float eps) {
    // The sum stays in cache for the second pass (a row is a few KiB).
    __m512 a0 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= c; i += 16) { const __m512 v = add_store512(x + i, a + i, sum + i, 0xFFFF); a0 = _mm512_fmadd_ps(v, v, a0); }
    if (i < c) { const __m512 v = add_store512(x + i, a + i, sum + i, lanes16(c - i)); a0 = _mm512_fmadd_ps(v, v, a0); }
    const float s = rms_scale(_mm512_reduce_add_ps(a0), c, eps);
    scale_weight512(sum, w, out, c, s);
    return s;
}

// One vector of dx = s·dy·w − x·kv (+ dx) (k: the lanes, all of them in the main loop).
AVX512 static inline void rmsnorm_dx512(const float *x, const float *w, const float *dy, __m512 sv, __m512 kv, float *dx,
                                        int accumulate, __mmask16 k) {
    const int full = k == 0xFFFF;
    const __m512 xv = full ? _mm512_loadu_ps(x) : _mm512_maskz_loadu_ps(k, x);
    const __m512 wv = full ? _mm512_loadu_ps(w) : _mm512_maskz_loadu_ps(k, w);
    const __m512 dv = full ? _mm512_loadu_ps(dy) : _mm512_maskz_loadu_ps(k, dy);
    __m512 v = _mm512_fmsub_ps(sv, _mm512_mul_ps(dv, wv), _mm512_mul_ps(xv, kv));
    if (accumulate) v = _mm512_add_ps(v, full ? _mm512_loadu_ps(dx) : _mm512_maskz_loadu_ps(k, dx));
    if (full) _mm512_storeu_ps(dx, v); else _mm512_mask_storeu_ps(dx, k, v);
}

AVX512 static void rmsnorm_backward_avx512(const float *x, const float *w, const float *dy, float s, float *dx, size_t c, int accumulate) {
    __m512 acc = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= c; i += 16)
        acc = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_loadu_ps(dy + i), _mm512_loadu_ps(w + i)), _mm512_loadu_ps(x + i), acc);
    if (i < c) {
        const __mmask16 k = lanes16(c - i);
        acc = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, dy + i), _mm512_maskz_loadu_ps(k, w + i)), _mm512_maskz_loadu_ps(k, x + i), acc);
    }
    const float m = _mm512_reduce_add_ps(acc) * s / (float)c;
    // dx = s·dy·w − x·(s·s·m)
    const __m512 sv = _mm512_set1_ps(s), kv = _mm512_set1_ps(s * s * m);
    for (i = 0; i + 16 <= c; i += 16) rmsnorm_dx512(x + i, w + i, dy + i, sv, kv, dx + i, accumulate, 0xFFFF);
    if (i < c) rmsnorm_dx512(x + i, w + i, dy + i, sv, kv, dx + i, accumulate, lanes16(c - i));
}

// One vector of a rotation: lanes i.. of the first half and i + half.. of the second.
AVX512 static inline void rope512(const float *xi, const float *cos, const float *sin, float *oi, size_t half, __m512 sg, __mmask16 k) {
    const int full = k == 0xFFFF;
    const __m512 a = full ? _mm512_loadu_ps(xi) : _mm512_maskz_loadu_ps(k, xi);
    const __m512 b = full ? _mm512_loadu_ps(xi + half) : _mm512_maskz_loadu_ps(k, xi + half);
    const __m512 co = full ? _mm512_loadu_ps(cos) : _mm512_maskz_loadu_ps(k, cos);
    const __m512 si = _mm512_mul_ps(sg, full ? _mm512_loadu_ps(sin) : _mm512_maskz_loadu_ps(k, sin));
    const __m512 lo = _mm512_fmsub_ps(a, co, _mm512_mul_ps(b, si)), hi = _mm512_fmadd_ps(b, co, _mm512_mul_ps(a, si));
    if (full) {
        _mm512_storeu_ps(oi, lo);
        _mm512_storeu_ps(oi + half, hi);
    } else {
        _mm512_mask_storeu_ps(oi, k, lo);
        _mm512_mask_storeu_ps(oi + half, k, hi);
    }
}

AVX512 static void rope_avx512(const float *x, const float *cos, const float *sin, float *out, size_t heads, size_t half, float sign) {
    const __m512 sg = _mm512_set1_ps(sign);
    for (size_t h = 0; h < heads; h++) {
        const float *xi = x + h * 2 * half;
        float *oi = out + h * 2 * half;
        size_t i = 0;
        for (; i + 16 <= half; i += 16) rope512(xi + i, cos + i, sin + i, oi + i, half, sg, 0xFFFF);
        if (i < half) rope512(xi + i, cos + i, sin + i, oi + i, half, sg, lanes16(half - i));
    }
}

// AdamW for a vector width: the reference's operations lane by lane (mul, add, sqrt, div: no FMA), so results
// equal it bit for bit; V the vector type, P its intrinsics' prefix, W its lanes; the tail runs the reference.
#define FINCH_ADAMW(NAME, TARGET, V, P, W)                                                                       \
    TARGET static void NAME(float *p, const float *g, float *m, float *v, size_t n, const finch_adamw_hyper *h) { \
        const V b1 = P##_set1_ps(h->beta1), c1 = P##_set1_ps(1 - h->beta1);                                    \
        const V b2 = P##_set1_ps(h->beta2), c2 = P##_set1_ps(1 - h->beta2);                                    \
        const V bc2 = P##_set1_ps(h->bc2_sqrt), eps = P##_set1_ps(h->eps);                                     \
        const V step = P##_set1_ps(h->step_size), decay = P##_set1_ps(h->decay);                               \
        size_t i = 0;                                                                                          \
        for (; i + W <= n; i += W) {                                                                           \
            const V gi = P##_loadu_ps(g + i);                                                                  \
            const V mi = P##_add_ps(P##_mul_ps(b1, P##_loadu_ps(m + i)), P##_mul_ps(c1, gi));                  \
            const V vi = P##_add_ps(P##_mul_ps(b2, P##_loadu_ps(v + i)), P##_mul_ps(P##_mul_ps(c2, gi), gi));  \
            const V denom = P##_add_ps(P##_div_ps(P##_sqrt_ps(vi), bc2), eps);                                 \
            const V pd = P##_mul_ps(P##_loadu_ps(p + i), decay);                                               \
            P##_storeu_ps(m + i, mi);                                                                          \
            P##_storeu_ps(v + i, vi);                                                                          \
            P##_storeu_ps(p + i, P##_sub_ps(pd, P##_div_ps(P##_mul_ps(step, mi), denom)));                     \
        }                                                                                                      \
        finch_adamw_f32_ref(p + i, g + i, m + i, v + i, n - i, h);                                             \
    }
FINCH_ADAMW(adamw_avx512, AVX512, __m512, _mm512, 16)

AVX512 static double sum_squares_avx512(const float *x, size_t n) {
    double total = 0;
    for (size_t i = 0; i < n; i += FINCH_SUM_SQUARES_BLOCK)
        total += sum_squares512(x + i, n - i < FINCH_SUM_SQUARES_BLOCK ? n - i : FINCH_SUM_SQUARES_BLOCK);
    return total;
}

// MARK: AVX2 + FMA (8 lanes; tails run the scalar arithmetic)
#define AVX2F __attribute__((target("avx2,fma")))

AVX2F static inline float hsum8(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

AVX2F static inline void scale_weight256(const float *x, const float *w, float *out, size_t c, float s) {
    const __m256 sv = _mm256_set1_ps(s);
    size_t i = 0;
    for (; i + 8 <= c; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), sv), _mm256_loadu_ps(w + i)));
    for (; i < c; i++) out[i] = x[i] * s * w[i];
}

// Σ x² over c elements in two accumulators.
AVX2F static inline float sum_squares256(const float *x, size_t c) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= c; i += 16) {
        const __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
        a0 = _mm256_fmadd_ps(v0, v0, a0);
        a1 = _mm256_fmadd_ps(v1, v1, a1);
    }
    for (; i + 8 <= c; i += 8) { const __m256 v = _mm256_loadu_ps(x + i); a0 = _mm256_fmadd_ps(v, v, a0); }
    float ss = hsum8(_mm256_add_ps(a0, a1));
    for (; i < c; i++) ss += x[i] * x[i];
    return ss;
}

AVX2F static float rmsnorm_avx2(const float *x, const float *w, float *out, size_t c, float eps) {
    const float s = rms_scale(sum_squares256(x, c), c, eps);
    scale_weight256(x, w, out, c, s);
    return s;
}

AVX2F static float add_rmsnorm_avx2(const float *x, const float *a, float *sum, const float *w, float *out, size_t c, float eps) {
    __m256 a0 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= c; i += 8) {
        const __m256 v = _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(a + i));
        _mm256_storeu_ps(sum + i, v);
        a0 = _mm256_fmadd_ps(v, v, a0);
    }
    float ss = hsum8(a0);
    for (; i < c; i++) { sum[i] = x[i] + a[i]; ss += sum[i] * sum[i]; }
    const float s = rms_scale(ss, c, eps);
    scale_weight256(sum, w, out, c, s);
    return s;
}

AVX2F static void rmsnorm_backward_avx2(const float *x, const float *w, const float *dy, float s, float *dx, size_t c, int accumulate) {
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= c; i += 8)
        acc = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(dy + i), _mm256_loadu_ps(w + i)), _mm256_loadu_ps(x + i), acc);
    float dot = hsum8(acc);
    for (; i < c; i++) dot += dy[i] * w[i] * x[i];
    const float m = dot * s / (float)c, k = s * s * m;
    const __m256 sv = _mm256_set1_ps(s), kv = _mm256_set1_ps(k);
    for (i = 0; i + 8 <= c; i += 8) {
        const __m256 dyw = _mm256_mul_ps(_mm256_loadu_ps(dy + i), _mm256_loadu_ps(w + i));
        __m256 v = _mm256_fmsub_ps(sv, dyw, _mm256_mul_ps(_mm256_loadu_ps(x + i), kv));
        if (accumulate) v = _mm256_add_ps(v, _mm256_loadu_ps(dx + i));
        _mm256_storeu_ps(dx + i, v);
    }
    for (; i < c; i++) {
        const float v = s * dy[i] * w[i] - x[i] * k;
        dx[i] = accumulate ? dx[i] + v : v;
    }
}

AVX2F static void rope_avx2(const float *x, const float *cos, const float *sin, float *out, size_t heads, size_t half, float sign) {
    const __m256 sg = _mm256_set1_ps(sign);
    for (size_t h = 0; h < heads; h++) {
        const float *xi = x + h * 2 * half;
        float *oi = out + h * 2 * half;
        size_t i = 0;
        for (; i + 8 <= half; i += 8) {
            const __m256 a = _mm256_loadu_ps(xi + i), b = _mm256_loadu_ps(xi + half + i);
            const __m256 co = _mm256_loadu_ps(cos + i), si = _mm256_mul_ps(sg, _mm256_loadu_ps(sin + i));
            const __m256 lo = _mm256_fmsub_ps(a, co, _mm256_mul_ps(b, si)), hi = _mm256_fmadd_ps(b, co, _mm256_mul_ps(a, si));
            _mm256_storeu_ps(oi + i, lo);
            _mm256_storeu_ps(oi + half + i, hi);
        }
        for (; i < half; i++) {
            const float a = xi[i], b = xi[i + half], co = cos[i], si = sign * sin[i];
            oi[i] = a * co - b * si;
            oi[i + half] = b * co + a * si;
        }
    }
}

FINCH_ADAMW(adamw_avx2, AVX2F, __m256, _mm256, 8)
#undef FINCH_ADAMW

AVX2F static double sum_squares_avx2(const float *x, size_t n) {
    double total = 0;
    for (size_t i = 0; i < n; i += FINCH_SUM_SQUARES_BLOCK)
        total += sum_squares256(x + i, n - i < FINCH_SUM_SQUARES_BLOCK ? n - i : FINCH_SUM_SQUARES_BLOCK);
    return total;
}

#define DISPATCH(call_avx512, call_avx2, call_ref) do { const int isa_ = finch_isa_active(); \
    if (isa_ >= FINCH_ISA_AVX512) { call_avx512; } else if (isa_ == FINCH_ISA_AVX2) { call_avx2; } else { call_ref; } } while (0)

#else
#define DISPATCH(call_avx512, call_avx2, call_ref) do { call_ref; } while (0)
#endif

float finch_rmsnorm_f32(const float *x, const float *w, float *out, size_t c, float eps) {
    DISPATCH(return rmsnorm_avx512(x, w, out, c, eps), return rmsnorm_avx2(x, w, out, c, eps), return finch_rmsnorm_f32_ref(x, w, out, c, eps));
}

float finch_add_rmsnorm_f32(const float *x, const float *a, float *sum, const float *w, float *out, size_t c, float eps) {
    DISPATCH(return add_rmsnorm_avx512(x, a, sum, w, out, c, eps), return add_rmsnorm_avx2(x, a, sum, w, out, c, eps),
             return finch_add_rmsnorm_f32_ref(x, a, sum, w, out, c, eps));
}

void finch_rmsnorm_backward_f32(const float *x, const float *w, const float *dy, float rstd, float *dx, size_t c, int accumulate) {
    DISPATCH(rmsnorm_backward_avx512(x, w, dy, rstd, dx, c, accumulate), rmsnorm_backward_avx2(x, w, dy, rstd, dx, c, accumulate),
             finch_rmsnorm_backward_f32_ref(x, w, dy, rstd, dx, c, accumulate));
}

void finch_rope_f32(const float *x, const float *cos, const float *sin, float *out, size_t heads, size_t half, float sign) {
    DISPATCH(rope_avx512(x, cos, sin, out, heads, half, sign), rope_avx2(x, cos, sin, out, heads, half, sign),
             finch_rope_f32_ref(x, cos, sin, out, heads, half, sign));
}

void finch_adamw_f32(float *p, const float *g, float *m, float *v, size_t n, const finch_adamw_hyper *h) {
    DISPATCH(adamw_avx512(p, g, m, v, n, h), adamw_avx2(p, g, m, v, n, h), finch_adamw_f32_ref(p, g, m, v, n, h));
}

double finch_sum_squares_f32(const float *x, size_t n) {
    DISPATCH(return sum_squares_avx512(x, n), return sum_squares_avx2(x, n), return finch_sum_squares_f32_ref(x, n));
}
