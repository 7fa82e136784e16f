/* Log-softmax and the chunked LM-head cross-entropy. */

/* ---- log-softmax over rows ---- */
/* log Σ exp(row[j]) over j < v, shifted by the row's max; every thread of the block gets it. */
__device__ __forceinline__ float block_row_lse(const float* row, int v, float* sh) {
    float m = -INFINITY;
    for (int j = threadIdx.x; j < v; j += blockDim.x) m = fmaxf(m, row[j]);
    m = block_max(m, sh);
    float s = 0.f;
    for (int j = threadIdx.x; j < v; j += blockDim.x) s += expf(row[j] - m);
    s = block_sum(s, sh);
    return m + logf(s);
}
extern "C" __global__ void logsoftmax_fwd(const float* x, float* out, int v) {
    __shared__ float sh[32];
    const float* xr = x + (i64)blockIdx.x * v; float* orow = out + (i64)blockIdx.x * v;
    float l = block_row_lse(xr, v, sh);
    for (int j = threadIdx.x; j < v; j += blockDim.x) orow[j] = xr[j] - l;
}
extern "C" __global__ void logsoftmax_bwd(const float* out, const float* dout, float* dx, int v) {
    __shared__ float sh[32];
    i64 o = (i64)blockIdx.x * v;
    float s = 0.f;
    for (int j = threadIdx.x; j < v; j += blockDim.x) s += dout[o + j];
    s = block_sum(s, sh);
    for (int j = threadIdx.x; j < v; j += blockDim.x) dx[o + j] = dout[o + j] - expf(out[o + j]) * s;
}

/* ---- cross-entropy over a chunk of logits (one block per row): loss[r] = lse − x[label];
        with grad, the row becomes softmax − onehot ---- */
extern "C" __global__ void cross_entropy_rows(float* logits, const int* labels, float* loss, int v, int grad) {
    __shared__ float sh[32];
    float* row = logits + (i64)blockIdx.x * v;
    int label = labels[blockIdx.x];
    float lse = block_row_lse(row, v, sh);
    float target = row[label];
    __syncthreads();
    if (threadIdx.x == 0) loss[blockIdx.x] = lse - target;
    if (grad) {
        for (int j = threadIdx.x; j < v; j += blockDim.x) row[j] = expf(row[j] - lse) - (j == label ? 1.f : 0.f);
    }
}
