/* Causal GQA attention: the SIMT kernels (decoding, the exact f32 mode, head sizes the flash
   kernels do not take) and flash attention on the matrix units (training and prefill). */

/* ---- causal GQA attention, flash style: one warp per query row, K/V tiles of 32 keys in shared
   memory shared by the block's 8 warps (8 consecutive queries of one head); an online softmax keeps
   no T×T matrix. q/out (B·T, H·D), k/v (B·Tk, KVH·D), lse (B, H, T). D ≤ 256. ---- */
#define AQ 8
#define AK 32
extern "C" __global__ void __launch_bounds__(256) attention_fwd(const float* q, const float* k, const float* v, float* out, float* lse,
        int T, int Tk, int H, int KVH, int D, int qOff, float scale) {
    extern __shared__ float smem[];
    float* sK = smem;                 /* AK × (D+1) */
    float* sV = sK + AK * (D + 1);    /* AK × D */
    float* sQ = sV + AK * D;          /* AQ × D */
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int h = blockIdx.y, b = blockIdx.z, g = h / (H / KVH);
    int t0 = blockIdx.x * AQ, t = t0 + warp;
    int ldq = H * D, ldk = KVH * D;
    bool active = t < T;
    for (int i = threadIdx.x; i < AQ * D; i += blockDim.x) {
        int r = i / D, c = i % D;
        sQ[i] = (t0 + r < T) ? q[((i64)b * T + t0 + r) * ldq + h * D + c] * scale : 0.f;
    }
    float acc[8];
    for (int i = 0; i < 8; i++) acc[i] = 0.f;
    float mrow = -INFINITY, lrow = 0.f;
    int lastKey = min(Tk, qOff + min(T, t0 + AQ));     /* keys the block needs */
    int myLast = qOff + t;                              /* this row attends keys ≤ myLast */
    for (int k0 = 0; k0 < lastKey; k0 += AK) {
        __syncthreads();
        for (int i = threadIdx.x; i < AK * D; i += blockDim.x) {
            int r = i / D, c = i % D;
            bool ok = k0 + r < Tk;
            i64 src = ((i64)b * Tk + k0 + r) * ldk + g * D + c;
            sK[r * (D + 1) + c] = ok ? k[src] : 0.f;
            sV[r * D + c] = ok ? v[src] : 0.f;
        }
        __syncthreads();
        if (!active) continue;
        int j = k0 + lane;
        float sc = -INFINITY;
        if (j <= myLast && j < Tk) {
            float d = 0.f;
            const float* qr = sQ + warp * D; const float* kr = sK + lane * (D + 1);
            for (int c = 0; c < D; c++) d += qr[c] * kr[c];
            sc = d;
        }
        float mt = warp_max(sc);
        float mnew = fmaxf(mrow, mt);
        if (mnew == -INFINITY) continue;
        float p = sc == -INFINITY ? 0.f : expf(sc - mnew);
        float corr = expf(mrow - mnew);
        lrow = lrow * corr + warp_sum(p);
        _Pragma("unroll") for (int i = 0; i < 8; i++) acc[i] *= corr;
        for (int jj = 0; jj < AK; jj++) {
            float pj = __shfl_sync(0xffffffffu, p, jj);
            if (pj != 0.f) { _Pragma("unroll") for (int i = 0; i < 8; i++) if (lane + 32 * i < D) acc[i] += pj * sV[jj * D + lane + 32 * i]; }
        }
        mrow = mnew;
    }
    if (active) {
        float inv = 1.f / lrow;
        _Pragma("unroll") for (int i = 0; i < 8; i++) if (lane + 32 * i < D) out[((i64)b * T + t) * ldq + h * D + lane + 32 * i] = acc[i] * inv;
        if (lane == 0) lse[((i64)b * H + h) * T + t] = mrow + logf(lrow);
    }
}

/* ---- flash attention on the matrix units (mma.sync m16n8k16, bf16 in, f32 accumulate).
   Fragment layout (PTX ISA, m16n8k16): lane = 4·gr + tg; A holds rows gr and gr+8, columns
   2tg, 2tg+1 (regs 0, 1) and 2tg+8, 2tg+9 (regs 2, 3); B holds column gr, rows 2tg, 2tg+1 and
   2tg+8, 2tg+9; C holds rows gr, gr+8 and columns 2tg, 2tg+1. A C fragment of scores therefore
   becomes an A fragment of P (columns = keys) without leaving registers.
   Scores are scale·(bf16(q)·bf16(k)) with f32 accumulation in the forward and both backward
   kernels alike, so the backward recomputes exactly the forward's probabilities from its lse.
   Tiles of 64 rows are staged in shared memory as bf16 with rows padded to D + 8. D is a multiple
   of 16, at most 128. ---- */
