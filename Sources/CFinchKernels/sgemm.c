#include "finch_sgemm.h"
#include "finch_isa.h"
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// Register tile (MR rows × NR columns of C) and cache blocks: an MR×KC panel of packed A streams
// from L2 past a KC×NR panel of packed B (72 KiB, from L2 with the kernel's prefetch); the MC×KC block
// of A (324 KiB) sits in L2 and the KC×NC block of B (2.25 MiB) in L2/L3. KC covers k = 576 (SmolLM2's
// hidden size: every product of the forward but down's, and the LM head's) in one block, so C is written
// once instead of read and written again for each block: with KC = 256 (a panel sized for L1) the LM head's
// logits product, a 100 MB C, ran 8 % slower and the projections 1–3 % slower on a Zen 4 (32 KiB L1d;
// BENCHMARKS.md, session 14). NC keeps the B block near the 2 MiB it had, a thread's share of L3 on many-core CPUs.
#define MR 12
#define NR 32
// (KC, MC and NC can be set when compiling, for scripts/bench/sgemm_blocks.c.)
#ifndef KC
#define KC 576
#endif
#ifndef MC
#define MC 144
#endif
#ifndef NC
#define NC 1024
#endif
// Largest packed B block (floats, 640 KiB) swept row band by row band instead of panel by panel.
#define ROWS_FIRST_MAX 163840
// The widest branch (k2 columns: the LoRA rank) a product over a pre-packed B fuses into its last k block; wider
// ones run as a second product.
#define PACKED_FUSE_MAX 64

int finch_sgemm_has_avx512(void) { return finch_isa_active() >= FINCH_ISA_AVX512; }
int finch_sgemm_has_packed(void) { return finch_isa_process() >= FINCH_ISA_AVX2; }

static inline float at(const float *x, size_t ld, int trans, size_t r, size_t c) {
    return trans ? x[c * ld + r] : x[r * ld + c];
}

void finch_sgemm_ref(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                     const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < n; j++) {
            float acc = 0;
            for (size_t p = 0; p < k; p++) acc += at(a, lda, trans_a, i, p) * at(b, ldb, trans_b, p, j);
            float *cij = c + i * ldc + j;
            *cij = beta == 0 ? alpha * acc : alpha * acc + beta * *cij;
        }
    }
}

#if defined(__x86_64__)

// Per-thread packing buffers, kept between calls (freed when the thread exits).
typedef struct { float *a, *b; } pack_buffers;
static pthread_key_t buffers_key;
static pthread_once_t buffers_once = PTHREAD_ONCE_INIT;
static void free_buffers(void *p) {
    pack_buffers *bufs = p;
    free(bufs->a);
    free(bufs->b);
    free(bufs);
}
static void make_key(void) { pthread_key_create(&buffers_key, free_buffers); }

static pack_buffers *thread_buffers(void) {
    pthread_once(&buffers_once, make_key);
    pack_buffers *bufs = pthread_getspecific(buffers_key);
    if (!bufs) {
        bufs = malloc(sizeof *bufs);
        if (!bufs) abort();
        bufs->a = aligned_alloc(64, sizeof(float) * MC * (KC + PACKED_FUSE_MAX));
        bufs->b = aligned_alloc(64, sizeof(float) * NC * KC);
        if (!bufs->a || !bufs->b) abort();
        pthread_setspecific(buffers_key, bufs);
    }
    return bufs;
}

// dst[s·dstride + r] = src[r·sstride + s] for r, s < 4 (4 rows of 4 → 4 columns), and the same 8 × 8: the
// transposing packs (A untransposed, B transposed) move whole vectors instead of one float at a time.
__attribute__((target("avx2"), always_inline))
static inline void transpose4(const float *src, size_t sstride, float *dst, size_t dstride) {
    __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + sstride);
    __m128 r2 = _mm_loadu_ps(src + 2 * sstride), r3 = _mm_loadu_ps(src + 3 * sstride);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    _mm_storeu_ps(dst, r0);
    _mm_storeu_ps(dst + dstride, r1);
    _mm_storeu_ps(dst + 2 * dstride, r2);
    _mm_storeu_ps(dst + 3 * dstride, r3);
}

__attribute__((target("avx2"), always_inline))
static inline void transpose8(const float *src, size_t sstride, float *dst, size_t dstride) {
    __m256 r[8], t[8], u[8];
    for (int q = 0; q < 8; q++) r[q] = _mm256_loadu_ps(src + q * sstride);
    for (int q = 0; q < 8; q += 2) {
        t[q] = _mm256_unpacklo_ps(r[q], r[q + 1]);
        t[q + 1] = _mm256_unpackhi_ps(r[q], r[q + 1]);
    }
    for (int q = 0; q < 8; q += 4) {
        u[q] = _mm256_shuffle_ps(t[q], t[q + 2], 0x44);
        u[q + 1] = _mm256_shuffle_ps(t[q], t[q + 2], 0xEE);
        u[q + 2] = _mm256_shuffle_ps(t[q + 1], t[q + 3], 0x44);
        u[q + 3] = _mm256_shuffle_ps(t[q + 1], t[q + 3], 0xEE);
    }
    for (int q = 0; q < 4; q++) {
        _mm256_storeu_ps(dst + q * dstride, _mm256_permute2f128_ps(u[q], u[q + 4], 0x20));
        _mm256_storeu_ps(dst + (q + 4) * dstride, _mm256_permute2f128_ps(u[q], u[q + 4], 0x31));
    }
}

// A panel of `width` from `rows` ≤ width rows of a row-major matrix, transposed: dst[p·width + r] =
// src[r·ld + p] for p < kc, zero past `rows` (op(A) untransposed, op(B) transposed). Groups of 8 and 4 rows
// go through vector transposes, the last few rows and k columns one float at a time.
__attribute__((target("avx2"), always_inline))
static inline void pack_panel_transposed(const size_t width, const float *src, size_t ld, size_t rows, size_t kc,
                                         float *dst) {
    if (rows < width) memset(dst, 0, sizeof(float) * width * kc);
    size_t r = 0;
    for (; r + 8 <= rows; r += 8) {
        size_t p = 0;
        for (; p + 8 <= kc; p += 8) transpose8(src + r * ld + p, ld, dst + p * width + r, width);
        for (; p < kc; p++)
            for (size_t q = 0; q < 8; q++) dst[p * width + r + q] = src[(r + q) * ld + p];
    }
    for (; r + 4 <= rows; r += 4) {
        size_t p = 0;
        for (; p + 4 <= kc; p += 4) transpose4(src + r * ld + p, ld, dst + p * width + r, width);
        for (; p < kc; p++)
            for (size_t q = 0; q < 4; q++) dst[p * width + r + q] = src[(r + q) * ld + p];
    }
    for (; r < rows; r++)
        for (size_t p = 0; p < kc; p++) dst[p * width + r] = src[r * ld + p];
}

