#ifndef FINCH_KERNELS_H
#define FINCH_KERNELS_H
#include <stdint.h>
#include <stddef.h>

/// 1 when the CPU supports AVX2 + FMA + F16C (the fast paths below), else 0.
int finch_cpu_has_avx2(void);

/// Converts n IEEE half floats to f32 (F16C when available, scalar reference otherwise).
void finch_f16_to_f32(const uint16_t *src, float *dst, size_t n);
void finch_f16_to_f32_scalar(const uint16_t *src, float *dst, size_t n);
/// Converts n f32 to IEEE half floats, round to nearest even.
void finch_f32_to_f16(const float *src, uint16_t *dst, size_t n);
void finch_f32_to_f16_scalar(const float *src, uint16_t *dst, size_t n);

#include "finch_isa.h"
#include "finch_quant.h"
#include "finch_matvec_f32.h"
#include "finch_matvec_q16.h"
#include "finch_sgemm.h"
#include "finch_vecmath.h"
#include "finch_rowops.h"
#include "finch_sgemv.h"
#include "finch_decode.h"
#include "finch_nccl.h"
#include "finch_pool.h"

#endif
