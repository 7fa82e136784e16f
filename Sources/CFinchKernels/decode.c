// One-token decode in one call (see finch_decode.h): a persistent thread pool and the layer's element-wise
// work folded into the mat-vecs' epilogues. Per layer, 5 phases, each ending when all its chunks are done:
//   1. each thread: x̂ = rmsnorm(x) (and its 8- or 16-bit blocks); then heads of the 960 q/k/v rows → q, or
//      straight into the KV cache's row pos; rotary on those q/k heads
//   2. runs of up to KEYS keys of each KV head: its query heads' softmax(q·Kᵀ·scale)·V over the run; the
//      last run of a KV head to finish merges the runs' results into att by their log-sum-exp
//   3. each thread: att's blocks; rows of o_proj, added into x
//   4. each thread: rmsnorm(x); rows of gate and up, SwiGLU into h
//   5. each thread: h's blocks; rows of down_proj, added into x
// then rmsnorm and rows of the LM head. LoRA adapters ride along in f32: when phases 1, 3, 4 and 5 open, each
// thread also takes A·x̂ of their projections (rank × in, small), and each unit of rows adds its B rows·(A·x̂)
// before the epilogue (after the bias and before rotary in phase 1; before the residual add or SwiGLU elsewhere).
// Heads and row chunks are claimed from a counter per phase, so threads write disjoint rows and a descheduled
// thread holds up nobody for long (see claim / wait_phase).
#include "finch_decode.h"
#include "finch_kernels.h"
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

enum { T_Q4_0 = 2, T_Q4_1 = 3, T_Q8_0 = 8, T_Q4_K = 12, T_Q6_K = 14 };
// Spins before a waiting thread yields the core (end of a phase) or sleeps (between tokens).
enum { BARRIER_SPINS = 1 << 12, IDLE_SPINS = 1 << 16 };
// Rows per work chunk of a mat-vec (the LM head takes 4×). Halving it for SmolLM2's 576-row phases (9 chunks
// for 2 threads) measured 3-8 % slower, not faster.
enum { ROWS = 64 };
// Keys per unit of the attention phase. A unit reads its run of one KV head's keys and values once for all the
// query heads sharing it (GQA; a run is 32 KiB of K and V at head size 64, so it stays in L1 across them), and
// long contexts split into several units, so SmolLM2's 3 KV heads balance over 2 threads.
enum { KEYS = 64 };

typedef struct {
    float *xn;              // the normalised input of the current mat-vec (f32)
    float *xsum;            // Σ of each 32-block of the f32 input (exact mode, Q4_1's offset term)
    finch_q8x_block *xq;    // its 8-bit blocks (int8 mode)
    finch_q16x_block *xw;   // its 16-bit blocks (int16 mode)
    const float *xf;        // the f32 input the exact kernels read
    float *xa;              // the input's products with the layer's LoRA A's (each projection's rank, FINCH_LORA order)
    float *scores;          // attention weights, max_positions
} scratch;

struct finch_decoder;
typedef struct { struct finch_decoder *d; int tid; } worker_arg;