// Packs op(A)[i0 : i0+mc, p0 : p0+kc] as panels of MR rows: panel r holds, for each p, the MR
// values A(i0 + r·MR + 0…MR-1, p0 + p), zero past the last row.
// MR/NR are parameters (always inlined with constants) so the AVX2 6×16 kernel shares the packing.
__attribute__((target("avx2"), always_inline))
static inline void pack_a_tiles(const size_t TMR, int ta, const float *a, size_t lda, size_t i0, size_t mc, size_t p0,
                                size_t kc, float *dst, size_t stride) {
    for (size_t ir = 0; ir < mc; ir += TMR) {
        size_t mr = mc - ir < TMR ? mc - ir : TMR;
        if (!ta) {
            pack_panel_transposed(TMR, a + (i0 + ir) * lda + p0, lda, mr, kc, dst);
        } else {
            for (size_t p = 0; p < kc; p++) {
                const float *src = a + (p0 + p) * lda + i0 + ir;
                float *d = dst + p * TMR;
                size_t i = 0;
                for (; i < mr; i++) d[i] = src[i];
                for (; i < TMR; i++) d[i] = 0;
            }
        }
        dst += stride;
    }
}

// Packs op(B)[p0 : p0+kc, j0 : j0+nc] as panels of TNR columns: panel r holds, for each p, the TNR
// values B(p0 + p, j0 + r·TNR + 0…TNR-1), zero past the last column.
__attribute__((target("avx2"), always_inline))
static inline void pack_b_tiles(const size_t TNR, int tb, const float *b, size_t ldb, size_t p0, size_t kc, size_t j0,
                                size_t nc, float *dst, size_t stride) {
    if (!tb) {
        // Row by row, each row of B read once left to right: one stream from memory rather than one per panel
        // (the input gradient's W and the LoRA dA's x come from memory; 9-13 % off dA = dxaᵀ·x on one Zen 5 core).
        for (size_t p = 0; p < kc; p++) {
            const float *src = b + (p0 + p) * ldb + j0;
            for (size_t jr = 0; jr < nc; jr += TNR) {
                float *d = dst + jr / TNR * stride + p * TNR;
                size_t nr = nc - jr < TNR ? nc - jr : TNR;
                if (nr == TNR) {
                    memcpy(d, src + jr, sizeof(float) * TNR);
                } else {
                    size_t j = 0;
                    for (; j < nr; j++) d[j] = src[jr + j];
                    for (; j < TNR; j++) d[j] = 0;
                }
            }
        }
        return;
    }
    for (size_t jr = 0; jr < nc; jr += TNR) {
        size_t nr = nc - jr < TNR ? nc - jr : TNR;
        pack_panel_transposed(TNR, b + (j0 + jr) * ldb + p0, ldb, nr, kc, dst);
        dst += stride;
    }
}

__attribute__((target("avx2"))) static void pack_a(int ta, const float *a, size_t lda, size_t i0, size_t mc, size_t p0, size_t kc, float *dst, size_t stride) {
    pack_a_tiles(MR, ta, a, lda, i0, mc, p0, kc, dst, stride);
}
__attribute__((target("avx2"))) static void pack_b(int tb, const float *b, size_t ldb, size_t p0, size_t kc, size_t j0, size_t nc, float *dst, size_t stride) {
    pack_b_tiles(NR, tb, b, ldb, p0, kc, j0, nc, dst, stride);
}

// C[0:mr, 0:nr] = alpha · Ã·B̃ + beta · C over one packed MR×kc panel of A and kc×NR panel of B.
__attribute__((target("avx512f")))
static void kernel_12x32(size_t kc, const float *restrict a, const float *restrict b, float *c, size_t ldc,
                         float alpha, float beta, size_t mr, size_t nr) {
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps();
    __m512 c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps();
    __m512 c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps();
    __m512 c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
    __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps();
    __m512 c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
    __m512 c80 = _mm512_setzero_ps(), c81 = _mm512_setzero_ps();
    __m512 c90 = _mm512_setzero_ps(), c91 = _mm512_setzero_ps();
    __m512 ca0 = _mm512_setzero_ps(), ca1 = _mm512_setzero_ps();
    __m512 cb0 = _mm512_setzero_ps(), cb1 = _mm512_setzero_ps();
    // C's rows are needed only after the k loop: fetch them now so the (often cache-cold) C tile does not stall it.
    for (size_t i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 16), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + NR - 1), _MM_HINT_T0);
    }
#define FINCH_ROW(i, r0, r1) do { __m512 ai = _mm512_set1_ps(a[i]); \
        r0 = _mm512_fmadd_ps(ai, b0, r0); r1 = _mm512_fmadd_ps(ai, b1, r1); } while (0)
    for (size_t p = 0; p < kc; p++) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        _mm_prefetch((const char *)(b + 8 * NR), _MM_HINT_T0);
        FINCH_ROW(0, c00, c01); FINCH_ROW(1, c10, c11); FINCH_ROW(2, c20, c21);
        FINCH_ROW(3, c30, c31); FINCH_ROW(4, c40, c41); FINCH_ROW(5, c50, c51);
        FINCH_ROW(6, c60, c61); FINCH_ROW(7, c70, c71); FINCH_ROW(8, c80, c81);
        FINCH_ROW(9, c90, c91); FINCH_ROW(10, ca0, ca1); FINCH_ROW(11, cb0, cb1);
        a += MR;
        b += NR;
    }
#undef FINCH_ROW
    __m512 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51},
                         {c60, c61}, {c70, c71}, {c80, c81}, {c90, c91}, {ca0, ca1}, {cb0, cb1}};
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    for (size_t i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        __m512 r0 = _mm512_mul_ps(va, acc[i][0]), r1 = _mm512_mul_ps(va, acc[i][1]);
        if (beta != 0) {
            r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, ci), r0);
            r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, ci + 16), r1);
        }
        _mm512_mask_storeu_ps(ci, m0, r0);
        _mm512_mask_storeu_ps(ci + 16, m1, r1);
    }
}


// ---- Narrow products: n ≤ 64 (C one to four zmm wide) or m ≤ 16 (C a few rows tall), without packing op(A).
// The LoRA rank-16 products (x·Aᵀ, dy·B, dBᵀ = dyᵀ·xa, dA = dxaᵀ·x) have one side of 16: the 12×32
// packed kernel wastes half its columns there and packing op(A) (the big operand) is most of the cost.
// Here an R×(16·U) register tile of C accumulates Σ_p X(r, p) · Y(p, ·), X = op(A) read in place with
// embedded broadcasts (either layout), Y = op(B) rows read in place when B is untransposed, else
// transposed into a small thread-local buffer (k × 16·U floats). f32 accumulation in k order.

#define NARROW_AHEAD 12
// Rows of X read in place along p (op(A) untransposed: x·Aᵀ, dy·B): each row's line is fetched this many floats
// ahead (AVX-512 / AVX2; measured on Zen 5, 2 threads: 10-20 % off the LoRA x·Aᵀ and dy·B products).
#define NARROW_AHEAD_X 32
#define NARROW_AHEAD_X2 64

// op(B)[0:k, j0:j0+w] into buf as k rows of `width` floats, zero past w: the narrow kernels' Y when B is
// transposed (or, at AVX2, ragged). A transposed B goes through the packs' 8 × 8 vector transposes, 8 rows of B
// at a time: read one float at a time across all `width` rows, rows ldb = 1536 floats apart fell into two L1 sets
// (6 KiB strides), and the copy took 80 % of a 16 × 171 × 1536 product on a Zen 4 (BENCHMARKS.md, session 18).
__attribute__((target("avx2")))
static const float *narrow_b_copy(int tb, const float *b, size_t ldb, size_t k, size_t j0, size_t w, size_t width,
                                  float *buf) {
    if (tb) {
        pack_panel_transposed(width, b + j0 * ldb, ldb, w, k, buf);
        return buf;
    }
    for (size_t p = 0; p < k; p++)
        for (size_t j = 0; j < width; j++) buf[p * width + j] = j < w ? b[p * ldb + j0 + j] : 0;
    return buf;
}

