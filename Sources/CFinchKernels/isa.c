// The ISA table (see finch_isa.h): probed once, overridable by FINCH_ISA or finch_isa_set.
#include "finch_isa.h"
#include <stdlib.h>
#include <string.h>

static int probe(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return FINCH_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return FINCH_ISA_AVX2;
#endif
    return FINCH_ISA_SCALAR;
}

static int supported = -1, active = -1;
// A per-thread override (tests; the decoder's workers copy the level of the thread that started the token).
static _Thread_local int thread_level = -1;

int finch_isa_supported(void) {
    if (supported < 0) supported = probe();
    return supported;
}

int finch_isa_active(void) {
    if (thread_level >= 0) return thread_level;
    return finch_isa_process();
}

int finch_isa_process(void) {
    if (active < 0) {
        int level = finch_isa_supported();
        const char *env = getenv("FINCH_ISA");
        if (env && strcmp(env, "scalar") == 0) level = FINCH_ISA_SCALAR;
        else if (env && strcmp(env, "avx2") == 0 && level > FINCH_ISA_AVX2) level = FINCH_ISA_AVX2;
        active = level;
    }
    return active;
}

int finch_isa_set(int level) {
    int best = finch_isa_supported();
    active = level < FINCH_ISA_SCALAR ? FINCH_ISA_SCALAR : (level > best ? best : level);
    return active;
}

int finch_isa_set_thread(int level) {
    if (level < 0) { thread_level = -1; return finch_isa_active(); }
    int best = finch_isa_supported();
    thread_level = level > best ? best : level;
    return thread_level;
}

int finch_isa_has_vnni(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512vnni") ? 1 : 0;
    }
    return cached;
#else
    return 0;
#endif
}

const char *finch_isa_name(int level) {
    return level >= FINCH_ISA_AVX512 ? "avx512" : (level == FINCH_ISA_AVX2 ? "avx2" : "scalar");
}