struct finch_decoder {
    finch_decode_model m;
    finch_decode_layer *layers;
    int threads, max_positions, isa;
    float *x, *q, *att, *tmp, *gate, *up, *h;
    // Attention runs: per query head and run, the run's normalised output (head_dim) and its (max, Σ exp).
    float *run_out, *run_ml;
    int max_runs;  // runs of KEYS keys per KV head at max_positions
    scratch *s;
    // the current job
    int pos, mode;
    float *logits;
    // the pool
    pthread_t *workers;
    worker_arg *args;
    int started;
    atomic_int job_gen, quit, bar_count, bar_gen;
    // Per phase of a token (5 per layer + the head): chunks claimed and chunks finished, zeroed per token.
    atomic_int *next, *done;
    atomic_int *runs_done;    // per layer and KV head: attention runs finished, zeroed per token
    atomic_int workers_done;  // workers through the current token (the next one may reset the counters)
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

int finch_decode_supports(int t, int mode) {
    if (mode != FINCH_DECODE_INT8) return t == T_Q4_0 || t == T_Q4_1 || t == T_Q8_0;
    return t == T_Q4_0 || t == T_Q4_1 || t == T_Q8_0 || t == T_Q4_K || t == T_Q6_K;
}

// ---- threads ---------------------------------------------------------------------------------


// Work is handed out in chunks from a per-phase counter (llama.cpp's scheme), and a thread waits only for
// the chunks of the phase to be finished, not for the other threads to arrive: on a busy machine a thread
// that lost its core finds the phase done when it returns and skips ahead, instead of stalling everyone.
// Phases still run strictly in order (each waits for the previous one's chunks), so a chunk's inputs are
// complete when it is claimed, and a thread that claims nothing never uses what it prepared.
typedef struct { atomic_int *next, *done; int n, chunk; } phase;

static phase phase_of(struct finch_decoder *d, int p, int units, int chunk) {
    return (phase){d->next + p, d->done + p, (units + chunk - 1) / chunk, chunk};
}
// Whether chunks are left to claim (a late thread skips preparing its input otherwise).
static int open_phase(phase ph) { return atomic_load_explicit(ph.next, memory_order_relaxed) < ph.n; }
// The next chunk's units [begin, end) of `units`; 0 when none is left.
static int claim(phase ph, int units, int *begin, int *end) {
    const int c = atomic_fetch_add_explicit(ph.next, 1, memory_order_relaxed);
    if (c >= ph.n) return 0;
    *begin = c * ph.chunk;
    *end = *begin + ph.chunk < units ? *begin + ph.chunk : units;
    return 1;
}
static void finish(phase ph) { atomic_fetch_add_explicit(ph.done, 1, memory_order_release); }
static void wait_phase(phase ph) {
    for (int spins = 0; atomic_load_explicit(ph.done, memory_order_acquire) < ph.n; spins++) {
        if (spins < BARRIER_SPINS) CPU_RELAX(); else sched_yield();
    }
}

// ---- small f32 kernels (attention, norms) -------------------------------------------------------

static float dot_ref(const float *a, const float *b, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
static void axpy_ref(float a, const float *x, float *y, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}
#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, int n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    s0 = _mm256_add_ps(s0, s1);
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    float s = _mm_cvtss_f32(r);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}
__attribute__((target("avx2,fma"))) static void axpy_avx2(float a, const float *x, float *y, int n) {
    const __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}
__attribute__((target("avx512f"))) static float dot_avx512(const float *a, const float *b, int n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    float s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}
__attribute__((target("avx512f"))) static void axpy_avx512(float a, const float *x, float *y, int n) {
    const __m512 va = _mm512_set1_ps(a);
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}
#endif



// sc[j] = exp(sc[j] − mx) in place; ml = (mx, Σ sc) for merging runs; returns 1 / Σ.
static float softmax_run(float *sc, int n, float mx, float *ml) {
    ml[0] = mx;
    ml[1] = finch_exp_shift_sum_f32(sc, sc, (size_t)n, mx);
    return 1.0f / ml[1];
}

// One query head against keys 0..<n (rows `stride` floats apart): sc = softmax(q·K[j]·scale), out = Σ sc[j]·V[j];
// ml = (max of q·K[j]·scale, Σ exp(q·K[j]·scale − max)) for merging runs of keys (merge_runs).
// Per ISA, so the per-key products inline (a call per key cost as much as the arithmetic at 256 keys); the
// common head size 64 keeps q and the output accumulators in registers.
static void attend_ref(const float *q, const float *k, const float *v, size_t stride, int n, int hd, float scale, float *sc, float *out, float *ml) {
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) {
        sc[j] = dot_ref(q, k + (size_t)j * stride, hd) * scale;
        if (sc[j] > mx) mx = sc[j];
    }
    const float inv = softmax_run(sc, n, mx, ml);
    memset(out, 0, sizeof(float) * (size_t)hd);
    for (int j = 0; j < n; j++) axpy_ref(sc[j], v + (size_t)j * stride, out, hd);
    for (int i = 0; i < hd; i++) out[i] *= inv;
}
#if defined(__x86_64__)
__attribute__((target("avx512f"))) static void attend_avx512(const float *q, const float *k, const float *v, size_t stride, int n, int hd,
                                                             float scale, float *sc, float *out, float *ml) {
    if (hd != 64) {
        float mx = -INFINITY;
        for (int j = 0; j < n; j++) {
            sc[j] = dot_avx512(q, k + (size_t)j * stride, hd) * scale;
            if (sc[j] > mx) mx = sc[j];
        }
        const float inv = softmax_run(sc, n, mx, ml);
        memset(out, 0, sizeof(float) * (size_t)hd);
        for (int j = 0; j < n; j++) axpy_avx512(sc[j], v + (size_t)j * stride, out, hd);
        for (int i = 0; i < hd; i++) out[i] *= inv;
        return;
    }
    const __m512 q0 = _mm512_loadu_ps(q), q1 = _mm512_loadu_ps(q + 16), q2 = _mm512_loadu_ps(q + 32), q3 = _mm512_loadu_ps(q + 48);
    __m512 vmx = _mm512_set1_ps(-INFINITY);
    int j = 0;
    for (; j < n; j++) {
        const float *kj = k + (size_t)j * stride;
        __m512 s0 = _mm512_mul_ps(q0, _mm512_loadu_ps(kj)), s1 = _mm512_mul_ps(q1, _mm512_loadu_ps(kj + 16));
        s0 = _mm512_fmadd_ps(q2, _mm512_loadu_ps(kj + 32), s0);
        s1 = _mm512_fmadd_ps(q3, _mm512_loadu_ps(kj + 48), s1);
        sc[j] = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) * scale;
        vmx = _mm512_max_ps(vmx, _mm512_set1_ps(sc[j]));
    }
    const float inv = softmax_run(sc, n, _mm512_reduce_max_ps(vmx), ml);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (j = 0; j < n; j++) {
        const float *vj = v + (size_t)j * stride;
        const __m512 p = _mm512_set1_ps(sc[j]);
        a0 = _mm512_fmadd_ps(p, _mm512_loadu_ps(vj), a0);
        a1 = _mm512_fmadd_ps(p, _mm512_loadu_ps(vj + 16), a1);
        a2 = _mm512_fmadd_ps(p, _mm512_loadu_ps(vj + 32), a2);
        a3 = _mm512_fmadd_ps(p, _mm512_loadu_ps(vj + 48), a3);
    }
    const __m512 vi = _mm512_set1_ps(inv);
    _mm512_storeu_ps(out, _mm512_mul_ps(a0, vi));
    _mm512_storeu_ps(out + 16, _mm512_mul_ps(a1, vi));
    _mm512_storeu_ps(out + 32, _mm512_mul_ps(a2, vi));
    _mm512_storeu_ps(out + 48, _mm512_mul_ps(a3, vi));
}