#define FQ 64
#define FK 64
#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f
/* Two floats to bf16x2 (round to nearest even) in one conversion instruction (sm_80+). */
__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) {
    unsigned r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
__device__ __forceinline__ float bf16_lo(unsigned u) { return __uint_as_float(u << 16); }
__device__ __forceinline__ float bf16_hi(unsigned u) { return __uint_as_float(u & 0xffff0000u); }
__device__ __forceinline__ void mma_bf16(float* c, const unsigned* a, unsigned b0, unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ unsigned smem_addr(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }
/* Four 8×8 b16 matrices from shared memory (lane 8m + r gives row r of matrix m); `.trans` hands
   each lane the transposed elements, which is the B fragment of a row-major [k][n] tile. */
__device__ __forceinline__ void ldsm_x4(unsigned r[4], const u16* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldsm_x4_t(unsigned r[4], const u16* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_addr(p)));
}
/* Asynchronous global → shared copies (sm_80+): 16 bytes, or zeros when !ok (nothing is read). */
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool ok) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(smem_addr(dst)), "l"(src), "r"(ok ? 16 : 0));
}
__device__ __forceinline__ void cp_async4(void* dst, const void* src, bool ok) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" :: "r"(smem_addr(dst)), "l"(src), "r"(ok ? 4 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" :: "n"(N) : "memory"); }

/* Starts copying 64 bf16 rows (`ld` elements apart, from row `row0` of `base`) into a padded
   shared tile; rows from `valid` on become zeros. */
__device__ __forceinline__ void flash_copy_tile(u16* tile, const u16* base, i64 row0, i64 ld, int valid, int D) {
    int vecs = D >> 3, lds = D + 8;
    for (int i = threadIdx.x; i < 64 * vecs; i += blockDim.x) {
        int r = i / vecs, c = (i % vecs) << 3;
        bool ok = r < valid;
        cp_async16(tile + r * lds + c, ok ? base + (row0 + r) * ld + c : base, ok);
    }
}
/* Zeroes n C fragments (accumulators). */
template <int N> __device__ __forceinline__ void flash_zero(float c[N][4]) {
#pragma unroll
    for (int i = 0; i < N; i++) { c[i][0] = 0.f; c[i][1] = 0.f; c[i][2] = 0.f; c[i][3] = 0.f; }
}
/* A fragments (16 rows × D) of rows rowA = gr and rowB = gr + 8 of a bf16 matrix with `ld`
   elements per row; rows at or past `valid` are zero. */
__device__ __forceinline__ void flash_row_frags(unsigned a[8][4], const u16* m, i64 ld, int rowA, int rowB, int valid, int D, int tg) {
#pragma unroll
    for (int ks = 0; ks < 8; ks++) {
        if (ks * 16 < D) {
            int c = ks * 16 + tg * 2;
            const u16* ra = m + rowA * ld + c; const u16* rb = m + rowB * ld + c;
            a[ks][0] = rowA < valid ? *(const unsigned*)ra : 0u; a[ks][1] = rowB < valid ? *(const unsigned*)rb : 0u;
            a[ks][2] = rowA < valid ? *(const unsigned*)(ra + 8) : 0u; a[ks][3] = rowB < valid ? *(const unsigned*)(rb + 8) : 0u;
        }
    }
}
/* c[nt], c[nt+1] += A(ks) · tileᵀ for key tiles nt, nt+1 at head-dim step ks (one ldmatrix). */
__device__ __forceinline__ void flash_mma_t_pair(float* c0, float* c1, const unsigned* a, const u16* tile, int nt, int ks, int D, int lane) {
    int lds = D + 8, m = lane >> 3;
    unsigned bf[4];
    ldsm_x4(bf, tile + (nt * 8 + (m >> 1) * 8 + (lane & 7)) * lds + ks * 16 + (m & 1) * 8);
    mma_bf16(c0, a, bf[0], bf[1]);
    mma_bf16(c1, a, bf[2], bf[3]);
}
/* c = A · tileᵀ (16 × 64) with A as register fragments over the head dim: scores, or dO·Vᵀ. */
__device__ __forceinline__ void flash_frags_by_tile_t(float c[8][4], const unsigned a[8][4], const u16* tile, int D, int lane) {
    flash_zero<8>(c);
#pragma unroll
    for (int ks = 0; ks < 8; ks++) {
        if (ks * 16 < D) {
#pragma unroll
            for (int nt = 0; nt < 8; nt += 2) flash_mma_t_pair(c[nt], c[nt + 1], a[ks], tile, nt, ks, D, lane);
        }
    }
}
/* c = A · tileᵀ (16 × 64) with A the warp's 16 rows of another shared tile. */
__device__ __forceinline__ void flash_rows_by_tile_t(float c[8][4], const u16* rows, const u16* tile, int D, int lane) {
    int lds = D + 8, m = lane >> 3;
    flash_zero<8>(c);
#pragma unroll
    for (int ks = 0; ks < 8; ks++) {
        if (ks * 16 < D) {
            unsigned a[4];
            ldsm_x4(a, rows + ((m & 1) * 8 + (lane & 7)) * lds + ks * 16 + (m >> 1) * 8);
#pragma unroll
            for (int nt = 0; nt < 8; nt += 2) flash_mma_t_pair(c[nt], c[nt + 1], a, tile, nt, ks, D, lane);
        }
    }
}
/* c += A · tile (16 × D) with A (16 × 64) as four register fragments: P·V, Pᵀ·dO, dS·K, dSᵀ·Q. */
__device__ __forceinline__ void flash_frags_by_tile(float c[16][4], const unsigned a[4][4], const u16* tile, int D, int lane) {
    int lds = D + 8, m = lane >> 3;
    const u16* base = tile + ((m & 1) * 8 + (lane & 7)) * lds + (m >> 1) * 8;
#pragma unroll
    for (int dn = 0; dn < 16; dn += 2) {
        if (dn * 8 < D) {
#pragma unroll
            for (int j = 0; j < 4; j++) {
                unsigned bf[4];
                ldsm_x4_t(bf, base + j * 16 * lds + dn * 8);
                mma_bf16(c[dn], a[j], bf[0], bf[1]);
                mma_bf16(c[dn + 1], a[j], bf[2], bf[3]);
            }
        }
    }
}
/* Four C fragments' worth of values (columns nt·8…) into the A fragment of column block nt/2. */
__device__ __forceinline__ void flash_pack(unsigned a[4][4], int nt, float v0, float v1, float v2, float v3) {
    int j = nt >> 1;
    if ((nt & 1) == 0) { a[j][0] = pack_bf16(v0, v1); a[j][1] = pack_bf16(v2, v3); }
    else { a[j][2] = pack_bf16(v0, v1); a[j][3] = pack_bf16(v2, v3); }
}

