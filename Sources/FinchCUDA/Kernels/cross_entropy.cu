/* Log-softmax and the chunked LM-head cross-entropy. */

/* ---- log-softmax over rows ---- */
extern "C" __global__ void logsoftmax_fwd(const float* x, float* out, int v) {
    __shared__ float sh[32];
    const float* xr = x + (i64)blockIdx.x * v; float* orow = out + (i64)blockIdx.x * v;
    float m = -INFINITY;
    for (int j = threadIdx.x; j < v; j += blockDim.x) m = fmaxf(m, xr[j]);
    m = block_max(m, sh);
    float s = 0.f;
    for (int j = threadIdx.x; j < v; j += blockDim.x) s += expf(xr[j] - m);
    s = block_sum(s, sh);
    float l = m + logf(s);
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
    float m = -INFINITY;
    for (int j = threadIdx.x; j < v; j += blockDim.x) m = fmaxf(m, row[j]);
    m = block_max(m, sh);
    float s = 0.f;
    for (int j = threadIdx.x; j < v; j += blockDim.x) s += expf(row[j] - m);
    s = block_sum(s, sh);
    float lse = m + logf(s);
    float target = row[label];
    __syncthreads();
    if (threadIdx.x == 0) loss[blockIdx.x] = lse - target;
    if (grad) {
        for (int j = threadIdx.x; j < v; j += blockDim.x) row[j] = expf(row[j] - lse) - (j == label ? 1.f : 0.f);
    }
}