static void sgemm_narrow_avx2(int ta, int tb, size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                              const float *b, size_t ldb, float beta, float *c, size_t ldc);

// C[0:R, 0:16U] (masked by mask[u]) = alpha · X·Y + beta · C over an R-row block; X(r, p) = x[r·xrs + p·xcs]
// with xrs == 1 or xcs == 1, Y(p, 16u + l) = y[p·ys + 16u + l].
__attribute__((target("avx512f"), always_inline))
static inline void narrow_tile(const int R, const int U, size_t k, const float *x, size_t xrs, size_t xcs,
                               const float *y, size_t ys, const __mmask16 *mask, float *c, size_t ldc,
                               float alpha, float beta) {
    __m512 acc[16 * 4];
#pragma clang loop unroll(full)
    for (int i = 0; i < R * U; i++) acc[i] = _mm512_setzero_ps();
    if (xrs == 1) {
        for (size_t p = 0; p < k; p++) {
            const float *xp = x + p * xcs, *yp = y + p * ys;
            // Rows of op(A)ᵀ (and of a strided B) lie lda apart: fetch NARROW_AHEAD of them ahead.
            _mm_prefetch((const char *)(xp + NARROW_AHEAD * xcs), _MM_HINT_T0);
            if (R > 8) _mm_prefetch((const char *)(xp + NARROW_AHEAD * xcs + 15), _MM_HINT_T0);
#pragma clang loop unroll(full)
            for (int u = 0; u < U; u++) _mm_prefetch((const char *)(yp + NARROW_AHEAD * ys + 16 * u), _MM_HINT_T0);
            __m512 yv[4];
#pragma clang loop unroll(full)
            for (int u = 0; u < U; u++) yv[u] = _mm512_maskz_loadu_ps(mask[u], yp + 16 * u);
#pragma clang loop unroll(full)
            for (int r = 0; r < R; r++) {
                __m512 xv = _mm512_set1_ps(xp[r]);
#pragma clang loop unroll(full)
                for (int u = 0; u < U; u++) acc[r * U + u] = _mm512_fmadd_ps(xv, yv[u], acc[r * U + u]);
            }
        }
    } else {
        for (size_t p = 0; p < k; p++) {
            const float *xp = x + p, *yp = y + p * ys;
            // Each of the R rows of X is read along p: fetch its line ahead once per line.
            if ((p & 15) == 0) {
#pragma clang loop unroll(full)
                for (int r = 0; r < R; r++) _mm_prefetch((const char *)(xp + r * xrs + NARROW_AHEAD_X), _MM_HINT_T0);
            }
#pragma clang loop unroll(full)
            for (int u = 0; u < U; u++) _mm_prefetch((const char *)(yp + NARROW_AHEAD * ys + 16 * u), _MM_HINT_T0);
            __m512 yv[4];
#pragma clang loop unroll(full)
            for (int u = 0; u < U; u++) yv[u] = _mm512_maskz_loadu_ps(mask[u], yp + 16 * u);
#pragma clang loop unroll(full)
            for (int r = 0; r < R; r++) {
                __m512 xv = _mm512_set1_ps(xp[r * xrs]);
#pragma clang loop unroll(full)
                for (int u = 0; u < U; u++) acc[r * U + u] = _mm512_fmadd_ps(xv, yv[u], acc[r * U + u]);
            }
        }
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma clang loop unroll(full)
    for (int r = 0; r < R; r++) {
#pragma clang loop unroll(full)
        for (int u = 0; u < U; u++) {
            float *cr = c + r * ldc + 16 * u;
            __m512 v = _mm512_mul_ps(va, acc[r * U + u]);
            if (beta != 0) v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask[u], cr), v);
            _mm512_mask_storeu_ps(cr, mask[u], v);
        }
    }
}

// Rows [0, m) of C[·, 0:16U] in blocks of 16 rows (U = 1) … 6 rows (U = 4: 24 accumulators, op(B) read ⌈m/6⌉
// times; 4-row blocks took 20 % longer at m = 16, n = 576, k = 1024), remainders of 8, 4, 2 and 1.
#define FINCH_NARROW_ROWS(U, RMAX)                                                                              \
    __attribute__((target("avx512f"))) static void narrow_rows_u##U(                                            \
        size_t m, size_t k, const float *x, size_t xrs, size_t xcs, const float *y, size_t ys,                   \
        const __mmask16 *mask, float *c, size_t ldc, float alpha, float beta) {                                  \
        size_t i = 0;                                                                                            \
        for (; i + RMAX <= m; i += RMAX)                                                                         \
            narrow_tile(RMAX, U, k, x + i * xrs, xrs, xcs, y, ys, mask, c + i * ldc, ldc, alpha, beta);         \
        if (RMAX > 8 && m - i >= 8) { narrow_tile(8, U, k, x + i * xrs, xrs, xcs, y, ys, mask, c + i * ldc, ldc, alpha, beta); i += 8; } \
        if (RMAX > 4 && m - i >= 4) { narrow_tile(4, U, k, x + i * xrs, xrs, xcs, y, ys, mask, c + i * ldc, ldc, alpha, beta); i += 4; } \
        if (m - i >= 2) { narrow_tile(2, U, k, x + i * xrs, xrs, xcs, y, ys, mask, c + i * ldc, ldc, alpha, beta); i += 2; } \
        if (m - i >= 1) { narrow_tile(1, U, k, x + i * xrs, xrs, xcs, y, ys, mask, c + i * ldc, ldc, alpha, beta); i += 1; } \
    }
FINCH_NARROW_ROWS(1, 16)
FINCH_NARROW_ROWS(2, 12)
FINCH_NARROW_ROWS(3, 8)
FINCH_NARROW_ROWS(4, 6)
#undef FINCH_NARROW_ROWS