/* The causal mask of the flash kernels. A tile of `rows` queries from q0 against `keys` keys from
   k0 lies on the diagonal or an edge unless all of it is visible; only then is each score checked:
   query `row` sees key `key` when it is causal and both are in range. (Macros, not functions: the
   kernels compile to exactly the code they did when the tests were written inline.) */
#define FLASH_EDGE(q0, rows, k0, keys, T, Tk, qOff) (!((k0) + (keys) - 1 <= (qOff) + (q0) && (k0) + (keys) <= (Tk) && (q0) + (rows) <= (T)))
#define FLASH_SEES(edge, row, key, T, Tk, qOff) (!(edge) || ((key) < (Tk) && (key) <= (qOff) + (row) && (row) < (T)))

/* The K/V tiles a block of 64 queries (from q0Block) sees, streamed through two shared-memory
   stages: `start` copies the first, `stage(kt)` copies tile kt + 1 while waiting for tile kt and
   returns its K tile (V follows it). Every thread calls both; a __syncthreads must end each use. */
struct FlashKVStream {
    u16* smh; const u16* kb; const u16* vb; int ldk, Tk, D, tiles;
    __device__ __forceinline__ FlashKVStream(u16* smh_, const u16* k, const u16* v, int b, int kvh, int KVH, int Tk_, int D_,
                                             int T, int qOff, int q0Block)
        : smh(smh_), ldk(KVH * D_), Tk(Tk_), D(D_) {
        kb = k + (i64)b * Tk * ldk + kvh * D; vb = v + (i64)b * Tk * ldk + kvh * D;
        int lastKey = min(Tk, qOff + min(T, q0Block + FQ));
        tiles = (lastKey + FK - 1) / FK;
    }
    __device__ __forceinline__ void copy(int kt) {
        u16* st = smh + (kt & 1) * 2 * FK * (D + 8);
        flash_copy_tile(st, kb, kt * FK, ldk, Tk - kt * FK, D); flash_copy_tile(st + FK * (D + 8), vb, kt * FK, ldk, Tk - kt * FK, D);
        cp_async_commit();
    }
    __device__ __forceinline__ void start() { if (tiles > 0) copy(0); }
    __device__ __forceinline__ const u16* stage(int kt) {
        if (kt + 1 < tiles) { copy(kt + 1); cp_async_wait<1>(); } else cp_async_wait<0>();
        __syncthreads();
        return smh + (kt & 1) * 2 * FK * (D + 8);
    }
};

/* Forward: a block of 4 warps takes 64 query rows of one (b, h); each warp keeps its 16 rows' Q,
   running max / sum and output in registers while K/V tiles of 64 keys stream through two
   shared-memory stages (the next tile is copied while this one is used). */
