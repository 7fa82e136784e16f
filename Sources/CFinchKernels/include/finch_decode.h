#ifndef FINCH_DECODE_H
#define FINCH_DECODE_H
#include <stddef.h>
#include <stdint.h>
// One-token decode of a Llama-family decoder in one call (the generation loop's hot path).
//
// The Tensor path runs ~20 ops per layer, each allocating its output and dispatching its own parallel
// loop. Here a token is one job for a small pool of persistent threads and 5 phases per layer: every thread
// normalises and quantizes the activation vector itself (cheap, and it saves a synchronisation), claims
// chunks of rows of each mat-vec from a shared counter and waits only until the phase's chunks are done;
// the residual adds, rotary embedding, KV-cache writes and SwiGLU run in the mat-vecs' epilogues.
// Nothing is allocated per token.
//
// Three arithmetic modes:
//   FINCH_DECODE_INT8  activations quantized to 8-bit blocks (llama.cpp's method): integer dot products
//                      (AVX-512 VNNI vpdpbusd, AVX2 maddubs) against the weight blocks.
//   FINCH_DECODE_EXACT f32 activations against blocks decoded in registers (= dequantize-then-f32 up to
//                      summation order, what transformers computes).
//   FINCH_DECODE_INT16 activations quantized to 16-bit blocks (finch_matvec_q16.h): integer dot products
//                      (pmaddwd) at about int8's speed, within ~1e-4 of EXACT per mat-vec.
// Attention, norms, rotary and SwiGLU are f32 in both. Kernels follow finch_isa_active().

enum { FINCH_DECODE_INT8 = 0, FINCH_DECODE_EXACT = 1, FINCH_DECODE_INT16 = 2 };

/// A weight matrix (rows × cols, row-major GGUF blocks) and its ggml type id (2 q4_0, 3 q4_1, 8 q8_0,
/// 12 q4_K, 14 q6_K; the exact and int16 modes take q4_0, q4_1, q8_0 only).
typedef struct {
    const void *data;
    int ggml_type;
} finch_decode_matrix;

/// A LoRA adapter on one projection: y += scale · B·(A·x̂), A (rank × in) and B (out × rank) row-major f32
/// (dropout off, as at inference). rank 0: none. The branch is f32 in every mode.
typedef struct {
    const float *a, *b;
    int rank;
    float scale;
} finch_decode_lora;

/// The projections in the order of `finch_decode_layer.lora`.
enum { FINCH_LORA_Q, FINCH_LORA_K, FINCH_LORA_V, FINCH_LORA_O, FINCH_LORA_GATE, FINCH_LORA_UP, FINCH_LORA_DOWN, FINCH_LORA_COUNT };

typedef struct {
    finch_decode_matrix q, k, v, o, gate, up, down;
    const float *attn_norm, *ffn_norm;      // (hidden)
    const float *q_bias, *k_bias, *v_bias;  // NULL when absent
    float *k_cache, *v_cache;               // (capacity, kv_heads · head_dim), rows 0..<pos filled
    finch_decode_lora lora[7];              // FINCH_LORA_Q … FINCH_LORA_DOWN; rank 0 when absent
} finch_decode_layer;

typedef struct {
    int n_layers, hidden, ffn, heads, kv_heads, head_dim, vocab;
    float eps;
    const float *rope_cos, *rope_sin;       // (rope_positions, head_dim / 2)
    int rope_positions;
    const float *final_norm;
    finch_decode_matrix lm_head;            // (vocab, hidden)
    const finch_decode_layer *layers;       // n_layers; cache pointers may change between steps
} finch_decode_model;

typedef struct finch_decoder finch_decoder;

/// 1 when `ggml_type` has a kernel for `mode`.
int finch_decode_supports(int ggml_type, int mode);
/// A decoder with `threads` threads (the caller's plus threads − 1 workers), scratch for contexts up to
/// `max_positions`. Copies the layer table, not what it points to: weights and adapters are read at every step,
/// so they must outlive the decoder. NULL when memory or threads are unavailable.
finch_decoder *finch_decoder_create(const finch_decode_model *model, int threads, int max_positions);
void finch_decoder_destroy(finch_decoder *d);
/// Points layer `i` at new KV-cache buffers (a new generation's cache).
void finch_decoder_set_cache(finch_decoder *d, int layer, float *k_cache, float *v_cache);
/// Runs one token: `x` (hidden floats, the token's embedding) at position `pos` (< max_positions and
/// < rope_positions; cache rows 0..<pos hold the earlier tokens, row pos is written), logits (vocab) out.
void finch_decoder_step(finch_decoder *d, const float *x, int pos, int mode, float *logits);
#endif
