// Pre-packed B against packing per call, one thread, at AVX-512: the training shapes of SmolLM2-135M (one
// thread's half of a 1024-row product), each product over 30 different weights in turn so that every weight
// comes from memory, as in a training step. Prints GFLOP/s of finch_sgemm2 / finch_sgemm_avx512 (packing B
// per call) and of finch_sgemm_packed_tile (B packed once), forward (x·Wᵀ + the rank-16 LoRA branch) and
// input gradient (dy·W).
//
//   cc -O2 -I Sources/CFinchKernels/include scripts/bench/sgemm_packed_b.c -o /tmp/sgemm_packed_b -lpthread -lm
//   /tmp/sgemm_packed_b
#include "../../Sources/CFinchKernels/isa.c"
#include "../../Sources/CFinchKernels/sgemm.c"
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *random_floats(size_t n) {
    float *x = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    for (size_t i = 0; i < n; i++) x[i] = (float)(rand() % 2001 - 1000) / 1000.f;
    return x;
}

int main(void) {
    if (finch_isa_supported() < FINCH_ISA_AVX512) {
        printf("needs AVX-512\n");
        return 1;
    }
    finch_isa_set(FINCH_ISA_AVX512);
    enum { WEIGHTS = 30, REPEATS = 5, RANK = 16 };
    // (m, out, in): q/o, k/v, gate/up, down
    size_t shapes[][3] = {{512, 576, 576}, {512, 192, 576}, {512, 1536, 576}, {512, 576, 1536}};
    for (int s = 0; s < 4; s++) {
        size_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *x = random_floats(m * k), *xa = random_floats(m * RANK), *lb = random_floats(n * RANK);
        float *y = random_floats(m * n), *dy = random_floats(m * n), *dx = random_floats(m * k);
        float *w[WEIGHTS], *pt[WEIGHTS], *pn[WEIGHTS];
        for (int i = 0; i < WEIGHTS; i++) {
            w[i] = random_floats(n * k);
            pt[i] = aligned_alloc(64, finch_sgemm_packed_floats(FINCH_ISA_AVX512, n, k) * sizeof(float));
            pn[i] = aligned_alloc(64, finch_sgemm_packed_floats(FINCH_ISA_AVX512, k, n) * sizeof(float));
            finch_sgemm_pack_b(FINCH_ISA_AVX512, 1, n, k, w[i], k, pt[i]);
            finch_sgemm_pack_b(FINCH_ISA_AVX512, 0, k, n, w[i], k, pn[i]);
        }
        double best[4] = {1e9, 1e9, 1e9, 1e9};
        for (int r = 0; r < REPEATS; r++) {
            double t[5];
            t[0] = now();
            for (int i = 0; i < WEIGHTS; i++)
                finch_sgemm2(0, 1, m, n, k, 1, x, k, w[i], k, 0, 1, RANK, 1, xa, RANK, lb, RANK, 0, y, n);
            t[1] = now();
            for (int i = 0; i < WEIGHTS; i++)
                finch_sgemm_packed_tile(FINCH_ISA_AVX512, 0, m, n, k, 1, x, k, pt[i], 0, 1, RANK, 1, xa, RANK, lb, RANK, 0, y, n, 0, m, 0, n);
            t[2] = now();
            for (int i = 0; i < WEIGHTS; i++) finch_sgemm_avx512(0, 0, m, k, n, 1, dy, n, w[i], k, 0, dx, k);
            t[3] = now();
            for (int i = 0; i < WEIGHTS; i++)
                finch_sgemm_packed_tile(FINCH_ISA_AVX512, 0, m, k, n, 1, dy, n, pn[i], 0, 0, 0, 0, NULL, 1, NULL, 1, 0, dx, k, 0, m, 0, k);
            t[4] = now();
            for (int j = 0; j < 4; j++) if (t[j + 1] - t[j] < best[j]) best[j] = t[j + 1] - t[j];
        }
        double fwd = WEIGHTS * 2.0 * m * n * (k + RANK), bwd = WEIGHTS * 2.0 * m * n * k;
        printf("%4zu×%4zu×%4zu  forward+16: per call %.1f, pre-packed %.1f GFLOP/s (%.3f×)   dx: per call %.1f, pre-packed %.1f GFLOP/s (%.3f×)\n",
               m, n, k, fwd / best[0] / 1e9, fwd / best[1] / 1e9, best[0] / best[1], bwd / best[2] / 1e9,
               bwd / best[3] / 1e9, best[2] / best[3]);
    }
    return 0;
}