template <int DC> __device__ __forceinline__ void flash_fwd_impl(const u16* q, const u16* k, const u16* v, float* out, float* lse,
        int T, int Tk, int H, int KVH, int Dp, int qOff, float scale) {
    const int D = DC > 0 ? DC : Dp;   /* a compile-time head size unrolls every loop over it */
    extern __shared__ u16 smh[];
    const int lds = D + 8;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gr = lane >> 2, tg = lane & 3;
    int h = blockIdx.y, b = blockIdx.z, kvh = h / (H / KVH);
    int q0 = blockIdx.x * FQ + warp * 16;
    int ldq = H * D;
    int rowA = q0 + gr, rowB = q0 + gr + 8;
    FlashKVStream kv(smh, k, v, b, kvh, KVH, Tk, D, T, qOff, blockIdx.x * FQ);
    kv.start();
    unsigned qa[8][4];
    flash_row_frags(qa, q + (i64)b * T * ldq + h * D, ldq, rowA, rowB, T, D, tg);
    float o[16][4];
    flash_zero<16>(o);
    float mA = -INFINITY, mB = -INFINITY, lA = 0.f, lB = 0.f;
    const float scale2 = scale * LOG2E;
    for (int kt = 0; kt < kv.tiles; kt++) {
        int k0 = kt * FK;
        const u16* sK = kv.stage(kt); const u16* sV = sK + FK * lds;
        if (q0 < T && k0 <= qOff + q0 + 15) {   /* else nothing this warp may see */
            float sc[8][4];
            flash_frags_by_tile_t(sc, qa, sK, D, lane);
            /* scale (to base 2), causal mask (tiles on the diagonal or an edge only) and running max */
            bool edge = FLASH_EDGE(q0, 16, k0, FK, T, Tk, qOff);
            float tA = -INFINITY, tB = -INFINITY;
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    int key = k0 + nt * 8 + tg * 2 + (i & 1);
                    int row = i < 2 ? rowA : rowB;
                    bool ok = FLASH_SEES(edge, row, key, T, Tk, qOff);
                    sc[nt][i] = ok ? sc[nt][i] * scale2 : -INFINITY;
                }
                tA = fmaxf(tA, fmaxf(sc[nt][0], sc[nt][1]));
                tB = fmaxf(tB, fmaxf(sc[nt][2], sc[nt][3]));
            }
            tA = fmaxf(tA, __shfl_xor_sync(0xffffffffu, tA, 1)); tA = fmaxf(tA, __shfl_xor_sync(0xffffffffu, tA, 2));
            tB = fmaxf(tB, __shfl_xor_sync(0xffffffffu, tB, 1)); tB = fmaxf(tB, __shfl_xor_sync(0xffffffffu, tB, 2));
            float nA = fmaxf(mA, tA), nB = fmaxf(mB, tB);
            float uA = nA == -INFINITY ? 0.f : nA, uB = nB == -INFINITY ? 0.f : nB;
            float cA = exp2f(mA - uA), cB = exp2f(mB - uB);
            mA = nA; mB = nB;
            lA *= cA; lB *= cB;
#pragma unroll
            for (int i = 0; i < 16; i++) { o[i][0] *= cA; o[i][1] *= cA; o[i][2] *= cB; o[i][3] *= cB; }
            unsigned pa[4][4];
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
                float p0 = exp2f(sc[nt][0] - uA), p1 = exp2f(sc[nt][1] - uA), p2 = exp2f(sc[nt][2] - uB), p3 = exp2f(sc[nt][3] - uB);
                lA += p0 + p1; lB += p2 + p3;
                flash_pack(pa, nt, p0, p1, p2, p3);
            }
            flash_frags_by_tile(o, pa, sV, D, lane);   /* O += P · V */
        }
        __syncthreads();   /* this stage is refilled two tiles on */
    }
    if (q0 >= T) return;
    lA += __shfl_xor_sync(0xffffffffu, lA, 1); lA += __shfl_xor_sync(0xffffffffu, lA, 2);
    lB += __shfl_xor_sync(0xffffffffu, lB, 1); lB += __shfl_xor_sync(0xffffffffu, lB, 2);
    float iA = lA > 0.f ? 1.f / lA : 0.f, iB = lB > 0.f ? 1.f / lB : 0.f;
#pragma unroll
    for (int dn = 0; dn < 16; dn++) {
        if (dn * 8 < D) {
            int c = dn * 8 + tg * 2;
            if (rowA < T) { float* oa = out + ((i64)b * T + rowA) * ldq + h * D + c; oa[0] = o[dn][0] * iA; oa[1] = o[dn][1] * iA; }
            if (rowB < T) { float* ob = out + ((i64)b * T + rowB) * ldq + h * D + c; ob[0] = o[dn][2] * iB; ob[1] = o[dn][3] * iB; }
        }
    }
    if (tg == 0) {
        /* the max is in base-2 units: lse = ln Σ eˢ = m·ln 2 + ln l */
        if (rowA < T) lse[((i64)b * H + h) * T + rowA] = mA * LN2 + logf(lA);
        if (rowB < T) lse[((i64)b * H + h) * T + rowB] = mB * LN2 + logf(lB);
    }
}

/* Backward, dQ: like the forward, a block takes 64 query rows of one (b, h) and streams the key
   tiles, recomputing P = exp(S − lse) from its scores, dP = dO·Vᵀ, dS = P ⊙ (dP − Di), and
   accumulating dQ += scale·dS·K in registers. Adds into dq. */