static inline __mmask16 lanes(size_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

// Columns of C per pass when m ≤ 16 (four zmm), and the transposed-B buffer that needs (floats).
#define NARROW_W 64
// Widest C (columns) the narrow path takes at any m: up to three LoRA ranks side by side, and attention's
// 64-wide heads (P·V, dS·K, Pᵀ·dO, dSᵀ·Q: op(A) is the score block, in cache, so packing it cost more than
// the product gained: 166 → 254 GFLOP/s for dSᵀ·Q on one Zen 5 core, 102 → 122 at avx2).
#ifndef NARROW_N
#define NARROW_N 64
#endif

__attribute__((target("avx512f")))
static void sgemm_narrow(int ta, int tb, size_t m, size_t n, size_t k, float alpha,
                         const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    size_t xrs = ta ? 1 : lda, xcs = ta ? lda : 1;
    float *buf = thread_buffers()->b;  // NC·KC floats ≥ k·NARROW_W (the caller checks)
    if (n <= NARROW_N) {
        // One pass of ⌈n/16⌉ zmm: 16 rows × 16, 12 × 32, 8 × 48 or 6 × 64 columns a tile (x·[A_q; A_k; A_v]ᵀ is 48 wide).
        size_t u = (n + 15) / 16;
        __mmask16 mask[4];
        for (size_t v = 0; v < 4; v++) mask[v] = lanes(n > 16 * v ? n - 16 * v : 0);
        const float *y = b;
        size_t ys = ldb;
        if (tb) {
            y = narrow_b_copy(tb, b, ldb, k, 0, n, 16 * u, buf);
            ys = 16 * u;
        }
        if (u == 1) narrow_rows_u1(m, k, a, xrs, xcs, y, ys, mask, c, ldc, alpha, beta);
        else if (u == 2) narrow_rows_u2(m, k, a, xrs, xcs, y, ys, mask, c, ldc, alpha, beta);
        else if (u == 3) narrow_rows_u3(m, k, a, xrs, xcs, y, ys, mask, c, ldc, alpha, beta);
        else narrow_rows_u4(m, k, a, xrs, xcs, y, ys, mask, c, ldc, alpha, beta);
        return;
    }
    // m ≤ 16, or op(A) = Aᵀ up to NARROW_TN_M rows (finch_sgemm_takes_narrow): NARROW_W columns of C at a time.
    for (size_t j0 = 0; j0 < n; j0 += NARROW_W) {
        size_t w = n - j0 < NARROW_W ? n - j0 : NARROW_W;
        __mmask16 mask[4];
        for (size_t u = 0; u < 4; u++) mask[u] = lanes(w > 16 * u ? w - 16 * u : 0);
        const float *y = b + j0;
        size_t ys = ldb;
        if (tb) {
            y = narrow_b_copy(tb, b, ldb, k, j0, w, NARROW_W, buf);
            ys = NARROW_W;
        }
        narrow_rows_u4(m, k, a, xrs, xcs, y, ys, mask, c + j0, ldc, alpha, beta);
    }
}

// The narrow kernels' transposed-B buffer holds k rows of NARROW_W floats.
static inline int narrow_k_fits(size_t k) { return k >= 1 && k * NARROW_W <= (size_t)NC * KC; }

/// 1 when finch_sgemm_avx512 takes the narrow path for this shape.
int finch_sgemm_is_narrow(size_t m, size_t n, size_t k) {
    return (n <= NARROW_N || m <= 16) && narrow_k_fits(k);
}

// Tallest op(A) = Aᵀ against an untransposed B that takes the narrow path: an adapter's weight gradient
// dA = d(xa)ᵀ·x, m the rank or up to three ranks side by side. Packing op(B) (the tokens × features input, read
// cold from memory) for so few rows cost more than the product: m = 48, n = 576, k = 1024 on two Zen 5 cores
// 207 → 153 µs (m = 32: 178 → 116), at avx2 346 → 313 µs (300 → 244); at m = 64 the two paths tie.
#define NARROW_TN_M 48

int finch_sgemm_takes_narrow(int trans_a, int trans_b, size_t m, size_t n, size_t k) {
    return (n <= NARROW_N || m <= 16 || (trans_a && !trans_b && m <= NARROW_TN_M)) && narrow_k_fits(k);
}

void finch_sgemm_narrow(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                        const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    if (finch_isa_active() < FINCH_ISA_AVX2 || m == 0 || n == 0 || !finch_sgemm_takes_narrow(trans_a, trans_b, m, n, k)) {
        finch_sgemm_avx512(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    if (finch_isa_active() == FINCH_ISA_AVX2) sgemm_narrow_avx2(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else sgemm_narrow(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Packs rows × cols of op(X) from (r0, c0) as panels `stride` floats apart (a panel of a k block holding several parts).
typedef void (*pack_fn)(int trans, const float *x, size_t ld, size_t r0, size_t rows, size_t c0, size_t cols, float *dst,
                        size_t stride);
typedef void (*micro_kernel)(size_t kc, const float *restrict a, const float *restrict b, float *c, size_t ldc,
                             float alpha, float beta, size_t mr, size_t nr);
typedef void (*narrow_fn)(int ta, int tb, size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                          const float *b, size_t ldb, float beta, float *c, size_t ldc);

// A second product into the same C (finch_sgemm2): op(A2) (m × k) and op(B2) (k × n), scaled by alpha.
typedef struct {
    int ta, tb;
    size_t k;
    float alpha;
    const float *a, *b;
    size_t lda, ldb;
} gemm_pair;

// Packs the k columns [pc, pc + kc) of [op(X) | op(X2)] (k1 of them from op(X), the rest from op(X2)) as panels
// of T: each panel holds kc k-rows of T floats, op(X)'s first. The panels run along rows [r0, r0 + rows) of op(A)
// or, `is_b`, columns of op(B) (pack_b takes the k range first). `scale` multiplies op(X2)'s part (1: as is).
__attribute__((always_inline))
static inline void pack_parts(const size_t T, const int is_b, pack_fn pack, int t1, const float *x1, size_t ld1,
                              size_t k1, int t2, const float *x2, size_t ld2, float scale, size_t r0, size_t rows,
                              size_t pc, size_t kc, float *dst) {
    size_t kc1 = pc < k1 ? (k1 - pc < kc ? k1 - pc : kc) : 0, p2 = pc + kc1 - k1;
    if (kc1) {
        if (is_b) pack(t1, x1, ld1, pc, kc1, r0, rows, dst, T * kc);
        else pack(t1, x1, ld1, r0, rows, pc, kc1, dst, T * kc);
    }
    if (kc1 == kc) return;
    if (is_b) pack(t2, x2, ld2, p2, kc - kc1, r0, rows, dst + T * kc1, T * kc);
    else pack(t2, x2, ld2, r0, rows, p2, kc - kc1, dst + T * kc1, T * kc);
    if (scale == 1) return;
    for (size_t q = 0; q < rows; q += T) {
        float *d = dst + q / T * T * kc + T * kc1;
        for (size_t i = 0; i < T * (kc - kc1); i++) d[i] *= scale;
    }
}

// The register tiles of one mc × nc block of C over its packed operands: A's TMR-row panels `a_panel` floats
// apart (kc of them the product's; with `kb`, kb more behind them for the branch), B's TNR-column panels kc × TNR
// (`b`) and, with `kb`, the branch's kb × TNR (`b2`), whose kernel call adds onto the tile while it is in L1.
__attribute__((always_inline))
static inline void sweep_tiles(const size_t TMR, const size_t TNR, const size_t rows_first_max, micro_kernel kernel,
                               size_t mc, size_t nc, size_t kc, const float *a, size_t a_panel, const float *b,
                               size_t kb, const float *b2, float *c, size_t ldc, float alpha, float beta) {
#define FINCH_TILE() do { \
        float *ct = c + ir * ldc + jr; \
        const float *at = a + ir / TMR * a_panel; \
        kernel(kc, at, b + jr * kc, ct, ldc, alpha, beta, mr, nr); \
        if (kb) kernel(kb, at + TMR * kc, b2 + jr * kb, ct, ldc, alpha, 1, mr, nr); \
    } while (0)
    if (kc * nc <= rows_first_max) {
        // The packed B block fits in L2: sweep C a band of TMR rows at a time, left to right, so its stores
        // stream (C is often freshly allocated and not in cache).
        for (size_t ir = 0; ir < mc; ir += TMR) {
            size_t mr = mc - ir < TMR ? mc - ir : TMR;
            for (size_t jr = 0; jr < nc; jr += TNR) {
                size_t nr = nc - jr < TNR ? nc - jr : TNR;
                FINCH_TILE();
            }
        }
    } else {
        // Keep each KC×TNR panel of B in L1 while the TMR-row panels of A stream past it.
        for (size_t jr = 0; jr < nc; jr += TNR) {
            size_t nr = nc - jr < TNR ? nc - jr : TNR;
            for (size_t ir = 0; ir < mc; ir += TMR) {
                size_t mr = mc - ir < TMR ? mc - ir : TMR;
                FINCH_TILE();
            }
        }
    }
#undef FINCH_TILE
}

// Rows [0, m) of one k block, TMC at a time: op(A)'s columns [pc, pc + kt) packed into `abuf` (with `ex`, those
// past k1 from op(A2): a branch's columns behind the product's), then their tiles swept over the packed B
// (`b`: kc rows; `b2`: kb more, the pre-packed product's branch).
__attribute__((always_inline))
static inline void sweep_row_blocks(const size_t TMR, const size_t TNR, const size_t TMC, const size_t rows_first_max,
                                    pack_fn pack_a_fn, micro_kernel kernel, int ta, const float *a, size_t lda,
                                    const gemm_pair *ex, size_t k1, size_t m, size_t nc, size_t pc, size_t kc,
                                    size_t kt, const float *b, size_t kb, const float *b2, float *abuf, float *c,
                                    size_t ldc, float alpha, float beta) {
    for (size_t ic = 0; ic < m; ic += TMC) {
        size_t mc = m - ic < TMC ? m - ic : TMC;
        if (ex) pack_parts(TMR, 0, pack_a_fn, ta, a, lda, k1, ex->ta, ex->a, ex->lda, 1, ic, mc, pc, kt, abuf);
        else pack_a_fn(ta, a, lda, ic, mc, pc, kt, abuf, TMR * kt);
        sweep_tiles(TMR, TNR, rows_first_max, kernel, mc, nc, kc, abuf, TMR * kt, b, kb, b2, c + ic * ldc, ldc, alpha, beta);
    }
}

// The blocked product shared by the ISA levels: TMR×TNR register tiles of `kernel` over operands packed by
// `pack_a_fn` / `pack_b_fn`, narrow shapes to `narrow`. Inlined into each level's target function. With `extra`
// (never narrow: the caller checks), its pair runs as more k columns behind op(A)'s and op(B)'s.
__attribute__((always_inline))
static inline void sgemm_blocked(const size_t TMR, const size_t TNR, const size_t TKC, const size_t TMC, const size_t TNC,
                                 const size_t rows_first_max, pack_fn pack_a_fn, pack_fn pack_b_fn,
                                 micro_kernel kernel, narrow_fn narrow, int ta, int tb, size_t m, size_t n, size_t k,
                                 float alpha, const float *a, size_t lda, const float *b, size_t ldb, float beta,
                                 float *c, size_t ldc, const gemm_pair *extra) {
    if (m == 0 || n == 0) return;
    const size_t k1 = k;
    if (extra) k += extra->k;
    if (k == 0) {
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
        return;
    }
    if (!extra && finch_sgemm_takes_narrow(ta, tb, m, n, k)) {
        narrow(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    pack_buffers *bufs = thread_buffers();
    // Equal k blocks of at most TKC.
    size_t kblocks = (k + TKC - 1) / TKC;
    size_t kcb = (k + kblocks - 1) / kblocks;
    for (size_t jc = 0; jc < n; jc += TNC) {
        size_t nc = n - jc < TNC ? n - jc : TNC;
        for (size_t pc = 0; pc < k; pc += kcb) {
            size_t kc = k - pc < kcb ? k - pc : kcb;
            if (extra)
                pack_parts(TNR, 1, pack_b_fn, tb, b, ldb, k1, extra->tb, extra->b, extra->ldb, extra->alpha, jc, nc, pc, kc, bufs->b);
            else
                pack_b_fn(tb, b, ldb, pc, kc, jc, nc, bufs->b, TNR * kc);
            sweep_row_blocks(TMR, TNR, TMC, rows_first_max, pack_a_fn, kernel, ta, a, lda, extra, k1, m, nc, pc, kc, kc,
                             bufs->b, 0, NULL, bufs->a, c + jc, ldc, alpha, pc == 0 ? beta : 1);
        }
    }
}

__attribute__((target("avx512f")))
static void sgemm_avx512(int ta, int tb, size_t m, size_t n, size_t k, float alpha,
                         const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    sgemm_blocked(MR, NR, KC, MC, NC, ROWS_FIRST_MAX, pack_a, pack_b, kernel_12x32, sgemm_narrow, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                  NULL);
}

__attribute__((target("avx512f")))
static void sgemm2_avx512(int ta, int tb, size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                          const float *b, size_t ldb, const gemm_pair *extra, float beta, float *c, size_t ldc) {
    sgemm_blocked(MR, NR, KC, MC, NC, ROWS_FIRST_MAX, pack_a, pack_b, kernel_12x32, sgemm_narrow, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                  extra);
}

// ---- Pre-packed B (finch_sgemm_pack_b / finch_sgemm_packed_tile): a frozen weight (op(B) k × n: W used as
// Wᵀ in y = x·Wᵀ, or as is in dx = dy·W) packed once into the panels sgemm_blocked would pack on every call. Layout for a level's TNR and
// TKC: the k rows split into equal blocks of at most TKC (from k alone); block b (rows [pc, pc + kc)) at
// pc · n_pad floats, its column panel j (columns [j·TNR, (j+1)·TNR), zero past n) at j · TNR · kc within it.

__attribute__((always_inline))
static inline size_t packed_kcb(const size_t TKC, size_t k) {
    size_t kblocks = (k + TKC - 1) / TKC;
    return (k + kblocks - 1) / kblocks;
}

__attribute__((always_inline))
static inline void pack_b_all(const size_t TNR, const size_t TKC, pack_fn pack_b_fn, int tb, size_t n, size_t k,
                              const float *b, size_t ldb, float *dst) {
    size_t n_pad = (n + TNR - 1) / TNR * TNR, kcb = packed_kcb(TKC, k);
    for (size_t pc = 0; pc < k; pc += kcb) {
        size_t kc = k - pc < kcb ? k - pc : kcb;
        pack_b_fn(tb, b, ldb, pc, kc, 0, n, dst + pc * n_pad, TNR * kc);
    }
}

// C[:, 0:n] = alpha · op(A)·op(B) (+ alpha · op(A2)·op(B2), `extra`) + beta · C, op(B)'s columns [n0, n0 + n)
// read from `packed` (the whole product's n_pad columns). No B is packed but the branch's (k2 × nc, scaled);
// A is packed as in sgemm_blocked, with the branch's k2 columns behind the last k block, whose kernel calls
// then run in two parts (the pre-packed W panel, then the branch's), the second adding onto C while it is in L1.
__attribute__((always_inline))
static inline void sgemm_packed_blocked(const size_t TMR, const size_t TNR, const size_t TKC, const size_t TMC,
                                        const size_t TNC, const size_t rows_first_max, pack_fn pack_a_fn,
                                        pack_fn pack_b_fn, micro_kernel kernel, int ta, size_t m, size_t n, size_t k,
                                        float alpha, const float *a, size_t lda, const float *packed, size_t n_pad,
                                        size_t n0, const gemm_pair *extra, float beta, float *c, size_t ldc) {
    pack_buffers *bufs = thread_buffers();
    const size_t kcb = packed_kcb(TKC, k), k2 = extra ? extra->k : 0;
    for (size_t jc = 0; jc < n; jc += TNC) {
        size_t nc = n - jc < TNC ? n - jc : TNC;
        for (size_t pc = 0; pc < k; pc += kcb) {
            size_t kc = k - pc < kcb ? k - pc : kcb;
            size_t kb = pc + kc == k ? k2 : 0, kt = kc + kb;
            const float *bp = packed + pc * n_pad + (n0 + jc) * kc;
            // The branch's B (kb × nc, scaled): pack_parts with no columns of op(B) before it.
            if (kb)
                pack_parts(TNR, 1, pack_b_fn, 0, NULL, 0, 0, extra->tb, extra->b, extra->ldb, extra->alpha, jc, nc, 0, kb, bufs->b);
            sweep_row_blocks(TMR, TNR, TMC, rows_first_max, pack_a_fn, kernel, ta, a, lda, kb ? extra : NULL, k, m, nc, pc,
                             kc, kt, bp, kb, bufs->b, bufs->a, c + jc, ldc, alpha, pc == 0 ? beta : 1);
        }
    }
}

__attribute__((target("avx512f")))
static void pack_b_all_avx512(int tb, size_t n, size_t k, const float *b, size_t ldb, float *dst) {
    pack_b_all(NR, KC, pack_b, tb, n, k, b, ldb, dst);
}

__attribute__((target("avx512f")))
static void sgemm_packed_avx512(int ta, size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                                const float *packed, size_t n_pad, size_t n0, const gemm_pair *extra, float beta,
                                float *c, size_t ldc) {
    sgemm_packed_blocked(MR, NR, KC, MC, NC, ROWS_FIRST_MAX, pack_a, pack_b, kernel_12x32, ta, m, n, k, alpha, a, lda,
                         packed, n_pad, n0, extra, beta, c, ldc);
}

// ---- AVX2 + FMA: the same BLIS structure 8 lanes wide. A 6×16 register tile (12 ymm accumulators of
// the 16) over the same KC/MC/NC blocks and packing (panels of 6 rows / 16 columns); partial tiles
// of C go through a 6×16 scratch tile since AVX2 has no masked stores of the AVX-512 kind.
#define MR2 6
#define NR2 16
#ifndef KC2
#define KC2 576
#endif
#ifndef MC2
#define MC2 144
#endif
#ifndef NC2
#define NC2 1024
#endif
#ifndef ROWS_FIRST_MAX2
#define ROWS_FIRST_MAX2 163840
#endif
_Static_assert(MC2 * KC2 <= MC * KC && NC2 * KC2 <= NC * KC, "the AVX2 blocks fit the packing buffers");
_Static_assert(NC2 * PACKED_FUSE_MAX <= NC * KC, "a fused branch's B block fits the packing buffer");
#define AVX2F __attribute__((target("avx2,fma")))

__attribute__((target("avx2"))) static void pack_a2(int ta, const float *a, size_t lda, size_t i0, size_t mc, size_t p0, size_t kc, float *dst, size_t stride) {
    pack_a_tiles(MR2, ta, a, lda, i0, mc, p0, kc, dst, stride);
}
__attribute__((target("avx2"))) static void pack_b2(int tb, const float *b, size_t ldb, size_t p0, size_t kc, size_t j0, size_t nc, float *dst, size_t stride) {
    pack_b_tiles(NR2, tb, b, ldb, p0, kc, j0, nc, dst, stride);
}

AVX2F static void kernel_6x16(size_t kc, const float *restrict a, const float *restrict b, float *c, size_t ldc,
                              float alpha, float beta, size_t mr, size_t nr) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (size_t i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + NR2 - 1), _MM_HINT_T0);
    }
#define FINCH_ROW(i, r0, r1) do { __m256 ai = _mm256_broadcast_ss(a + i); \
        r0 = _mm256_fmadd_ps(ai, b0, r0); r1 = _mm256_fmadd_ps(ai, b1, r1); } while (0)
    for (size_t p = 0; p < kc; p++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        _mm_prefetch((const char *)(b + 8 * NR2), _MM_HINT_T0);
        FINCH_ROW(0, c00, c01); FINCH_ROW(1, c10, c11); FINCH_ROW(2, c20, c21);
        FINCH_ROW(3, c30, c31); FINCH_ROW(4, c40, c41); FINCH_ROW(5, c50, c51);
        a += MR2;
        b += NR2;
    }
#undef FINCH_ROW
    __m256 acc[MR2][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    if (mr == MR2 && nr == NR2) {
        for (size_t i = 0; i < MR2; i++) {
            float *ci = c + i * ldc;
            __m256 r0 = _mm256_mul_ps(va, acc[i][0]), r1 = _mm256_mul_ps(va, acc[i][1]);
            if (beta != 0) {
                r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), r0);
                r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), r1);
            }
            _mm256_storeu_ps(ci, r0);
            _mm256_storeu_ps(ci + 8, r1);
        }
        return;
    }
    float tile[MR2 * NR2];
    for (size_t i = 0; i < mr; i++) {
        _mm256_storeu_ps(tile + i * NR2, _mm256_mul_ps(va, acc[i][0]));
        _mm256_storeu_ps(tile + i * NR2 + 8, _mm256_mul_ps(va, acc[i][1]));
        float *ci = c + i * ldc;
        for (size_t j = 0; j < nr; j++) ci[j] = beta == 0 ? tile[i * NR2 + j] : tile[i * NR2 + j] + beta * ci[j];
    }
}