// Σ of the 8 lanes.
__attribute__((target("avx2,fma"))) static float hsum_avx2(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    return _mm_cvtss_f32(_mm_add_ss(r, _mm_movehdup_ps(r)));
}
__attribute__((target("avx2,fma"))) static void attend_avx2(const float *q, const float *k, const float *v, size_t stride, int n, int hd,
                                                           float scale, float *sc, float *out, float *ml) {
    float mx = -INFINITY;
    if (hd == 64) {  // q in 8 registers; two keys per step for two independent chains
        __m256 qv[8];
        for (int i = 0; i < 8; i++) qv[i] = _mm256_loadu_ps(q + 8 * i);
        int j = 0;
        for (; j + 2 <= n; j += 2) {
            const float *k0 = k + (size_t)j * stride, *k1 = k0 + stride;
            __m256 s0 = _mm256_mul_ps(qv[0], _mm256_loadu_ps(k0)), s1 = _mm256_mul_ps(qv[0], _mm256_loadu_ps(k1));
            for (int i = 1; i < 8; i++) {
                s0 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(k0 + 8 * i), s0);
                s1 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(k1 + 8 * i), s1);
            }
            sc[j] = hsum_avx2(s0) * scale;
            sc[j + 1] = hsum_avx2(s1) * scale;
        }
        for (; j < n; j++) sc[j] = dot_avx2(q, k + (size_t)j * stride, hd) * scale;
        for (j = 0; j < n; j++) mx = sc[j] > mx ? sc[j] : mx;
    } else {
        for (int j = 0; j < n; j++) {
            sc[j] = dot_avx2(q, k + (size_t)j * stride, hd) * scale;
            if (sc[j] > mx) mx = sc[j];
        }
    }
    const float inv = softmax_run(sc, n, mx, ml);
    if (hd != 64) {
        memset(out, 0, sizeof(float) * (size_t)hd);
        for (int j = 0; j < n; j++) axpy_avx2(sc[j], v + (size_t)j * stride, out, hd);
        for (int i = 0; i < hd; i++) out[i] *= inv;
        return;
    }
    __m256 a[8];
    for (int i = 0; i < 8; i++) a[i] = _mm256_setzero_ps();
    for (int j = 0; j < n; j++) {
        const float *vj = v + (size_t)j * stride;
        const __m256 p = _mm256_set1_ps(sc[j]);
        for (int i = 0; i < 8; i++) a[i] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 8 * i), a[i]);
    }
    for (int i = 0; i < 8; i++) _mm256_storeu_ps(out + 8 * i, _mm256_mul_ps(a[i], _mm256_set1_ps(inv)));
}
#endif

