/* Gradient norms and optimizer steps. */

/* ---- reductions and optimizers ---- */
extern "C" __global__ void sum_squares(const float* x, i64 n, double* out) {
    double acc = 0.0;
    GRID_STRIDE(i, n) { float v = x[i]; acc += (double)(v * v); }
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if ((threadIdx.x & 31) == 0) atomicAdd(out, acc);
}
extern "C" __global__ void adamw_step(float* p, const float* g, float* m, float* v, i64 n,
                                      float b1, float b2, float eps, float stepSize, float bc2Sqrt, float decay) {
    GRID_STRIDE(j, n) {
        float pj = p[j] * decay, gj = g[j];
        float mj = b1 * m[j] + (1.f - b1) * gj;
        float vj = b2 * v[j] + (1.f - b2) * gj * gj;
        m[j] = mj; v[j] = vj;
        p[j] = pj - stepSize * mj / (sqrtf(vj) / bc2Sqrt + eps);
    }
}
extern "C" __global__ void sgd_step(float* p, const float* g, float* buf, i64 n, float lr, float mu, float wd, int first) {
    GRID_STRIDE(j, n) {
        float d = g[j] + wd * p[j];
        if (buf) { float b = first ? d : mu * buf[j] + d; buf[j] = b; d = b; }
        p[j] -= lr * d;
    }
}