// The narrow products at AVX2: an R×(8·U) tile, the same reading of op(A) in place and of op(B) in place
// when full width, else copied (transposed if need be) into the zero-padded thread-local buffer, so the
// inner loop loads whole rows (AMD's masked loads are slow); only C's columns past n are masked.
AVX2F __attribute__((always_inline))
static inline void narrow_tile2(const int R, const int U, size_t k, const float *x, size_t xrs, size_t xcs,
                                const float *y, size_t ys, const __m256i *mask, float *c, size_t ldc,
                                float alpha, float beta) {
    __m256 acc[6 * 4];
#pragma clang loop unroll(full)
    for (int i = 0; i < R * U; i++) acc[i] = _mm256_setzero_ps();
    // Y rows are 8·U floats readable (full width in place, or the zero-padded buffer): plain loads.
#define FINCH_NARROW_STEP(prefetch_x) do { const float *xp = x + p * xcs, *yp = y + p * ys; prefetch_x;   \
        _Pragma("clang loop unroll(full)")                                                              \
        for (int u = 0; u < U; u += 2) _mm_prefetch((const char *)(yp + NARROW_AHEAD * ys + 8 * u), _MM_HINT_T0); \
        __m256 yv[4];                                                                                   \
        _Pragma("clang loop unroll(full)")                                                              \
        for (int u = 0; u < U; u++) yv[u] = _mm256_loadu_ps(yp + 8 * u);                                \
        _Pragma("clang loop unroll(full)")                                                              \
        for (int r = 0; r < R; r++) {                                                                   \
            __m256 xv = _mm256_broadcast_ss(xp + r * xrs);                                              \
            _Pragma("clang loop unroll(full)")                                                          \
            for (int u = 0; u < U; u++) acc[r * U + u] = _mm256_fmadd_ps(xv, yv[u], acc[r * U + u]);   \
        } } while (0)
    if (xrs == 1) {
        for (size_t p = 0; p < k; p++) FINCH_NARROW_STEP(_mm_prefetch((const char *)(xp + NARROW_AHEAD * xcs), _MM_HINT_T0));
    } else {
        for (size_t p = 0; p < k; p++)
            FINCH_NARROW_STEP(if ((p & 7) == 0) {
                _Pragma("clang loop unroll(full)")
                for (int r = 0; r < R; r++) _mm_prefetch((const char *)(xp + r * xrs + NARROW_AHEAD_X2), _MM_HINT_T0);
            });
    }