static void attend(int isa, const float *q, const float *k, const float *v, size_t stride, int n, int hd, float scale, float *sc, float *out,
                   float *ml) {
#if defined(__x86_64__)
    if (isa >= FINCH_ISA_AVX512) { attend_avx512(q, k, v, stride, n, hd, scale, sc, out, ml); return; }
    if (isa == FINCH_ISA_AVX2) { attend_avx2(q, k, v, stride, n, hd, scale, sc, out, ml); return; }
#endif
    (void)isa;
    attend_ref(q, k, v, stride, n, hd, scale, sc, out, ml);
}

// One query head's result over all keys from its runs' (normalised output, max, Σ exp): each run weighs
// Σ_r·exp(max_r − max) / Σ over runs (flash-decoding's merge). Runs in order, so the sum is deterministic.
static void merge_runs(const float *outs, const float *ml, int runs, int hd, float *out) {
    float mx = -INFINITY, den = 0.0f;
    for (int r = 0; r < runs; r++) mx = ml[2 * r] > mx ? ml[2 * r] : mx;
    for (int r = 0; r < runs; r++) den += ml[2 * r + 1] * expf(ml[2 * r] - mx);
    memset(out, 0, sizeof(float) * (size_t)hd);
    for (int r = 0; r < runs; r++) {
        const float w = ml[2 * r + 1] * expf(ml[2 * r] - mx) / den;
        for (int i = 0; i < hd; i++) out[i] += w * outs[(size_t)r * hd + i];
    }
}

// out = x · rsqrt(mean(x²) + eps) · w, as the Tensor path computes it (one f32 sum in order).
static void rmsnorm(const float *x, const float *w, float *out, int n, float eps) {
    float ss = 0.0f;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    const float r = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * r * w[i];
}

// Rotary embedding of one head in place (Hugging Face rotate_half: i pairs with i + D/2).
static void rope(float *v, const float *c, const float *s, int half) {
    for (int i = 0; i < half; i++) {
        const float a = v[i], b = v[i + half];
        v[i] = a * c[i] - b * s[i];
        v[i + half] = b * c[i] + a * s[i];
    }
}

// ---- mat-vecs ------------------------------------------------------------------------------------

// The thread's copy of the mat-vec input: 8- or 16-bit blocks, or the f32 vector and its block sums.
static void prepare(scratch *s, const float *x, int n, int mode) {
    if (mode == FINCH_DECODE_INT8) { finch_quantize_q8x(x, s->xq, (size_t)n); return; }
    if (mode == FINCH_DECODE_INT16) { finch_quantize_q16x(x, s->xw, (size_t)n); return; }
    s->xf = x;
    for (int b = 0; b < n / 32; b++) {
        float t = 0.0f;
        for (int j = 0; j < 32; j++) t += x[32 * b + j];
        s->xsum[b] = t;
    }
}