template <int DC> __device__ __forceinline__ void flash_dq_impl(const u16* q, const u16* k, const u16* v, const u16* dout,
        const float* lse, const float* di, float* dq, int T, int Tk, int H, int KVH, int Dp, int qOff, float scale) {
    const int D = DC > 0 ? DC : Dp;   /* a compile-time head size unrolls every loop over it */
    extern __shared__ u16 smh[];
    const int lds = D + 8;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gr = lane >> 2, tg = lane & 3;
    int h = blockIdx.y, b = blockIdx.z, kvh = h / (H / KVH);
    int q0 = blockIdx.x * FQ + warp * 16;
    int ldq = H * D;
    int rowA = q0 + gr, rowB = q0 + gr + 8;
    FlashKVStream kv(smh, k, v, b, kvh, KVH, Tk, D, T, qOff, blockIdx.x * FQ);
    kv.start();
    unsigned qa[8][4], da[8][4];
    flash_row_frags(qa, q + (i64)b * T * ldq + h * D, ldq, rowA, rowB, T, D, tg);
    flash_row_frags(da, dout + (i64)b * T * ldq + h * D, ldq, rowA, rowB, T, D, tg);
    i64 rowBase = ((i64)b * H + h) * T;
    /* P = exp(scale·s − lse) = 2^(scale·log2e·s − log2e·lse) */
    const float scale2 = scale * LOG2E;
    float lseA = rowA < T ? lse[rowBase + rowA] * LOG2E : 0.f, lseB = rowB < T ? lse[rowBase + rowB] * LOG2E : 0.f;
    float diA = rowA < T ? di[rowBase + rowA] : 0.f, diB = rowB < T ? di[rowBase + rowB] : 0.f;
    float acc[16][4];
    flash_zero<16>(acc);
    for (int kt = 0; kt < kv.tiles; kt++) {
        int k0 = kt * FK;
        const u16* sK = kv.stage(kt); const u16* sV = sK + FK * lds;
        if (q0 < T && k0 <= qOff + q0 + 15) {
            float p[8][4];
            flash_frags_by_tile_t(p, qa, sK, D, lane);
            bool edge = FLASH_EDGE(q0, 16, k0, FK, T, Tk, qOff);
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    int key = k0 + nt * 8 + tg * 2 + (i & 1);
                    int row = i < 2 ? rowA : rowB;
                    bool ok = FLASH_SEES(edge, row, key, T, Tk, qOff);
                    p[nt][i] = ok ? exp2f(p[nt][i] * scale2 - (i < 2 ? lseA : lseB)) : 0.f;
                }
            }
            unsigned dsa[4][4];
#pragma unroll
            for (int nt = 0; nt < 8; nt += 2) {
                float d0[4] = {0.f, 0.f, 0.f, 0.f}, d1[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
                for (int ks = 0; ks < 8; ks++) if (ks * 16 < D) flash_mma_t_pair(d0, d1, da[ks], sV, nt, ks, D, lane);
                flash_pack(dsa, nt, p[nt][0] * (d0[0] - diA), p[nt][1] * (d0[1] - diA), p[nt][2] * (d0[2] - diB), p[nt][3] * (d0[3] - diB));
                flash_pack(dsa, nt + 1, p[nt + 1][0] * (d1[0] - diA), p[nt + 1][1] * (d1[1] - diA),
                           p[nt + 1][2] * (d1[2] - diB), p[nt + 1][3] * (d1[3] - diB));
            }
            flash_frags_by_tile(acc, dsa, sK, D, lane);   /* dQ += dS · K */
        }
        __syncthreads();
    }
    if (q0 >= T) return;
#pragma unroll
    for (int dn = 0; dn < 16; dn++) {
        if (dn * 8 < D) {
            int c = dn * 8 + tg * 2;
            if (rowA < T) { float* d = dq + ((i64)b * T + rowA) * ldq + h * D + c; d[0] += scale * acc[dn][0]; d[1] += scale * acc[dn][1]; }
            if (rowB < T) { float* d = dq + ((i64)b * T + rowB) * ldq + h * D + c; d[0] += scale * acc[dn][2]; d[1] += scale * acc[dn][3]; }
        }
    }
}

/* Backward, dK and dV: a block takes 64 keys of one (b, key/value head); each warp keeps its 16
   keys' dK and dV in registers and streams, for every query head of the group, the query tiles
   that can see those keys (Q, dO, lse, Di through two shared-memory stages): Sᵀ = K·Qᵀ,
   Pᵀ = exp(Sᵀ − lse), dV += Pᵀ·dO, dPᵀ = V·dOᵀ, dSᵀ = Pᵀ ⊙ (dPᵀ − Di), dK += scale·dSᵀ·Q.
   No atomics: each block owns its keys. Adds into dk, dv. */
