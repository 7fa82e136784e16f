/* Stored types: element reads of f32/f16/bf16, GGUF blocks (q8_0, q4_0, q4_1) and NF4, decoding
   to f32/bf16 copies, random weights for benchmarks, and decoding's products on stored blocks. */

/* NF4 (bitsandbytes' 4-bit NormalFloat, FinchTensor's BlockNF4): 64 values in 36 bytes, the f32
   block scale then 32 bytes of code indices, value 2j in the high nibble of byte j. */
__device__ __constant__ float NF4_CODE[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f };

/* Element i of a row-major tensor stored as `dtype` (0 f32, 1 f16, 2 bf16, 3 q8_0, 4 q4_0, 5 q4_1, 6 nf4). */
__device__ __forceinline__ float load_elem(int dtype, const u8* base, i64 i) {
    switch (dtype) {
    case 0: return ((const float*)base)[i];
    case 1: return f16_to_f32(((const u16*)base)[i]);
    case 2: return bf16_to_f32(((const u16*)base)[i]);
    case 3: { const u8* b = base + (i >> 5) * 34; return f16_to_f32(ld16(b)) * (float)(signed char)b[2 + (i & 31)]; }
    case 4: { const u8* b = base + (i >> 5) * 18; int j = (int)(i & 31);
              int q = j < 16 ? (b[2 + j] & 15) : (b[2 + j - 16] >> 4); return f16_to_f32(ld16(b)) * (float)(q - 8); }
    case 6: { const u8* b = base + (i >> 6) * 36; int j = (int)(i & 63); unsigned q = b[4 + (j >> 1)];
              return NF4_CODE[(j & 1) ? (q & 15u) : (q >> 4)] * *(const float*)b; }
    default: { const u8* b = base + (i >> 5) * 20; int j = (int)(i & 31);
              int q = j < 16 ? (b[4 + j] & 15) : (b[4 + j - 16] >> 4); return f16_to_f32(ld16(b)) * (float)q + f16_to_f32(ld16(b + 2)); }
    }
}

extern "C" __global__ void decode_f32(int dtype, const u8* src, float* dst, i64 n) { GRID_STRIDE(i, n) dst[i] = load_elem(dtype, src, i); }
extern "C" __global__ void decode_bf16(int dtype, const u8* src, u16* dst, i64 n) { GRID_STRIDE(i, n) dst[i] = f32_to_bf16(load_elem(dtype, src, i)); }
/* NF4 → bf16 for the products: one thread per byte (two values), the block's scale read once per byte. */
extern "C" __global__ void decode_nf4_bf16(const u8* src, unsigned* dst, i64 pairs) {
    __shared__ float nf4[16];
    if (threadIdx.x < 16) nf4[threadIdx.x] = NF4_CODE[threadIdx.x];
    __syncthreads();
    GRID_STRIDE(p, pairs) {
        const u8* b = src + (p >> 5) * 36;
        float s = *(const float*)b;
        unsigned q = b[4 + (p & 31)];
        dst[p] = (unsigned)f32_to_bf16(nf4[q >> 4] * s) | ((unsigned)f32_to_bf16(nf4[q & 15u] * s) << 16);
    }
}

/* ---- random weights for benchmarks (a hash of seed and index: uniform in [-scale, scale]) ---- */
__device__ __forceinline__ unsigned long long mix64(unsigned long long z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull; z = (z ^ (z >> 27)) * 0x94D049BB133111EBull; return z ^ (z >> 31);
}
extern "C" __global__ void fill_uniform(u8* dst, int dtype, i64 n, unsigned long long seed, float scale, unsigned int dbits) {
    if (dtype == 4) {  /* q4_0 blocks: a fixed scale, random 4-bit values */
        GRID_STRIDE(b, n / 32) {
            u8* blk = dst + b * 18; blk[0] = dbits & 255; blk[1] = dbits >> 8;
            unsigned long long r1 = mix64(seed + 2 * b * 0x9E3779B97F4A7C15ull), r2 = mix64(seed + (2 * b + 1) * 0x9E3779B97F4A7C15ull);
            for (int j = 0; j < 8; j++) { blk[2 + j] = (u8)(r1 >> (8 * j)); blk[10 + j] = (u8)(r2 >> (8 * j)); }
        }
        return;
    }
    if (dtype == 6) {  /* nf4 blocks: the scale `scale`, random 4-bit codes */
        GRID_STRIDE(b, n / 64) {
            u8* blk = dst + b * 36; *(float*)blk = scale;
            for (int k = 0; k < 4; k++) {
                unsigned long long r = mix64(seed + (4 * b + k) * 0x9E3779B97F4A7C15ull);
                for (int j = 0; j < 8; j++) blk[4 + 8 * k + j] = (u8)(r >> (8 * j));
            }
        }
        return;
    }
    GRID_STRIDE(i, n) {
        float u = (float)(mix64(seed + (unsigned long long)i * 0x9E3779B97F4A7C15ull) >> 40) / 16777216.f;
        float v = (2.f * u - 1.f) * scale;
        if (dtype == 2) ((u16*)dst)[i] = f32_to_bf16(v); else ((float*)dst)[i] = v;
    }
}