// y[r] = W[r,:]·x for r in [rb, re).
static void matvec(const finch_decode_matrix *w, const scratch *s, int mode, float *y, int rb, int re, int cols) {
    if (rb >= re) return;
    const size_t b = (size_t)rb, e = (size_t)re, c = (size_t)cols;
    if (mode == FINCH_DECODE_EXACT) {
        switch (w->ggml_type) {
        case T_Q4_0: finch_matvec_f32x_q4_0(w->data, s->xf, y, b, e, c); return;
        case T_Q4_1: finch_matvec_f32x_q4_1(w->data, s->xf, s->xsum, y, b, e, c); return;
        default: finch_matvec_f32x_q8_0(w->data, s->xf, y, b, e, c); return;
        }
    }
    if (mode == FINCH_DECODE_INT16) {
        switch (w->ggml_type) {
        case T_Q4_0: finch_matvec_q16_q4_0(w->data, s->xw, y, b, e, c); return;
        case T_Q4_1: finch_matvec_q16_q4_1(w->data, s->xw, y, b, e, c); return;
        default: finch_matvec_q16_q8_0(w->data, s->xw, y, b, e, c); return;
        }
    }
    switch (w->ggml_type) {
    case T_Q4_0: finch_matvec_q4_0(w->data, s->xq, y, b, e, c); return;
    case T_Q4_1: finch_matvec_q4_1(w->data, s->xq, y, b, e, c); return;
    case T_Q4_K: finch_matvec_q4_K(w->data, s->xq, y, b, e, c); return;
    case T_Q6_K: finch_matvec_q6_K(w->data, s->xq, y, b, e, c); return;
    default: finch_matvec_q8_0(w->data, s->xq, y, b, e, c); return;
    }
}

static void add_bias(float *y, const float *bias, int rb, int re) {
    if (!bias) return;
    for (int r = rb; r < re; r++) y[r] += bias[r];
}

// ---- LoRA branches: y += scale · B·(A·x̂), f32 in every mode -------------------------------------

// Where projection p's A·x̂ sits in the thread's xa.
static int lora_offset(const finch_decode_layer *L, int p) {
    int off = 0;
    for (int i = 0; i < p; i++) off += L->lora[i].rank;
    return off;
}
// When a phase opens (beside `prepare`): A·x̂ of projections [p0, p1) that have an adapter (rank × in, small),
// so that each chunk of rows needs only its B rows.
static void lora_prepare(const finch_decode_layer *L, scratch *s, const float *x, int in, int p0, int p1) {
    for (int p = p0, off = lora_offset(L, p0); p < p1; off += L->lora[p].rank, p++)
        if (L->lora[p].rank) finch_sgemv_rows(L->lora[p].a, x, s->xa + off, 0, (size_t)L->lora[p].rank, (size_t)in, 1.0f, 0);
}
// y[r] += scale · B[r,:]·(A·x̂) for r in [rb, re).
static void lora_add(const finch_decode_layer *L, int p, const scratch *s, float *y, int rb, int re) {
    const finch_decode_lora *a = &L->lora[p];
    if (a->rank) finch_sgemv_rows(a->b, s->xa + lora_offset(L, p), y, (size_t)rb, (size_t)re, (size_t)a->rank, a->scale, 1);
}

// ---- one token -----------------------------------------------------------------------------------