template <int DC> __device__ __forceinline__ void flash_dkdv_impl(const u16* q, const u16* k, const u16* v, const u16* dout,
        const float* lse, const float* di, float* dk, float* dv, int T, int Tk, int H, int KVH, int Dp, int qOff, float scale) {
    const int D = DC > 0 ? DC : Dp;   /* a compile-time head size unrolls every loop over it */
    extern __shared__ u16 smh[];
    const int lds = D + 8;
    /* [K | V | stage 0: Q, dO, lse, Di | stage 1: …] */
    const int stage = 2 * FQ * lds + 4 * FQ;   /* u16 elements */
    u16* sK = smh; u16* sV = sK + FK * lds;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gr = lane >> 2, tg = lane & 3;
    int g = blockIdx.y, b = blockIdx.z, rep = H / KVH;
    int k0 = blockIdx.x * FK, kw = k0 + warp * 16;
    int ldq = H * D, ldk = KVH * D;
    int keyA = kw + gr, keyB = kw + gr + 8;
    flash_copy_tile(sK, k + (i64)b * Tk * ldk + g * D, k0, ldk, Tk - k0, D);
    flash_copy_tile(sV, v + (i64)b * Tk * ldk + g * D, k0, ldk, Tk - k0, D);
    int tStart = max(0, k0 - qOff) / FQ * FQ;   /* the first query tile that sees key k0 */
    const float scale2 = scale * LOG2E;
    int perHead = tStart < T ? (T - tStart + FQ - 1) / FQ : 0, tiles = rep * perHead;
    /* Tile `it` is query tile tStart + (it % perHead)·64 of query head g·rep + it / perHead. */
    auto load = [&](int it) {
        u16* st = sV + FK * lds + (it & 1) * stage;
        int h = g * rep + it / perHead, t0 = tStart + (it % perHead) * FQ;
        const u16* qb = q + (i64)b * T * ldq + h * D; const u16* ob = dout + (i64)b * T * ldq + h * D;
        flash_copy_tile(st, qb, t0, ldq, T - t0, D);
        flash_copy_tile(st + FQ * lds, ob, t0, ldq, T - t0, D);
        float* sl = (float*)(st + 2 * FQ * lds);
        i64 rowBase = ((i64)b * H + h) * T;
        int i = threadIdx.x & 63;
        bool ok = t0 + i < T;
        if (threadIdx.x < 64) cp_async4(sl + i, ok ? lse + rowBase + t0 + i : lse, ok);
        else if (threadIdx.x < 128) cp_async4(sl + FQ + i, ok ? di + rowBase + t0 + i : di, ok);
        cp_async_commit();
    };
    if (tiles > 0) load(0); else cp_async_commit();
    float ak[16][4], av[16][4];
    flash_zero<16>(ak);
    flash_zero<16>(av);
    for (int it = 0; it < tiles; it++) {
        if (it + 1 < tiles) { load(it + 1); cp_async_wait<1>(); } else cp_async_wait<0>();
        __syncthreads();
        const u16* sQ = sV + FK * lds + (it & 1) * stage; const u16* sO = sQ + FQ * lds;
        const float* sL = (const float*)(sO + FQ * lds); const float* sD = sL + FQ;
        int t0 = tStart + (it % perHead) * FQ;
        if (kw < Tk && kw <= qOff + min(T, t0 + FQ) - 1) {   /* else every key of this warp is masked */
            float s[8][4];
            flash_rows_by_tile_t(s, sK + warp * 16 * lds, sQ, D, lane);
            bool edge = FLASH_EDGE(t0, FQ, kw, 16, T, Tk, qOff);
            unsigned pa[4][4];
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
                float pv[4];
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    int col = nt * 8 + tg * 2 + (i & 1), t = t0 + col;
                    int key = i < 2 ? keyA : keyB;
                    bool ok = FLASH_SEES(edge, t, key, T, Tk, qOff);
                    pv[i] = ok ? exp2f(s[nt][i] * scale2 - sL[col] * LOG2E) : 0.f;
                }
                flash_pack(pa, nt, pv[0], pv[1], pv[2], pv[3]);
            }
            flash_frags_by_tile(av, pa, sO, D, lane);   /* dV += Pᵀ · dO */
            float dp[8][4];
            flash_rows_by_tile_t(dp, sV + warp * 16 * lds, sO, D, lane);
            unsigned dsa[4][4];
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
                int j = nt >> 1, hi = (nt & 1) * 2;
                int col = nt * 8 + tg * 2;
                float d0 = sD[col], d1 = sD[col + 1];
                flash_pack(dsa, nt, bf16_lo(pa[j][hi]) * (dp[nt][0] - d0), bf16_hi(pa[j][hi]) * (dp[nt][1] - d1),
                           bf16_lo(pa[j][hi + 1]) * (dp[nt][2] - d0), bf16_hi(pa[j][hi + 1]) * (dp[nt][3] - d1));
            }
            flash_frags_by_tile(ak, dsa, sQ, D, lane);   /* dK += dSᵀ · Q (scaled below) */
        }
        __syncthreads();
    }
    cp_async_wait<0>();
#pragma unroll
    for (int dn = 0; dn < 16; dn++) {
        if (dn * 8 < D) {
            int c = dn * 8 + tg * 2;
            if (keyA < Tk) {
                i64 o = ((i64)b * Tk + keyA) * ldk + g * D + c;
                dk[o] += scale * ak[dn][0]; dk[o + 1] += scale * ak[dn][1]; dv[o] += av[dn][0]; dv[o + 1] += av[dn][1];
            }
            if (keyB < Tk) {
                i64 o = ((i64)b * Tk + keyB) * ldk + g * D + c;
                dk[o] += scale * ak[dn][2]; dk[o + 1] += scale * ak[dn][3]; dv[o] += av[dn][2]; dv[o + 1] += av[dn][3];
            }
        }
    }
}

