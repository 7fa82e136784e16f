// One thread's narrow product with a transposed B and few rows of A (C = A·Bᵀ, m ≤ 16): a short prompt's
// projections against a stored weight, decoded a chunk of rows at a time (CPUBackend.gemmStoredB: 16 × 341 × 1536
// for SmolLM2's down_proj, 16 × 910 × 576 for gate/up). Prints the best of 200 calls. BENCHMARKS.md, session 18.
//
//   clang -O3 -I Sources/CFinchKernels/include scripts/bench/narrow_tb.c -o /tmp/narrow_tb -lpthread -lm
//   FINCH_ISA=avx512 /tmp/narrow_tb 16 171 1536      (m n k)
// Plain -O3 as the package builds CFinchKernels (no -march=native: that gives the AVX2 code 32 registers).
#include "../../Sources/CFinchKernels/isa.c"
#include "../../Sources/CFinchKernels/pool.c"
#include "../../Sources/CFinchKernels/sgemm.c"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static float *rnd(size_t n) {
    float *p = aligned_alloc(64, 4 * ((n + 15) / 16 * 16));
    for (size_t i = 0; i < n; i++) p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return p;
}
int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s m n k\n", argv[0]); return 2; }
    int m = atoi(argv[1]), n = atoi(argv[2]), k = atoi(argv[3]);
    float *a = rnd((size_t)m * k), *b = rnd((size_t)n * k), *c = rnd((size_t)m * n);
    double best = 1e9;
    for (int r = 0; r < 200; r++) {
        double t0 = now();
        finch_sgemm_tile(0, 1, m, n, k, 1, a, k, b, k, 0, c, n, 0, m, 0, n);
        double t = now() - t0;
        if (t < best) best = t;
    }
    printf("%s %d×%d×%d NT, one thread: %.1f µs, %.1f GFLOP/s\n", finch_isa_name(finch_isa_active()), m, n, k, best * 1e6,
           2.0 * m * n * k / best / 1e9);
    return 0;
}