static void run(struct finch_decoder *d, int t) {
    const finch_decode_model *m = &d->m;
    const int hd = m->head_dim, half = hd / 2, C = m->hidden, F = m->ffn, H = m->heads, KVH = m->kv_heads;
    const int kvw = KVH * hd, pos = d->pos, mode = d->mode, isa = d->isa;
    const float *cs = m->rope_cos + (size_t)pos * half, *sn = m->rope_sin + (size_t)pos * half;
    const float scale = 1.0f / sqrtf((float)hd);
    const int G = H / KVH, keys = pos + 1, runs = (keys + KEYS - 1) / KEYS;
    scratch *s = &d->s[t];
    int rb, re;
    if (t > 0) finch_isa_set_thread(isa);  // the workers run at the starting thread's level

    for (int l = 0; l < m->n_layers; l++) {
        const finch_decode_layer *L = &d->layers[l];
        float *krow = L->k_cache + (size_t)pos * kvw, *vrow = L->v_cache + (size_t)pos * kvw;
        const phase qkv = phase_of(d, 5 * l, H + 2 * KVH, 1), attn = phase_of(d, 5 * l + 1, KVH * runs, 1),
                    oproj = phase_of(d, 5 * l + 2, C, ROWS), gateup = phase_of(d, 5 * l + 3, F, ROWS),
                    down = phase_of(d, 5 * l + 4, C, ROWS);

        // 1. q/k/v: units of one head (hd rows): H query heads, then KVH key heads, then KVH value heads
        if (open_phase(qkv)) {
            rmsnorm(d->x, L->attn_norm, s->xn, C, m->eps);
            prepare(s, s->xn, C, mode);
            lora_prepare(L, s, s->xn, C, FINCH_LORA_Q, FINCH_LORA_O);
        }
        for (int u, u1; claim(qkv, H + 2 * KVH, &u, &u1); finish(qkv)) {
            if (u < H) {
                matvec(&L->q, s, mode, d->q, u * hd, (u + 1) * hd, C);
                add_bias(d->q, L->q_bias, u * hd, (u + 1) * hd);
                lora_add(L, FINCH_LORA_Q, s, d->q, u * hd, (u + 1) * hd);
                rope(d->q + u * hd, cs, sn, half);
            } else if (u < H + KVH) {
                const int j = u - H;
                matvec(&L->k, s, mode, krow, j * hd, (j + 1) * hd, C);
                add_bias(krow, L->k_bias, j * hd, (j + 1) * hd);
                lora_add(L, FINCH_LORA_K, s, krow, j * hd, (j + 1) * hd);
                rope(krow + j * hd, cs, sn, half);
            } else {
                const int j = u - H - KVH;
                matvec(&L->v, s, mode, vrow, j * hd, (j + 1) * hd, C);
                add_bias(vrow, L->v_bias, j * hd, (j + 1) * hd);
                lora_add(L, FINCH_LORA_V, s, vrow, j * hd, (j + 1) * hd);
            }
        }
        wait_phase(qkv);

        // 2. attention over keys 0...pos: units of one KV head's run of keys, for its G query heads
        for (int u, u1; claim(attn, KVH * runs, &u, &u1); finish(attn)) {
            const int g = u / runs, r = u % runs, j0 = r * KEYS, n = keys - j0 < KEYS ? keys - j0 : KEYS;
            const size_t kv_off = (size_t)j0 * kvw + (size_t)g * hd;
            for (int h = g * G; h < (g + 1) * G; h++) {
                float *ml = d->run_ml + 2 * ((size_t)h * d->max_runs + r), *out = d->run_out + ((size_t)h * d->max_runs + r) * hd;
                attend(isa, d->q + h * hd, L->k_cache + kv_off, L->v_cache + kv_off, (size_t)kvw, n, hd, scale, s->scores,
                       runs == 1 ? d->att + h * hd : out, ml);
            }
            // The last run of KV head g to finish merges its heads' runs (acq_rel: it sees the other runs' writes).
            if (runs > 1 && atomic_fetch_add_explicit(&d->runs_done[l * KVH + g], 1, memory_order_acq_rel) == runs - 1) {
                for (int h = g * G; h < (g + 1) * G; h++)
                    merge_runs(d->run_out + (size_t)h * d->max_runs * hd, d->run_ml + 2 * (size_t)h * d->max_runs, runs, hd, d->att + h * hd);
            }
        }
        wait_phase(attn);

        // 3. x += o_proj(att)
        if (open_phase(oproj)) {
            prepare(s, d->att, H * hd, mode);
            lora_prepare(L, s, d->att, H * hd, FINCH_LORA_O, FINCH_LORA_GATE);
        }
        for (; claim(oproj, C, &rb, &re); finish(oproj)) {
            matvec(&L->o, s, mode, d->tmp, rb, re, H * hd);
            lora_add(L, FINCH_LORA_O, s, d->tmp, rb, re);
            for (int r = rb; r < re; r++) d->x[r] += d->tmp[r];
        }
        wait_phase(oproj);

        // 4. h = silu(gate(x̂)) · up(x̂)
        if (open_phase(gateup)) {
            rmsnorm(d->x, L->ffn_norm, s->xn, C, m->eps);
            prepare(s, s->xn, C, mode);
            lora_prepare(L, s, s->xn, C, FINCH_LORA_GATE, FINCH_LORA_DOWN);
        }
        for (; claim(gateup, F, &rb, &re); finish(gateup)) {
            matvec(&L->gate, s, mode, d->gate, rb, re, C);
            matvec(&L->up, s, mode, d->up, rb, re, C);
            lora_add(L, FINCH_LORA_GATE, s, d->gate, rb, re);
            lora_add(L, FINCH_LORA_UP, s, d->up, rb, re);
            finch_swiglu_f32(d->gate + rb, d->up + rb, d->h + rb, (size_t)(re - rb));
        }
        wait_phase(gateup);

        // 5. x += down(h)
        if (open_phase(down)) {
            prepare(s, d->h, F, mode);
            lora_prepare(L, s, d->h, F, FINCH_LORA_DOWN, FINCH_LORA_COUNT);
        }
        for (; claim(down, C, &rb, &re); finish(down)) {
            matvec(&L->down, s, mode, d->tmp, rb, re, F);
            lora_add(L, FINCH_LORA_DOWN, s, d->tmp, rb, re);
            for (int r = rb; r < re; r++) d->x[r] += d->tmp[r];
        }
        wait_phase(down);
    }
    const phase head = phase_of(d, 5 * m->n_layers, m->vocab, 4 * ROWS);
    if (open_phase(head)) {
        rmsnorm(d->x, m->final_norm, s->xn, C, m->eps);
        prepare(s, s->xn, C, mode);
    }
    for (; claim(head, m->vocab, &rb, &re); finish(head)) matvec(&m->lm_head, s, mode, d->logits, rb, re, C);
    wait_phase(head);
}

