// The packed SGEMM on the training shapes at cache blocks chosen when compiling (-DKC=… -DNC=… for AVX-512,
// -DKC2=… -DNC2=… for AVX2; the defaults are sgemm.c's): two pool threads splitting C as CPUBackend does (columns
// where n ≥ m, else rows; a pre-packed B splits rows unless n ≥ 8m), B unpacked (packed per call, as the LM head's
// logits) or pre-packed (as training's frozen projections), op(B) = Wᵀ (the forward, TB 1, the default) or W
// (the input gradient dx = dy·W, TB 0). Prints the best of 5 timings. BENCHMARKS.md, session 14.
// With SECONDS and MODE it prints each window's rate instead, for SECONDS: MODE 1 bursts of 0.25 s every 2.25 s
// (how `finch bench train` measures its ceiling), MODE 0 one-second windows without a pause (how training runs;
// BENCHMARKS.md, session 15: on a Xeon VM the sustained rate sat well below the bursts').
//
//   clang -O3 -I Sources/CFinchKernels/include -DKC=256 -DNC=2048 -DKC2=256 -DNC2=2048 scripts/bench/sgemm_blocks.c -o /tmp/blocks256 -lpthread -lm
//   /tmp/blocks256 M N K PACKED [TB [SECONDS MODE]]     e.g. 510 49152 576 0 (the head's logits), 1024 1536 576 1;
//   FINCH_ISA=avx2 for AVX2; add -static to carry it to a machine without the build (the device's hosts)
#include "../../Sources/CFinchKernels/isa.c"
#include "../../Sources/CFinchKernels/pool.c"
#include "../../Sources/CFinchKernels/sgemm.c"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
typedef struct { int m, n, k, packed, tb; const float *a, *b; float *c, *pk; } blocks_job;
static void task(void *ctx, long t) {
    blocks_job *j = ctx;
    int split_n = j->packed ? j->n >= 8 * j->m : j->n >= j->m, unit = split_n ? 32 : 12, total = split_n ? j->n : j->m;
    int units = (total + unit - 1) / unit, lo = units * t / 2 * unit, hi = units * (t + 1) / 2 * unit;
    if (hi > total) hi = total;
    int m0 = split_n ? 0 : lo, m1 = split_n ? j->m : hi, n0 = split_n ? lo : 0, n1 = split_n ? hi : j->n;
    if (j->packed)
        finch_sgemm_packed_tile(finch_isa_active(), 0, j->m, j->n, j->k, 1.f, j->a, j->k, j->pk, 0, 0, 0, 1, NULL, 1, NULL, 1, 0,
                                j->c, j->n, m0, m1, n0, n1);
    else
        finch_sgemm_tile(0, j->tb, j->m, j->n, j->k, 1.f, j->a, j->k, j->b, j->tb ? j->k : j->n, 0, j->c, j->n, m0, m1, n0, n1);
}
int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s M N K PACKED [TB [SECONDS MODE]]\n", argv[0]); return 2; }
    int m = atoi(argv[1]), n = atoi(argv[2]), k = atoi(argv[3]), packed = atoi(argv[4]), tb = argc > 5 ? atoi(argv[5]) : 1;
    float *b = aligned_alloc(64, 4 * (size_t)n * k), *a = aligned_alloc(64, 4 * (size_t)m * k), *c = aligned_alloc(64, 4 * (size_t)m * n);
    for (size_t q = 0; q < (size_t)n * k; q++) b[q] = ((int)(q % 7) - 3) * 0.01f;
    for (size_t q = 0; q < (size_t)m * k; q++) a[q] = ((int)(q % 5) - 2) * 0.1f;
    blocks_job j = {m, n, k, packed, tb, a, b, c, NULL};
    if (packed) {
        size_t floats = finch_sgemm_packed_floats(finch_isa_active(), n, k);
        j.pk = aligned_alloc(64, 4 * ((floats + 15) / 16 * 16));
        if (finch_sgemm_pack_b(finch_isa_active(), tb, n, k, b, tb ? k : n, j.pk) != 0) { fprintf(stderr, "no packed kernel at this level\n"); return 1; }
    }
    finch_pool_run(2, 2, task, &j);
    double flops = 2.0 * m * n * k, best = 1e9;
    if (argc > 7) {
        double seconds = atof(argv[6]), t0 = now();
        int bursts = atoi(argv[7]);
        while (now() - t0 < seconds) {
            double s0 = now();
            long count = 0;
            while (now() - s0 < (bursts ? 0.25 : 1.0)) { finch_pool_run(2, 2, task, &j); count++; }
            printf("%6.2f s: %.1f GFLOP/s\n", now() - t0, flops * count / (now() - s0) / 1e9);
            fflush(stdout);
            if (bursts) { struct timespec pause = {2, 0}; nanosleep(&pause, NULL); }
        }
        return 0;
    }
    int iterations = (int)(3e9 / flops) + 1;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now();
        for (int q = 0; q < iterations; q++) finch_pool_run(2, 2, task, &j);
        double t = (now() - t0) / iterations;
        if (t < best) best = t;
    }
    printf("KC %d NC %d (avx2 %d, %d) %s %d×%d×%d %s: %.2f ms, %.1f GFLOP/s\n", KC, NC, KC2, NC2, packed ? "pre-packed B" : "B packed per call",
           m, n, k, tb ? "NT" : "NN", best * 1e3, flops / best / 1e9);
    return 0;
}
