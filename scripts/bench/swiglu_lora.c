// The MLP tail's backward for one SmolLM2-135M layer at 4 × 256 tokens (1024 × 1536, r 16) on two threads: the
// SwiGLU backward and the adapter's dA = dxaᵀ·h as two passes (h read back as a saved tensor), against
// finch_swiglu_lora_backward_f32 (h rebuilt a block of rows at a time), each thread a half of the rows. Before
// each timing a 64 MB sweep leaves gate, up and h cold and dh is rewritten (warm), as in a training step. Prints
// the best of 7, three times. BENCHMARKS.md, session 17.
//
//   clang -O3 -I Sources/CFinchKernels/include scripts/bench/swiglu_lora.c -o /tmp/swiglu_lora -lpthread -lm
//   FINCH_ISA=avx512|avx2 /tmp/swiglu_lora
// (No -march=native: as in the package, the AVX2 kernels then have 16 ymm registers, not AVX-512VL's 32.)
#include "../../Sources/CFinchKernels/isa.c"
#include "../../Sources/CFinchKernels/pool.c"
#include "../../Sources/CFinchKernels/sgemm.c"
#include "../../Sources/CFinchKernels/vecmath.c"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
enum { N = 1024, F = 1536, R = 16 };
static float *g, *u, *dh, *dg, *du, *h, *dxa, *da, *da2, *junk, *scratch[2];
static int mode;
static void *work(void *arg) {
    const long t = (long)arg;
    const size_t r0 = t * N / 2, o = r0 * F;
    if (mode == 0) finch_swiglu_backward_f32(g + o, u + o, dh + o, dg + o, du + o, (size_t)N / 2 * F);
    else if (mode == 1) finch_sgemm_narrow(1, 0, R, F / 2, N, 1, dxa, R, h + t * F / 2, F, 0, da + t * F / 2, F);
    else finch_swiglu_lora_backward_f32(g + o, u + o, dh + o, dg + o, du + o, N / 2, F, dxa + r0 * R, R, t ? da2 : da, scratch[t]);
    return NULL;
}
static double run(int m) {
    mode = m;
    pthread_t th[2];
    const double t0 = now();
    for (long t = 0; t < 2; t++) pthread_create(&th[t], NULL, work, (void *)t);
    for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
    if (m == 2) for (int i = 0; i < R * F; i++) da[i] += da2[i];
    return now() - t0;
}
static void prepare(void) {
    for (size_t i = 0; i < (64u << 20) / 4; i += 16) junk[i] += 1;
    for (size_t i = 0; i < (size_t)N * F; i++) dh[i] = (i % 7) * 0.01f;
}
int main(void) {
    float **bufs[] = {&g, &u, &dh, &dg, &du, &h};
    for (int i = 0; i < 6; i++) *bufs[i] = aligned_alloc(64, 4 * (size_t)N * F);
    dxa = aligned_alloc(64, 4 * N * R); da = aligned_alloc(64, 4 * R * F); da2 = aligned_alloc(64, 4 * R * F);
    junk = aligned_alloc(64, 64u << 20);
    for (int t = 0; t < 2; t++) scratch[t] = aligned_alloc(64, 4 * FINCH_SWIGLU_LORA_SCRATCH);
    for (size_t i = 0; i < (size_t)N * F; i++) { g[i] = ((i * 7) % 13) * 0.3f - 2; u[i] = ((i * 5) % 11) * 0.1f - 0.5f; }
    for (int i = 0; i < N * R; i++) dxa[i] = (i % 5) * 0.1f;
    memset(dg, 0, 4 * (size_t)N * F); memset(du, 0, 4 * (size_t)N * F); memset(junk, 0, 64u << 20);
    finch_swiglu_f32(g, u, h, (size_t)N * F);
    for (int rep = 0; rep < 3; rep++) {
        double best[3] = {1e9, 1e9, 1e9};
        for (int it = 0; it < 7; it++)
            for (int m = 0; m < 3; m++) { prepare(); const double x = run(m); if (x < best[m]) best[m] = x; }
        printf("two threads: SwiGLU backward %.3f ms + dA %.3f ms = %.3f ms | one pass %.3f ms\n", best[0] * 1e3,
               best[1] * 1e3, (best[0] + best[1]) * 1e3, best[2] * 1e3);
    }
}
