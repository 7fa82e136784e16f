/* Element-wise and row-wise ops and norms: each forward beside its backward. */

/* ---- element-wise ---- */
extern "C" __global__ void elementwise(int op, const float* x, const float* y, float* out, float s, i64 n, i64 cols) {
    GRID_STRIDE(i, n) {
        float a = x[i], r;
        switch (op) {
        case 0: r = a + y[i]; break;
        case 1: r = a - y[i]; break;
        case 2: r = a * y[i]; break;
        case 3: r = a + y[i % cols]; break;
        case 4: r = a * s; break;
        case 5: r = a + s * y[i]; break;
        default: r = a / (1.f + expf(-a)); break;
        }
        out[i] = r;
    }
}

/* ---- SwiGLU: out = silu(gate) * up ---- */
/* The *16 outputs, when not null, receive bf16 copies for the products that read the result next. */
extern "C" __global__ void swiglu_fwd(const float* g, const float* u, float* out, u16* out16, i64 n) {
    GRID_STRIDE(i, n) {
        float x = g[i], v = x / (1.f + expf(-x)) * u[i];
        out[i] = v;
        if (out16) out16[i] = f32_to_bf16(v);
    }
}
extern "C" __global__ void swiglu_bwd(const float* g, const float* u, const float* dout, float* dg, float* du, u16* dg16, u16* du16, i64 n) {
    GRID_STRIDE(i, n) {
        float x = g[i], s = 1.f / (1.f + expf(-x)), d = dout[i];
        float vu = d * x * s, vg = d * u[i] * s * (1.f + x * (1.f - s));
        du[i] = vu; dg[i] = vg;
        if (du16) { du16[i] = f32_to_bf16(vu); dg16[i] = f32_to_bf16(vg); }
    }
}

/* ---- RMSNorm: one block per row ---- */
extern "C" __global__ void rmsnorm_fwd(const float* x, const float* w, float* out, u16* out16, float* rstd, int c, float eps) {
    __shared__ float sh[32];
    const float* xr = x + (i64)blockIdx.x * c; float* orow = out + (i64)blockIdx.x * c;
    float ss = 0.f;
    for (int i = threadIdx.x; i < c; i += blockDim.x) ss += xr[i] * xr[i];
    ss = block_sum(ss, sh);
    float s = rsqrtf(ss / (float)c + eps);
    if (threadIdx.x == 0) rstd[blockIdx.x] = s;
    for (int i = threadIdx.x; i < c; i += blockDim.x) {
        float v = xr[i] * s * w[i];
        orow[i] = v;
        if (out16) out16[(i64)blockIdx.x * c + i] = f32_to_bf16(v);
    }
}
/* dx = rstd·(dy⊙w − x·rstd·mean(dy⊙w⊙x·rstd)); dw += Σ_rows dy⊙x·rstd (dx, dw may be null) */
extern "C" __global__ void rmsnorm_bwd(const float* x, const float* w, const float* rstd, const float* dout, float* dx, float* dw, int c) {
    __shared__ float sh[32];
    i64 r = blockIdx.x;
    const float* xr = x + r * c; const float* dr = dout + r * c;
    float s = rstd[r];
    if (dx) {
        float dot = 0.f;
        for (int i = threadIdx.x; i < c; i += blockDim.x) dot += dr[i] * w[i] * xr[i] * s;
        dot = block_sum(dot, sh);
        float m = dot / (float)c;
        for (int i = threadIdx.x; i < c; i += blockDim.x) dx[r * c + i] = s * (dr[i] * w[i] - xr[i] * s * m);
    }
    if (dw) for (int i = threadIdx.x; i < c; i += blockDim.x) atomicAdd(dw + i, dr[i] * xr[i] * s);
}

/* ---- rotary embeddings (rotate_half layout); inverse = rotate by −angle ---- */
extern "C" __global__ void rope(const float* x, const float* cosT, const float* sinT, const int* pos, float* out,
                                i64 rows, int heads, int half, float sign) {
    i64 n = rows * heads * half;
    GRID_STRIDE(idx, n) {
        int i = (int)(idx % half); i64 rh = idx / half; int h = (int)(rh % heads); i64 r = rh / heads;
        i64 base = r * (i64)heads * 2 * half + (i64)h * 2 * half;
        float a = x[base + i], b = x[base + i + half];
        float co = cosT[(i64)pos[r] * half + i], si = sign * sinT[(i64)pos[r] * half + i];
        out[base + i] = a * co - b * si;
        out[base + i + half] = b * co + a * si;
    }
}

/* ---- embedding ---- */
extern "C" __global__ void embedding_fwd(int dtype, const u8* table, const int* ids, float* out, i64 n, int c) {
    GRID_STRIDE(idx, n * c) { i64 r = idx / c; int j = (int)(idx % c); out[idx] = load_elem(dtype, table, (i64)ids[r] * c + j); }
}
extern "C" __global__ void embedding_bwd(const int* ids, const float* dout, float* dtable, i64 n, int c) {
    GRID_STRIDE(idx, n * c) { i64 r = idx / c; int j = (int)(idx % c); atomicAdd(dtable + (i64)ids[r] * c + j, dout[idx]); }
}

extern "C" __global__ void gather_rows(const float* src, const int* rows, float* dst, i64 n, int c) {
    GRID_STRIDE(idx, n * c) { i64 r = idx / c; int j = (int)(idx % c); dst[idx] = src[(i64)rows[r] * c + j]; }
}
extern "C" __global__ void scatter_add_rows(const float* src, const int* rows, float* dst, i64 n, int c) {
    GRID_STRIDE(idx, n * c) { i64 r = idx / c; int j = (int)(idx % c); dst[(i64)rows[r] * c + j] += src[idx]; }
}
extern "C" __global__ void f32_to_bf16_copy(const float* x, u16* y, i64 n) { GRID_STRIDE(i, n) y[i] = f32_to_bf16(x[i]); }