/* Each flash kernel for head sizes 64 and 128 (fully unrolled) and for any other multiple of 16. */
#define FLASH_KERNEL(name, impl, blocksPerSM, params, args) \
    extern "C" __global__ void __launch_bounds__(128, blocksPerSM) name params { impl<0> args; } \
    extern "C" __global__ void __launch_bounds__(128, blocksPerSM) name##_d64 params { impl<64> args; } \
    extern "C" __global__ void __launch_bounds__(128, blocksPerSM) name##_d128 params { impl<128> args; }
/* Three forward blocks an SM (≤ 168 registers: measured 10 % faster at head size 128 on an H100
   despite a 108-byte spill); the backward kernels need up to 255 registers, two blocks an SM. */
FLASH_KERNEL(flash_attention_fwd, flash_fwd_impl, 3,
    (const u16* q, const u16* k, const u16* v, float* out, float* lse, int T, int Tk, int H, int KVH, int D, int qOff, float scale),
    (q, k, v, out, lse, T, Tk, H, KVH, D, qOff, scale))
FLASH_KERNEL(flash_attention_bwd_dq, flash_dq_impl, 1,
    (const u16* q, const u16* k, const u16* v, const u16* dout, const float* lse, const float* di, float* dq,
     int T, int Tk, int H, int KVH, int D, int qOff, float scale),
    (q, k, v, dout, lse, di, dq, T, Tk, H, KVH, D, qOff, scale))
FLASH_KERNEL(flash_attention_bwd_dkdv, flash_dkdv_impl, 1,
    (const u16* q, const u16* k, const u16* v, const u16* dout, const float* lse, const float* di, float* dk, float* dv,
     int T, int Tk, int H, int KVH, int D, int qOff, float scale),
    (q, k, v, dout, lse, di, dk, dv, T, Tk, H, KVH, D, qOff, scale))

/* Di = rowsum(dO ⊙ O) per (b, h, t) */
extern "C" __global__ void attention_bwd_di(const float* out, const float* dout, float* di, int B, int T, int H, int D) {
    i64 n = (i64)B * H * T;
    int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5, lane = threadIdx.x & 31;
    if (warp >= n) return;
    int t = (int)(warp % T); i64 bh = warp / T; int h = (int)(bh % H); int b = (int)(bh / H);
    i64 base = ((i64)b * T + t) * H * D + (i64)h * D;
    float s = 0.f;
    for (int c = lane; c < D; c += 32) s += out[base + c] * dout[base + c];
    s = warp_sum(s);
    if (lane == 0) di[((i64)b * H + h) * T + t] = s;
}

/* dQ: one warp per query row, looping over key tiles (recomputing P from the saved lse). */
extern "C" __global__ void __launch_bounds__(256) attention_bwd_dq(const float* q, const float* k, const float* v, const float* dout,
        const float* lse, const float* di, float* dq, int T, int Tk, int H, int KVH, int D, int qOff, float scale) {
    extern __shared__ float smem[];
    float* sK = smem;                 /* AK × (D+1) */
    float* sV = sK + AK * (D + 1);    /* AK × (D+1) */
    float* sQ = sV + AK * (D + 1);    /* AQ × D */
    float* sO = sQ + AQ * D;          /* AQ × D: dO rows */
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int h = blockIdx.y, b = blockIdx.z, g = h / (H / KVH);
    int t0 = blockIdx.x * AQ, t = t0 + warp;
    int ldq = H * D, ldk = KVH * D;
    bool active = t < T;
    for (int i = threadIdx.x; i < AQ * D; i += blockDim.x) {
        int r = i / D, c = i % D;
        bool ok = t0 + r < T;
        i64 src = ((i64)b * T + t0 + r) * ldq + h * D + c;
        sQ[i] = ok ? q[src] : 0.f;
        sO[i] = ok ? dout[src] : 0.f;
    }
    float acc[8];
    for (int i = 0; i < 8; i++) acc[i] = 0.f;
    float l = active ? lse[((i64)b * H + h) * T + t] : 0.f;
    float dI = active ? di[((i64)b * H + h) * T + t] : 0.f;
    int lastKey = min(Tk, qOff + min(T, t0 + AQ));
    int myLast = qOff + t;
    for (int k0 = 0; k0 < lastKey; k0 += AK) {
        __syncthreads();
        for (int i = threadIdx.x; i < AK * D; i += blockDim.x) {
            int r = i / D, c = i % D;
            bool ok = k0 + r < Tk;
            i64 src = ((i64)b * Tk + k0 + r) * ldk + g * D + c;
            sK[r * (D + 1) + c] = ok ? k[src] : 0.f;
            sV[r * (D + 1) + c] = ok ? v[src] : 0.f;
        }
        __syncthreads();
        if (!active) continue;
        int j = k0 + lane;
        float ds = 0.f;
        if (j <= myLast && j < Tk) {
            float s = 0.f, dp = 0.f;
            const float* qr = sQ + warp * D; const float* orow = sO + warp * D;
            const float* kr = sK + lane * (D + 1); const float* vr = sV + lane * (D + 1);
            for (int c = 0; c < D; c++) { s += qr[c] * kr[c]; dp += orow[c] * vr[c]; }
            float p = expf(s * scale - l);
            ds = p * (dp - dI);
        }
        for (int jj = 0; jj < AK; jj++) {
            float d = __shfl_sync(0xffffffffu, ds, jj);
            if (d != 0.f) { _Pragma("unroll") for (int i = 0; i < 8; i++) if (lane + 32 * i < D) acc[i] += d * sK[jj * (D + 1) + lane + 32 * i]; }
        }
    }
    if (active) { _Pragma("unroll") for (int i = 0; i < 8; i++) if (lane + 32 * i < D) dq[((i64)b * T + t) * ldq + h * D + lane + 32 * i] += scale * acc[i]; }
}