static void *worker_main(void *p) {
    worker_arg *a = p;
    struct finch_decoder *d = a->d;
    int seen = 0;
    for (;;) {
        int g, spins = 0;
        while ((g = atomic_load_explicit(&d->job_gen, memory_order_acquire)) == seen) {
            if (atomic_load_explicit(&d->quit, memory_order_acquire)) return NULL;
            if (++spins < IDLE_SPINS) { CPU_RELAX(); continue; }
            pthread_mutex_lock(&d->mu);
            while (atomic_load(&d->job_gen) == seen && !atomic_load(&d->quit)) pthread_cond_wait(&d->cv, &d->mu);
            pthread_mutex_unlock(&d->mu);
        }
        seen = g;
        run(d, a->tid);
        atomic_fetch_add_explicit(&d->workers_done, 1, memory_order_release);
    }
}

// ---- life cycle ----------------------------------------------------------------------------------

void finch_decoder_destroy(finch_decoder *d) {
    if (!d) return;
    if (d->started > 0) {
        pthread_mutex_lock(&d->mu);
        atomic_store(&d->quit, 1);
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
        for (int i = 0; i < d->started; i++) pthread_join(d->workers[i], NULL);
    }
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    if (d->s) {
        for (int t = 0; t < d->threads; t++) {
            free(d->s[t].xn); free(d->s[t].xsum); free(d->s[t].xa); free(d->s[t].xq); free(d->s[t].xw); free(d->s[t].scores);
        }
    }
    free(d->s); free(d->x); free(d->q); free(d->att); free(d->tmp); free(d->gate); free(d->up); free(d->h);
    free(d->layers); free(d->workers); free(d->args); free(d->next); free(d->done);
    free(d->run_out); free(d->run_ml); free(d->runs_done);
    free(d);
}