#undef FINCH_NARROW_STEP
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    // Masked loads and stores are slow on AMD cores: whole-width tiles take plain ones.
    int full = 1;
#pragma clang loop unroll(full)
    for (int u = 0; u < U; u++) full &= _mm256_movemask_ps(_mm256_castsi256_ps(mask[u])) == 0xFF;
#pragma clang loop unroll(full)
    for (int r = 0; r < R; r++) {
#pragma clang loop unroll(full)
        for (int u = 0; u < U; u++) {
            float *cr = c + r * ldc + 8 * u;
            __m256 v = _mm256_mul_ps(va, acc[r * U + u]);
            if (full) {
                if (beta != 0) v = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), v);
                _mm256_storeu_ps(cr, v);
            } else {
                if (beta != 0) v = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cr, mask[u]), v);
                _mm256_maskstore_ps(cr, mask[u], v);
            }
        }
    }
}

// Rows [0, m) in blocks of 6 rows × 16 columns (12 accumulators), then 4 / 2 / 1. One tile shape for both
// narrow cases: at m ≤ 16 a wider, shorter tile (3×32) re-reads op(B) twice as often and ran at half the speed.
#define FINCH_NARROW_ROWS2(U, RMAX)                                                                              \
    AVX2F static void narrow_rows2_u##U(size_t m, size_t k, const float *x, size_t xrs, size_t xcs, const float *y, \
                                        size_t ys, const __m256i *mask, float *c, size_t ldc, float alpha, float beta) { \
        size_t i = 0;                                                                                            \
        for (; i + RMAX <= m; i += RMAX)                                                                         \
            narrow_tile2(RMAX, U, k, x + i * xrs, xrs, xcs, y, ys, mask, c + i * ldc, ldc, alpha, beta);        \
        if (RMAX > 4 && m - i >= 4) { narrow_tile2(4, U, k, x + i * xrs, xrs, xcs, y, ys, mask, c + i * ldc, ldc, alpha, beta); i += 4; } \
        if (m - i >= 2) { narrow_tile2(2, U, k, x + i * xrs, xrs, xcs, y, ys, mask, c + i * ldc, ldc, alpha, beta); i += 2; } \
        if (m - i >= 1) { narrow_tile2(1, U, k, x + i * xrs, xrs, xcs, y, ys, mask, c + i * ldc, ldc, alpha, beta); i += 1; } \
    }