/* dK, dV: one warp per key row of one key/value head, looping over the query heads of its group
   and the query tiles that can see the key. */
extern "C" __global__ void __launch_bounds__(256) attention_bwd_dkdv(const float* q, const float* k, const float* v, const float* dout,
        const float* lse, const float* di, float* dk, float* dv, int T, int Tk, int H, int KVH, int D, int qOff, float scale) {
    extern __shared__ float smem[];
    float* sQ = smem;                 /* AK × (D+1): query rows */
    float* sO = sQ + AK * (D + 1);    /* AK × (D+1): dO rows */
    float* sKr = sO + AK * (D + 1);   /* AQ × D: this block's key rows */
    float* sVr = sKr + AQ * D;        /* AQ × D */
    float* sL = sVr + AQ * D;         /* AK */
    float* sD = sL + AK;              /* AK */
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int g = blockIdx.y, b = blockIdx.z, rep = H / KVH;
    int j0 = blockIdx.x * AQ, j = j0 + warp;
    int ldq = H * D, ldk = KVH * D;
    bool active = j < Tk;
    for (int i = threadIdx.x; i < AQ * D; i += blockDim.x) {
        int r = i / D, c = i % D;
        bool ok = j0 + r < Tk;
        i64 src = ((i64)b * Tk + j0 + r) * ldk + g * D + c;
        sKr[i] = ok ? k[src] : 0.f;
        sVr[i] = ok ? v[src] : 0.f;
    }
    float accK[8], accV[8];
    for (int i = 0; i < 8; i++) { accK[i] = 0.f; accV[i] = 0.f; }
    /* query t sees key j when qOff + t ≥ j */
    int firstQ = max(0, j0 - qOff);
    for (int hh = 0; hh < rep; hh++) {
        int h = g * rep + hh;
        for (int q0 = (firstQ / AK) * AK; q0 < T; q0 += AK) {
            __syncthreads();
            for (int i = threadIdx.x; i < AK * D; i += blockDim.x) {
                int r = i / D, c = i % D;
                bool ok = q0 + r < T;
                i64 src = ((i64)b * T + q0 + r) * ldq + h * D + c;
                sQ[r * (D + 1) + c] = ok ? q[src] : 0.f;
                sO[r * (D + 1) + c] = ok ? dout[src] : 0.f;
            }
            for (int i = threadIdx.x; i < AK; i += blockDim.x) {
                bool ok = q0 + i < T;
                sL[i] = ok ? lse[((i64)b * H + h) * T + q0 + i] : 0.f;
                sD[i] = ok ? di[((i64)b * H + h) * T + q0 + i] : 0.f;
            }
            __syncthreads();
            if (!active) continue;
            int t = q0 + lane;
            float p = 0.f, ds = 0.f;
            if (t < T && qOff + t >= j) {
                float s = 0.f, dp = 0.f;
                const float* qr = sQ + lane * (D + 1); const float* orow = sO + lane * (D + 1);
                const float* kr = sKr + warp * D; const float* vr = sVr + warp * D;
                for (int c = 0; c < D; c++) { s += qr[c] * kr[c]; dp += orow[c] * vr[c]; }
                p = expf(s * scale - sL[lane]);
                ds = p * (dp - sD[lane]);
            }
            for (int tt = 0; tt < AK; tt++) {
                float pt = __shfl_sync(0xffffffffu, p, tt), dt = __shfl_sync(0xffffffffu, ds, tt);
                if (pt != 0.f || dt != 0.f) {
                    _Pragma("unroll") for (int i = 0; i < 8; i++) if (lane + 32 * i < D) {
                        accV[i] += pt * sO[tt * (D + 1) + lane + 32 * i];
                        accK[i] += dt * sQ[tt * (D + 1) + lane + 32 * i];
                    }
                }
            }
        }
    }
    if (active) _Pragma("unroll") for (int i = 0; i < 8; i++) if (lane + 32 * i < D) {
        i64 dst = ((i64)b * Tk + j) * ldk + g * D + lane + 32 * i;
        dk[dst] += scale * accK[i];
        dv[dst] += accV[i];
    }
}