finch_decoder *finch_decoder_create(const finch_decode_model *model, int threads, int max_positions) {
    if (!model || threads < 1 || max_positions < 1 || model->head_dim % 2 || model->kv_heads < 1
        || model->heads % model->kv_heads || model->hidden % 32 || model->ffn % 32 || (model->heads * model->head_dim) % 32)
        return NULL;
    // The adapters' total rank per layer sizes each thread's xa (max over layers).
    int lora_width = 1;
    for (int l = 0; model->layers && l < model->n_layers; l++) {
        int w = 0;
        for (int p = 0; p < FINCH_LORA_COUNT; p++) {
            const finch_decode_lora *a = &model->layers[l].lora[p];
            if (a->rank < 0 || (a->rank > 0 && (!a->a || !a->b))) return NULL;
            w += a->rank;
        }
        if (w > lora_width) lora_width = w;
    }
    finch_decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    d->m = *model;
    d->threads = threads;
    d->max_positions = max_positions;
    const int C = model->hidden, F = model->ffn, QW = model->heads * model->head_dim;
    int widest = C > F ? C : F;
    if (QW > widest) widest = QW;
    d->layers = malloc(sizeof(finch_decode_layer) * (size_t)model->n_layers);
    d->x = malloc(sizeof(float) * (size_t)C);
    d->q = malloc(sizeof(float) * (size_t)QW);
    d->att = malloc(sizeof(float) * (size_t)QW);
    d->tmp = malloc(sizeof(float) * (size_t)C);
    d->gate = malloc(sizeof(float) * (size_t)F);
    d->up = malloc(sizeof(float) * (size_t)F);
    d->h = malloc(sizeof(float) * (size_t)F);
    d->s = calloc((size_t)threads, sizeof(scratch));
    d->workers = calloc((size_t)threads, sizeof(pthread_t));
    d->args = calloc((size_t)threads, sizeof(worker_arg));
    d->next = calloc((size_t)(5 * model->n_layers + 1), sizeof(atomic_int));
    d->done = calloc((size_t)(5 * model->n_layers + 1), sizeof(atomic_int));
    d->max_runs = (max_positions + KEYS - 1) / KEYS;
    d->run_out = malloc(sizeof(float) * (size_t)d->max_runs * (size_t)QW);
    d->run_ml = malloc(sizeof(float) * 2 * (size_t)d->max_runs * (size_t)model->heads);
    d->runs_done = calloc((size_t)(model->n_layers * model->kv_heads), sizeof(atomic_int));
    int ok = d->run_out && d->run_ml && d->runs_done && d->next && d->done && d->layers && d->x && d->q && d->att && d->tmp && d->gate && d->up && d->h && d->s && d->workers && d->args;
    for (int t = 0; ok && t < threads; t++) {
        d->s[t].xn = malloc(sizeof(float) * (size_t)widest);
        d->s[t].xsum = malloc(sizeof(float) * (size_t)(widest / 32));
        d->s[t].xq = malloc(sizeof(finch_q8x_block) * (size_t)(widest / 32));
        d->s[t].xw = malloc(sizeof(finch_q16x_block) * (size_t)(widest / 32));
        d->s[t].scores = malloc(sizeof(float) * (size_t)max_positions);
        d->s[t].xa = malloc(sizeof(float) * (size_t)lora_width);
        ok = d->s[t].xn && d->s[t].xsum && d->s[t].xq && d->s[t].xw && d->s[t].scores && d->s[t].xa;
    }
    if (!ok) { finch_decoder_destroy(d); return NULL; }
    memcpy(d->layers, model->layers, sizeof(finch_decode_layer) * (size_t)model->n_layers);
    d->m.layers = d->layers;
    for (int t = 1; t < threads; t++) {
        d->args[t] = (worker_arg){d, t};
        if (pthread_create(&d->workers[d->started], NULL, worker_main, &d->args[t]) != 0) { finch_decoder_destroy(d); return NULL; }
        d->started++;
    }
    atomic_store(&d->workers_done, d->started);  // "through the previous token": the first step need not wait
    return d;
}

void finch_decoder_set_cache(finch_decoder *d, int layer, float *k_cache, float *v_cache) {
    if (!d || layer < 0 || layer >= d->m.n_layers) return;
    d->layers[layer].k_cache = k_cache;
    d->layers[layer].v_cache = v_cache;
}

void finch_decoder_step(finch_decoder *d, const float *x, int pos, int mode, float *logits) {
    if (!d || pos < 0 || pos >= d->max_positions || pos >= d->m.rope_positions) return;
    // A worker still finishing the previous token (it found every phase done) must leave before the reset,
    // and before the job changes: it reads pos (the attention phase's unit count depends on it) and x.
    for (int spins = 0; atomic_load_explicit(&d->workers_done, memory_order_acquire) < d->started; spins++) {
        if (spins < BARRIER_SPINS) CPU_RELAX(); else sched_yield();
    }
    memcpy(d->x, x, sizeof(float) * (size_t)d->m.hidden);
    d->pos = pos;
    d->mode = mode;
    d->logits = logits;
    d->isa = finch_isa_active();
    atomic_store_explicit(&d->workers_done, 0, memory_order_relaxed);
    for (int i = 0; i < 5 * d->m.n_layers + 1; i++) {
        atomic_store_explicit(&d->next[i], 0, memory_order_relaxed);
        atomic_store_explicit(&d->done[i], 0, memory_order_relaxed);
    }
    for (int i = 0; i < d->m.n_layers * d->m.kv_heads; i++) atomic_store_explicit(&d->runs_done[i], 0, memory_order_relaxed);
    if (d->threads > 1) {
        pthread_mutex_lock(&d->mu);
        atomic_fetch_add_explicit(&d->job_gen, 1, memory_order_acq_rel);
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
    }
    run(d, 0);
}
