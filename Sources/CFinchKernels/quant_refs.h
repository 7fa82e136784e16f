// Private to CFinchKernels: the scalar reference mat-vecs of Q4_0 / Q4_1 / Q8_0 weight rows against quantized
// activation blocks, one body for the 8-bit (finch_q8x_block, quant_matvec.c) and the 16-bit (finch_q16x_block,
// matvec_q16.c) activations. Per block an exact integer dot product times the weight's and the activation's
// scales; Q4_1 adds its minimum m times the block's s (its Σx: d·Σq for 8-bit blocks, the f32 sum for 16-bit).
#ifndef FINCH_QUANT_REFS_H
#define FINCH_QUANT_REFS_H
#include "finch_kernels.h"
#include <string.h>

static inline float quant_ref_f16(const uint8_t *p) {
    uint16_t h = (uint16_t)(p[0] | (p[1] << 8));
    float f;
    finch_f16_to_f32_scalar(&h, &f, 1);
    return f;
}

#define QUANT_SCALAR_REFS(Q4_0_NAME, Q4_1_NAME, Q8_0_NAME, XBLOCK)                                                 \
void Q4_0_NAME(const void *w, const XBLOCK *xq, float *y, size_t row_begin, size_t row_end, size_t cols) {        \
    const size_t nb = cols / 32;                                                                                 \
    for (size_t r = row_begin; r < row_end; r++) {                                                               \
        const uint8_t *row = (const uint8_t *)w + r * nb * 18;                                                   \
        float sum = 0.0f;                                                                                        \
        for (size_t b = 0; b < nb; b++) {                                                                        \
            const uint8_t *blk = row + b * 18;                                                                   \
            int isum = 0;                                                                                        \
            for (int j = 0; j < 16; j++) {                                                                       \
                isum += ((blk[2 + j] & 0xF) - 8) * xq[b].qs[j];                                                  \
                isum += ((blk[2 + j] >> 4) - 8) * xq[b].qs[j + 16];                                              \
            }                                                                                                    \
            sum += quant_ref_f16(blk) * xq[b].d * (float)isum;                                                   \
        }                                                                                                        \
        y[r] = sum;                                                                                              \
    }                                                                                                            \
}                                                                                                                \
void Q4_1_NAME(const void *w, const XBLOCK *xq, float *y, size_t row_begin, size_t row_end, size_t cols) {        \
    const size_t nb = cols / 32;                                                                                 \
    for (size_t r = row_begin; r < row_end; r++) {                                                               \
        const uint8_t *row = (const uint8_t *)w + r * nb * 20;                                                   \
        float sum = 0.0f;                                                                                        \
        for (size_t b = 0; b < nb; b++) {                                                                        \
            const uint8_t *blk = row + b * 20;                                                                   \
            int isum = 0;                                                                                        \
            for (int j = 0; j < 16; j++) {                                                                       \
                isum += (blk[4 + j] & 0xF) * xq[b].qs[j];                                                        \
                isum += (blk[4 + j] >> 4) * xq[b].qs[j + 16];                                                    \
            }                                                                                                    \
            /* Σ_j (q_j d_w + m) x_j = d_w d_x Σ q_j x_qj + m · s */                                             \
            sum += quant_ref_f16(blk) * xq[b].d * (float)isum + quant_ref_f16(blk + 2) * xq[b].s;                \
        }                                                                                                        \
        y[r] = sum;                                                                                              \
    }                                                                                                            \
}                                                                                                                \
void Q8_0_NAME(const void *w, const XBLOCK *xq, float *y, size_t row_begin, size_t row_end, size_t cols) {        \
    const size_t nb = cols / 32;                                                                                 \
    for (size_t r = row_begin; r < row_end; r++) {                                                               \
        const uint8_t *row = (const uint8_t *)w + r * nb * 34;                                                   \
        float sum = 0.0f;                                                                                        \
        for (size_t b = 0; b < nb; b++) {                                                                        \
            const uint8_t *blk = row + b * 34;                                                                   \
            const int8_t *qs = (const int8_t *)(blk + 2);                                                        \
            int isum = 0;                                                                                        \
            for (int j = 0; j < 32; j++) isum += qs[j] * xq[b].qs[j];                                            \
            sum += quant_ref_f16(blk) * xq[b].d * (float)isum;                                                   \
        }                                                                                                        \
        y[r] = sum;                                                                                              \
    }                                                                                                            \
}
#endif