FINCH_NARROW_ROWS2(2, 6)
#undef FINCH_NARROW_ROWS2

AVX2F static inline __m256i lanes8(size_t n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n > 8 ? 8 : n)), idx);
}

// Columns of C per pass when m ≤ 16 at AVX2 (two ymm).
#define NARROW_W2 16

AVX2F static void sgemm_narrow_avx2(int ta, int tb, size_t m, size_t n, size_t k, float alpha,
                                    const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    size_t xrs = ta ? 1 : lda, xcs = ta ? lda : 1;
    float *buf = thread_buffers()->b;  // NC·KC floats ≥ k·NARROW_W ≥ k·NARROW_W2 (finch_sgemm_is_narrow)
    // ⌈n/16⌉ passes (the tile is 16 wide either way), each reading op(A) once more (from cache at n ≤ 64).
    for (size_t j0 = 0; j0 < n; j0 += NARROW_W2) {
        size_t w = n - j0 < NARROW_W2 ? n - j0 : NARROW_W2;
        __m256i mask[2];
        for (size_t u = 0; u < 2; u++) mask[u] = lanes8(w > 8 * u ? w - 8 * u : 0);
        const float *y = b + j0;
        size_t ys = ldb;
        if (tb || w < NARROW_W2) {
            y = narrow_b_copy(tb, b, ldb, k, j0, w, NARROW_W2, buf);
            ys = NARROW_W2;
        }
        narrow_rows2_u2(m, k, a, xrs, xcs, y, ys, mask, c + j0, ldc, alpha, beta);
    }
}

AVX2F static void sgemm_avx2(int ta, int tb, size_t m, size_t n, size_t k, float alpha,
                             const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    sgemm_blocked(MR2, NR2, KC2, MC2, NC2, ROWS_FIRST_MAX2, pack_a2, pack_b2, kernel_6x16, sgemm_narrow_avx2, ta, tb, m, n, k, alpha, a, lda, b, ldb,
                  beta, c, ldc, NULL);
}

AVX2F static void sgemm2_avx2(int ta, int tb, size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                              const float *b, size_t ldb, const gemm_pair *extra, float beta, float *c, size_t ldc) {
    sgemm_blocked(MR2, NR2, KC2, MC2, NC2, ROWS_FIRST_MAX2, pack_a2, pack_b2, kernel_6x16, sgemm_narrow_avx2, ta, tb, m, n, k, alpha, a, lda, b, ldb,
                  beta, c, ldc, extra);
}
AVX2F static void pack_b_all_avx2(int tb, size_t n, size_t k, const float *b, size_t ldb, float *dst) {
    pack_b_all(NR2, KC2, pack_b2, tb, n, k, b, ldb, dst);
}

AVX2F static void sgemm_packed_avx2(int ta, size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                                    const float *packed, size_t n_pad, size_t n0, const gemm_pair *extra, float beta,
                                    float *c, size_t ldc) {
    sgemm_packed_blocked(MR2, NR2, KC2, MC2, NC2, ROWS_FIRST_MAX2, pack_a2, pack_b2, kernel_6x16, ta, m, n, k, alpha,
                         a, lda, packed, n_pad, n0, extra, beta, c, ldc);
}
#undef AVX2F