/* ---- y (m×n) = α·x·Wᵀ + β·y for a few rows of x (decoding): W (n×k) is read once in its stored
   blocks (q8_0, q4_0, q4_1) instead of being decoded to a bf16 copy for cuBLAS on every token.
   Each warp takes one row of W, its lanes one 32-element block each; x is staged in shared memory
   1024 columns at a time (blocks padded to 33 floats so the lanes hit distinct banks). f32
   arithmetic on the exactly decoded weights, as the CPU's mat-vec. k % 32 == 0, m ≤ MV_ROWS. ---- */
#define MV_ROWS 8
/* 32 values of a row: block blk of q8_0/q4_0/q4_1, or half blk & 1 of nf4 block blk / 2 (code
   values from a shared-memory copy of NF4_CODE: lanes reading different codes hit different banks). */
__device__ __forceinline__ void decode_block32(int dtype, const u8* row, int blk, float v[32], const float* nf4) {
    if (dtype == 6) {
        const u8* b = row + (i64)(blk >> 1) * 36;
        float s = *(const float*)b;
        const u8* q = b + 4 + (blk & 1) * 16;
#pragma unroll
        for (int i = 0; i < 16; i++) { unsigned c = q[i]; v[2 * i] = nf4[c >> 4] * s; v[2 * i + 1] = nf4[c & 15u] * s; }
    } else if (dtype == 3) {
        const u8* b = row + (i64)blk * 34;
        float d = f16_to_f32(ld16(b));
#pragma unroll
        for (int i = 0; i < 32; i++) v[i] = d * (float)(signed char)b[2 + i];
    } else if (dtype == 4) {
        const u8* b = row + (i64)blk * 18;
        float d = f16_to_f32(ld16(b));
#pragma unroll
        for (int i = 0; i < 16; i++) { int q = b[2 + i]; v[i] = d * (float)((q & 15) - 8); v[i + 16] = d * (float)((q >> 4) - 8); }
    } else {
        const u8* b = row + (i64)blk * 20;
        float d = f16_to_f32(ld16(b)), mn = f16_to_f32(ld16(b + 2));
#pragma unroll
        for (int i = 0; i < 16; i++) { int q = b[4 + i]; v[i] = d * (float)(q & 15) + mn; v[i + 16] = d * (float)(q >> 4) + mn; }
    }
}
extern "C" __global__ void __launch_bounds__(256) matvec_stored(int dtype, const u8* w, const float* x, float* y,
        int m, int n, int k, int ldy, float alpha, float beta) {
    __shared__ float sx[MV_ROWS][32 * 33];
    __shared__ float nf4[16];
    if (threadIdx.x < 16) nf4[threadIdx.x] = NF4_CODE[threadIdx.x];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int j = blockIdx.x * 8 + warp, nb = k >> 5;
    i64 rowBytes = (i64)nb * (dtype == 3 ? 34 : dtype == 4 || dtype == 6 ? 18 : 20);  /* nf4: 36 bytes per 64 values */
    const u8* wr = w + (i64)j * rowBytes;
    float acc[MV_ROWS];
#pragma unroll
    for (int r = 0; r < MV_ROWS; r++) acc[r] = 0.f;
    for (int c0 = 0; c0 < nb; c0 += 32) {
        __syncthreads();
        int cols = min(32, nb - c0) * 32;
        for (int i = threadIdx.x; i < m * 1024; i += blockDim.x) {
            int r = i >> 10, e = i & 1023;
            sx[r][(e >> 5) * 33 + (e & 31)] = e < cols ? x[(i64)r * k + c0 * 32 + e] : 0.f;
        }
        __syncthreads();
        int blk = c0 + lane;
        if (j < n && blk < nb) {
            float v[32];
            decode_block32(dtype, wr, blk, v, nf4);
#pragma unroll
            for (int r = 0; r < MV_ROWS; r++) {
                if (r < m) {
                    const float* xs = &sx[r][lane * 33];
                    float s = 0.f;
#pragma unroll
                    for (int i = 0; i < 32; i++) s = fmaf(v[i], xs[i], s);
                    acc[r] += s;
                }
            }
        }
    }
    if (j >= n) return;
#pragma unroll
    for (int r = 0; r < MV_ROWS; r++) {
        if (r < m) {
            float s = warp_sum(acc[r]);
            if (lane == 0) { float* d = y + (i64)r * ldy + j; *d = alpha * s + (beta != 0.f ? beta * *d : 0.f); }
        }
    }
}
