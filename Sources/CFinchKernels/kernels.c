#include "finch_kernels.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

int finch_cpu_has_avx2(void) { return finch_isa_active() >= FINCH_ISA_AVX2; }

// Scalar reference: IEEE 754 binary16 -> binary32, including subnormals, inf and NaN.
static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t mant = h & 0x3FF;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            exp = 127 - 15 + 1;
            while ((mant & 0x400) == 0) { mant <<= 1; exp--; }
            mant &= 0x3FF;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000 | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// Scalar reference: binary32 -> binary16 with round-to-nearest-even.
static inline uint16_t float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7FFFFFFF;
    if (absx >= 0x7F800000) {  // inf or NaN
        return (uint16_t)(sign | 0x7C00 | (absx > 0x7F800000 ? 0x200 : 0));
    }
    if (absx >= 0x477FF000) {  // rounds to >= 65520: overflow to inf
        return (uint16_t)(sign | 0x7C00);
    }
    if (absx < 0x38800000) {  // subnormal or zero in half
        if (absx < 0x33000000) return (uint16_t)sign;  // < 2^-25 rounds to zero
        uint32_t e = absx >> 23;
        uint32_t m = (absx & 0x7FFFFF) | 0x800000;
        uint32_t shift = 126 - e;  // 113 - e + 13
        uint32_t half_m = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half_m & 1))) half_m++;
        return (uint16_t)(sign | half_m);
    }
    uint32_t r = absx - 0x38000000;  // rebias exponent 127 -> 15
    uint32_t half_v = r >> 13;
    uint32_t rem = r & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (half_v & 1))) half_v++;
    return (uint16_t)(sign | half_v);
}

void finch_f16_to_f32_scalar(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = half_to_float(src[i]);
}

void finch_f32_to_f16_scalar(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = float_to_half(src[i]);
}

#if defined(__x86_64__)
__attribute__((target("avx2,f16c")))
static void f16_to_f32_f16c(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; i++) dst[i] = half_to_float(src[i]);
}

__attribute__((target("avx2,f16c")))
static void f32_to_f16_f16c(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 f = _mm256_loadu_ps(src + i);
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++) dst[i] = float_to_half(src[i]);
}
#endif

void finch_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
#if defined(__x86_64__)
    if (finch_cpu_has_avx2()) { f16_to_f32_f16c(src, dst, n); return; }
#endif
    finch_f16_to_f32_scalar(src, dst, n);
}

void finch_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
#if defined(__x86_64__)
    if (finch_cpu_has_avx2()) { f32_to_f16_f16c(src, dst, n); return; }
#endif
    finch_f32_to_f16_scalar(src, dst, n);
}
