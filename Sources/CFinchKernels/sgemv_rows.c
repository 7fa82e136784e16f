// f32 rows of W·x (see finch_sgemv.h). Four rows at a time share each load of x; the last group of a range
// reads its last row again for the missing ones and stores only the rows asked for.
#include "finch_sgemv.h"
#include "finch_isa.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static inline void store(float *y, size_t r, float dot, float alpha, int accumulate) {
    y[r] = (accumulate ? y[r] : 0.0f) + alpha * dot;
}

void finch_sgemv_rows_scalar(const float *w, const float *x, float *y, size_t rb, size_t re, size_t cols, float alpha, int accumulate) {
    for (size_t r = rb; r < re; r++) {
        const float *row = w + r * cols;
        float s = 0.0f;
        for (size_t c = 0; c < cols; c++) s += row[c] * x[c];
        store(y, r, s, alpha, accumulate);
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static void rows_avx512(const float *w, const float *x, float *y, size_t rb, size_t re, size_t cols,
                                                           float alpha, int accumulate) {
    const size_t full = cols & ~(size_t)15;
    const __mmask16 tail = (__mmask16)((1u << (cols & 15)) - 1);
    for (size_t r = rb; r < re; r += 4) {
        const float *p[4];
        for (int k = 0; k < 4; k++) p[k] = w + (r + (size_t)k < re ? r + (size_t)k : re - 1) * cols;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        size_t c = 0;
        for (; c < full; c += 16) {
            const __m512 xv = _mm512_loadu_ps(x + c);
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(p[0] + c), xv, a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(p[1] + c), xv, a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(p[2] + c), xv, a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(p[3] + c), xv, a3);
        }
        if (tail) {
            const __m512 xv = _mm512_maskz_loadu_ps(tail, x + c);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, p[0] + c), xv, a0);
            a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, p[1] + c), xv, a1);
            a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, p[2] + c), xv, a2);
            a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, p[3] + c), xv, a3);
        }
        const float s[4] = {_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1), _mm512_reduce_add_ps(a2), _mm512_reduce_add_ps(a3)};
        for (int k = 0; k < 4 && r + (size_t)k < re; k++) store(y, r + (size_t)k, s[k], alpha, accumulate);
    }
}

__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

__attribute__((target("avx2,fma"))) static void rows_avx2(const float *w, const float *x, float *y, size_t rb, size_t re, size_t cols,
                                                         float alpha, int accumulate) {
    const size_t full = cols & ~(size_t)7;
    for (size_t r = rb; r < re; r += 4) {
        const float *p[4];
        for (int k = 0; k < 4; k++) p[k] = w + (r + (size_t)k < re ? r + (size_t)k : re - 1) * cols;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        size_t c = 0;
        for (; c < full; c += 8) {
            const __m256 xv = _mm256_loadu_ps(x + c);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(p[0] + c), xv, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(p[1] + c), xv, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(p[2] + c), xv, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(p[3] + c), xv, a3);
        }
        float s[4] = {hsum256(a0), hsum256(a1), hsum256(a2), hsum256(a3)};
        for (; c < cols; c++)
            for (int k = 0; k < 4; k++) s[k] += p[k][c] * x[c];
        for (int k = 0; k < 4 && r + (size_t)k < re; k++) store(y, r + (size_t)k, s[k], alpha, accumulate);
    }
}
#endif

void finch_sgemv_rows(const float *w, const float *x, float *y, size_t rb, size_t re, size_t cols, float alpha, int accumulate) {
    if (rb >= re) return;
#if defined(__x86_64__)
    const int isa = finch_isa_active();
    if (isa >= FINCH_ISA_AVX512) { rows_avx512(w, x, y, rb, re, cols, alpha, accumulate); return; }
    if (isa == FINCH_ISA_AVX2) { rows_avx2(w, x, y, rb, re, cols, alpha, accumulate); return; }
#endif
    finch_sgemv_rows_scalar(w, x, y, rb, re, cols, alpha, accumulate);
}
