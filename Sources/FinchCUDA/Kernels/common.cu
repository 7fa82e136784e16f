/* Finch's CUDA kernels, shared part: types, bf16/f16 conversions and block reductions used by
   the other files (joined in the order of `CUDAKernels.parts`). */

typedef unsigned short u16;
#define INFINITY __int_as_float(0x7f800000)
typedef unsigned char u8;
typedef long long i64;

#define GRID_STRIDE(i, n) for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)gridDim.x * blockDim.x)

__device__ __forceinline__ float bf16_to_f32(u16 h) { return __uint_as_float(((unsigned)h) << 16); }
__device__ __forceinline__ u16 f32_to_bf16(float f) {
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u16)((u >> 16) | 64);
    return (u16)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
__device__ __forceinline__ float f16_to_f32(u16 h) {
    unsigned sign = ((unsigned)h & 0x8000u) << 16, exp = ((unsigned)h >> 10) & 0x1fu, man = (unsigned)h & 0x3ffu;
    if (exp == 0) {
        if (man == 0) return __uint_as_float(sign);
        float v = (float)man * 5.9604644775390625e-8f;  /* 2^-24 */
        return sign ? -v : v;
    }
    if (exp == 31) return __uint_as_float(sign | 0x7f800000u | (man << 13));
    return __uint_as_float(sign | ((exp + 112u) << 23) | (man << 13));
}
__device__ __forceinline__ u16 ld16(const u8* p) { return (u16)(p[0] | (p[1] << 8)); }

/* ---- block reductions (blockDim.x a multiple of 32, at most 1024) ---- */
__device__ __forceinline__ float warp_sum(float v) { for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o); return v; }
__device__ __forceinline__ float warp_max(float v) { for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o)); return v; }
/* Every warp reduces, lane 0 of each writes sh[w], then every warp reduces the per-warp values. */
template <bool MAX> __device__ __forceinline__ float block_reduce(float v, float* sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = MAX ? warp_max(v) : warp_sum(v);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    float t = lane < nw ? sh[lane] : (MAX ? -INFINITY : 0.f);
    return MAX ? warp_max(t) : warp_sum(t);
}
__device__ float block_sum(float v, float* sh) { return block_reduce<false>(v, sh); }
__device__ float block_max(float v, float* sh) { return block_reduce<true>(v, sh); }
