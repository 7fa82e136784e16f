#ifndef FINCH_ISA_H
#define FINCH_ISA_H
// The one ISA table: which instruction-set level the kernels use. Every kernel with vector variants
// asks finch_isa_active() (no kernel probes the CPU itself), so FINCH_ISA=avx512|avx2|scalar moves all
// of them at once, and tests can run each level this CPU executes against the scalar reference.
//   avx512: AVX-512 F, BW, VL (+ VNNI for the int8 dot products when the CPU has it)
//   avx2:   AVX2, FMA, F16C
//   scalar: the references, plain C
enum { FINCH_ISA_SCALAR = 0, FINCH_ISA_AVX2 = 1, FINCH_ISA_AVX512 = 2 };

/// The best level this CPU runs.
int finch_isa_supported(void);
/// The level in use: FINCH_ISA if set (capped at finch_isa_supported()), else the best supported.
int finch_isa_active(void);
/// The process-wide level (FINCH_ISA or finch_isa_set), whatever this thread's override: for choices made once
/// per process (CPUBackend.usePackedGemm), which must not depend on the thread that happens to make them.
int finch_isa_process(void);
/// Overrides the level (capped at finch_isa_supported()); returns the level now active. For tests and benchmarks.
int finch_isa_set(int level);
/// The same for the calling thread only (level < 0 clears it): what tests use, so that kernels on other
/// threads keep the process-wide level. Returns the level now active on this thread.
int finch_isa_set_thread(int level);
/// 1 when AVX-512 VNNI is present (used only at level avx512).
int finch_isa_has_vnni(void);
/// "avx512", "avx2" or "scalar".
const char *finch_isa_name(int level);
#endif
