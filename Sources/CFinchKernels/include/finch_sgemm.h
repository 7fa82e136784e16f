#ifndef FINCH_SGEMM_H
#define FINCH_SGEMM_H
#include <stddef.h>

// Row-major single-precision GEMM: C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, where
// op(X) is X or Xᵀ (trans_a / trans_b nonzero), with leading dimensions lda, ldb, ldc (elements).
// beta == 0 never reads C (it may hold garbage, NaN included).
//
// finch_sgemm_avx512 is a BLIS-style packed GEMM: panels of op(A) (12 rows) and op(B) (32 columns)
// are packed into thread-local buffers blocked for L1/L2, and a 12×32 AVX-512 FMA micro-kernel
// (24 zmm accumulators) runs over them. It is single-threaded; callers split C into tiles
// (finch_sgemm_tile) across threads. finch_sgemm_ref is the scalar reference (triple loop,
// f32 accumulation in k order); the tests compare both against each other and cblas.

/// 1 when the CPU has AVX-512F (the packed kernel's only requirement), else 0.
int finch_sgemm_has_avx512(void);

/// 1 when the active level has a packed kernel (avx512 or avx2), else 0 (callers use BLAS).
int finch_sgemm_has_packed(void);

/// The whole product, single-threaded, at the active ISA level: the 12×32 AVX-512 kernel, at avx2 the
/// same packed structure with a 6×16 AVX2+FMA kernel (8 lanes), at scalar the reference.
void finch_sgemm_avx512(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                        const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc);

/// Rows [m0, m1) × columns [n0, n1) of C only (same arguments otherwise): what one thread computes.
void finch_sgemm_tile(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                      const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc,
                      size_t m0, size_t m1, size_t n0, size_t n1);

/// C = alpha · (op(A)·op(B) + alpha2 · op(A2)·op(B2)) + beta · C: two products into one C, op(A2) m × k2 and
/// op(B2) k2 × n (a LoRA branch beside its base product: k2 the rank). The second pair is packed as more k
/// columns behind the last k block of the first, so C is written once for both instead of once more for the
/// branch. At the scalar level, and where m, n, k + k2 is a narrow shape, the two products run one after the
/// other. finch_sgemm2_tile: rows [m0, m1) × columns [n0, n1) of C only (one thread's share).
void finch_sgemm2(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                  const float *b, size_t ldb, int trans_a2, int trans_b2, size_t k2, float alpha2, const float *a2,
                  size_t lda2, const float *b2, size_t ldb2, float beta, float *c, size_t ldc);
void finch_sgemm2_tile(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                       const float *b, size_t ldb, int trans_a2, int trans_b2, size_t k2, float alpha2, const float *a2,
                       size_t lda2, const float *b2, size_t ldb2, float beta, float *c, size_t ldc,
                       size_t m0, size_t m1, size_t n0, size_t n1);

/// Pre-packed B: a frozen op(B) (k × n; a weight W used as Wᵀ in y = x·Wᵀ, trans_b 1, or as is in dx = dy·W)
/// multiplied many times, packed once into the panels the packed product would otherwise pack on every call,
/// for one ISA level (FINCH_ISA_AVX512: 32-column panels; FINCH_ISA_AVX2: 16). finch_sgemm_packed_floats: the
/// floats that takes (0 where the level has no packed kernel or the CPU lacks it); finch_sgemm_pack_b fills
/// dst (64-byte aligned), -1 where the level has none. finch_sgemm_packed_tile: rows [m0, m1) × columns
/// [n0, n1) of C = alpha · (op(A)·op(B) + alpha2 · op(A2)·op(B2)) + beta · C (k2 = 0: no branch; a branch of up
/// to 64 columns fused into the last k block as in finch_sgemm2; any m, though callers send the narrow
/// shapes to finch_sgemm_narrow). -1 (nothing written) unless the active level is `level` and n0 a multiple
/// of the panel width (finch_sgemm_packed_panel).
size_t finch_sgemm_packed_panel(int level);
size_t finch_sgemm_packed_floats(int level, size_t n, size_t k);
int finch_sgemm_pack_b(int level, int trans_b, size_t n, size_t k, const float *b, size_t ldb, float *dst);
int finch_sgemm_packed_tile(int level, int trans_a, size_t m, size_t n, size_t k, float alpha, const float *a,
                            size_t lda, const float *packed, int trans_a2, int trans_b2, size_t k2, float alpha2,
                            const float *a2, size_t lda2, const float *b2, size_t ldb2, float beta, float *c,
                            size_t ldc, size_t m0, size_t m1, size_t n0, size_t n1);

/// E = alpha · D·F + beta_e · E (m × r) and G = alpha · Dᵀ·H + beta_g · G (n × r), D m × n, F n × r, H m × r, r ≤ 48, all row-major
/// and untransposed: two products over the same D in one pass over it (the LoRA backward's dxa = s·dy·B and
/// dB = s·dyᵀ·xa), by row blocks of D that stay in L2 between the two narrow products. Single-threaded: callers
/// split the rows and sum G's partials. The narrow kernels at the active level (the reference at scalar).
void finch_sgemm_rows_pair(size_t m, size_t n, size_t r, float alpha, const float *d, size_t ldd, const float *f,
                           size_t ldf, float beta_e, float *e, size_t lde, const float *h, size_t ldh, float beta_g,
                           float *g, size_t ldg);

/// Narrow products, n ≤ 64 or m ≤ 16 (the LoRA rank-16 shapes, alone or up to three side by side, and
/// attention's 64-wide heads): an R×16, 12×32, 8×48 or 6×64 AVX-512 register tile reading op(A) in place (no
/// packing), op(B) in place when untransposed, else transposed into a small thread-local buffer. finch_sgemm_avx512 (and so
/// finch_sgemm_tile) routes these shapes here; finch_sgemm_is_narrow says which. At avx2 a 6×16 AVX2 tile
/// (op(B) copied when transposed or ragged) does the same, ⌈n/16⌉ passes. Other shapes
/// (or the scalar level) fall back to finch_sgemm_avx512.
int finch_sgemm_is_narrow(size_t m, size_t n, size_t k);
/// finch_sgemm_is_narrow's shapes, and op(A) = Aᵀ up to 48 rows against an untransposed B of any width (an
/// adapter's weight gradient, dA = d(xa)ᵀ·x): what finch_sgemm_avx512 and finch_sgemm_narrow run narrow.
int finch_sgemm_takes_narrow(int trans_a, int trans_b, size_t m, size_t n, size_t k);
void finch_sgemm_narrow(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                        const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc);

/// Scalar reference.
void finch_sgemm_ref(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                     const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc);

#endif