void finch_sgemm_avx512(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                        const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    if (finch_isa_active() == FINCH_ISA_AVX2) {
        sgemm_avx2(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    if (!finch_sgemm_has_avx512()) {
        finch_sgemm_ref(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    sgemm_avx512(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

size_t finch_sgemm_packed_panel(int level) {
    return level == FINCH_ISA_AVX512 ? NR : level == FINCH_ISA_AVX2 ? NR2 : 0;
}

size_t finch_sgemm_packed_floats(int level, size_t n, size_t k) {
    size_t panel = finch_sgemm_packed_panel(level);
    if (!panel || level > finch_isa_supported()) return 0;
    return (n + panel - 1) / panel * panel * k;
}

int finch_sgemm_pack_b(int level, int trans_b, size_t n, size_t k, const float *b, size_t ldb, float *dst) {
    if (!finch_sgemm_packed_floats(level, n, k)) return -1;
    if (level == FINCH_ISA_AVX512) pack_b_all_avx512(trans_b, n, k, b, ldb, dst);
    else pack_b_all_avx2(trans_b, n, k, b, ldb, dst);
    return 0;
}

int finch_sgemm_packed_tile(int level, int trans_a, size_t m, size_t n, size_t k, float alpha, const float *a,
                            size_t lda, const float *packed, int trans_a2, int trans_b2, size_t k2, float alpha2,
                            const float *a2, size_t lda2, const float *b2, size_t ldb2, float beta, float *c,
                            size_t ldc, size_t m0, size_t m1, size_t n0, size_t n1) {
    size_t panel = finch_sgemm_packed_panel(level);
    if (!finch_sgemm_packed_floats(level, n, k) || finch_isa_active() != level || n0 % panel || k == 0) return -1;
    if (m1 <= m0 || n1 <= n0 || alpha == 0) return m1 <= m0 || n1 <= n0 ? 0 : -1;
    size_t n_pad = (n + panel - 1) / panel * panel, rows = m1 - m0, cols = n1 - n0;
    const float *as = trans_a ? a + m0 : a + m0 * lda;
    float *cs = c + m0 * ldc + n0;
    const float *a2s = trans_a2 ? a2 + m0 : a2 + m0 * lda2, *b2s = trans_b2 ? b2 + n0 * ldb2 : b2 + n0;
    gemm_pair extra = {trans_a2, trans_b2, k2, alpha2, a2s, b2s, lda2, ldb2};
    const gemm_pair *fused = k2 && k2 <= PACKED_FUSE_MAX ? &extra : NULL;
    if (level == FINCH_ISA_AVX512)
        sgemm_packed_avx512(trans_a, rows, cols, k, alpha, as, lda, packed, n_pad, n0, fused, beta, cs, ldc);
    else
        sgemm_packed_avx2(trans_a, rows, cols, k, alpha, as, lda, packed, n_pad, n0, fused, beta, cs, ldc);
    // A branch wider than the fused part allows: a second product onto C.
    if (k2 && !fused) finch_sgemm_avx512(trans_a2, trans_b2, rows, cols, k2, alpha * alpha2, a2s, lda2, b2s, ldb2, 1, cs, ldc);
    return 0;
}

#else

int finch_sgemm_is_narrow(size_t m, size_t n, size_t k) { (void)m; (void)n; (void)k; return 0; }
int finch_sgemm_takes_narrow(int trans_a, int trans_b, size_t m, size_t n, size_t k) {
    (void)trans_a; (void)trans_b; (void)m; (void)n; (void)k;
    return 0;
}

void finch_sgemm_narrow(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                        const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    finch_sgemm_ref(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void finch_sgemm_avx512(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                        const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    finch_sgemm_ref(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

size_t finch_sgemm_packed_panel(int level) { (void)level; return 0; }
size_t finch_sgemm_packed_floats(int level, size_t n, size_t k) { (void)level; (void)n; (void)k; return 0; }
int finch_sgemm_pack_b(int level, int trans_b, size_t n, size_t k, const float *b, size_t ldb, float *dst) {
    (void)level; (void)trans_b; (void)n; (void)k; (void)b; (void)ldb; (void)dst;
    return -1;
}
int finch_sgemm_packed_tile(int level, int trans_a, size_t m, size_t n, size_t k, float alpha, const float *a,
                            size_t lda, const float *packed, int trans_a2, int trans_b2, size_t k2, float alpha2,
                            const float *a2, size_t lda2, const float *b2, size_t ldb2, float beta, float *c,
                            size_t ldc, size_t m0, size_t m1, size_t n0, size_t n1) {
    (void)level; (void)trans_a; (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)lda; (void)packed;
    (void)trans_a2; (void)trans_b2; (void)k2; (void)alpha2; (void)a2; (void)lda2; (void)b2; (void)ldb2; (void)beta;
    (void)c; (void)ldc; (void)m0; (void)m1; (void)n0; (void)n1;
    return -1;
}

#endif

void finch_sgemm_tile(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                      const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc,
                      size_t m0, size_t m1, size_t n0, size_t n1) {
    (void)m; (void)n;
    if (m1 <= m0 || n1 <= n0) return;
    const float *as = trans_a ? a + m0 : a + m0 * lda;
    const float *bs = trans_b ? b + n0 * ldb : b + n0;
    finch_sgemm_avx512(trans_a, trans_b, m1 - m0, n1 - n0, k, alpha, as, lda, bs, ldb, beta, c + m0 * ldc + n0, ldc);
}

void finch_sgemm2(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                  const float *b, size_t ldb, int trans_a2, int trans_b2, size_t k2, float alpha2, const float *a2,
                  size_t lda2, const float *b2, size_t ldb2, float beta, float *c, size_t ldc) {
#if defined(__x86_64__)
    int level = finch_isa_active();
    if (level >= FINCH_ISA_AVX2 && m && n && k && k2 && !finch_sgemm_is_narrow(m, n, k + k2)) {
        gemm_pair extra = {trans_a2, trans_b2, k2, alpha2, a2, b2, lda2, ldb2};
        if (level == FINCH_ISA_AVX2) sgemm2_avx2(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, &extra, beta, c, ldc);
        else sgemm2_avx512(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, &extra, beta, c, ldc);
        return;
    }
#endif
    // The scalar level, and shapes the narrow kernels take: the two products one after the other.
    finch_sgemm_avx512(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    finch_sgemm_avx512(trans_a2, trans_b2, m, n, k2, alpha * alpha2, a2, lda2, b2, ldb2, 1, c, ldc);
}

void finch_sgemm2_tile(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                       const float *b, size_t ldb, int trans_a2, int trans_b2, size_t k2, float alpha2, const float *a2,
                       size_t lda2, const float *b2, size_t ldb2, float beta, float *c, size_t ldc,
                       size_t m0, size_t m1, size_t n0, size_t n1) {
    (void)m; (void)n;
    if (m1 <= m0 || n1 <= n0) return;
    finch_sgemm2(trans_a, trans_b, m1 - m0, n1 - n0, k, alpha, trans_a ? a + m0 : a + m0 * lda, lda,
                 trans_b ? b + n0 * ldb : b + n0, ldb, trans_a2, trans_b2, k2, alpha2,
                 trans_a2 ? a2 + m0 : a2 + m0 * lda2, lda2, trans_b2 ? b2 + n0 * ldb2 : b2 + n0, ldb2, beta,
                 c + m0 * ldc + n0, ldc);
}

void finch_sgemm_rows_pair(size_t m, size_t n, size_t r, float alpha, const float *d, size_t ldd, const float *f,
                           size_t ldf, float beta_e, float *e, size_t lde, const float *h, size_t ldh, float beta_g,
                           float *g, size_t ldg) {
    // Blocks of about 384 KiB of D (whole 16-row tiles of E): read from memory by the first product, from L2 by
    // the second, whose tiles of G then sum 4× more rows of D per load and store of G than with 96 KiB blocks
    // (the gate/up pair in a SmolLM2 step: 0.082 → 0.077 s over 5 steps on Zen 5; 768 KiB gained nothing more).
    size_t rb = (98304 / (n ? n : 1)) / 16 * 16;
    rb = rb < 16 ? 16 : rb > 256 ? 256 : rb;
    if (m == 0) {
        finch_sgemm_avx512(1, 0, n, r, 0, alpha, d, ldd, h, ldh, beta_g, g, ldg);  // G = β·G
        return;
    }
    for (size_t i0 = 0; i0 < m; i0 += rb) {
        size_t ib = m - i0 < rb ? m - i0 : rb;
        finch_sgemm_narrow(0, 0, ib, r, n, alpha, d + i0 * ldd, ldd, f, ldf, beta_e, e + i0 * lde, lde);
        finch_sgemm_narrow(1, 0, n, r, ib, alpha, d + i0 * ldd, ldd, h + i0 * ldh, ldh, i0 == 0 ? beta_g : 1, g, ldg);
    }
}
