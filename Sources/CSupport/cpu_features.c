/* CPU feature detection with CPUID and XGETBV, done in C because Swift has no inline assembly. A feature counts only
 * when the OS saves its register state (XCR0), which is what a VM booted with clearcpuid=xsave gets wrong otherwise. */
#include "cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static uint64_t detect(void) {
    unsigned int a, b, c, d;
    uint64_t f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int osxsave = (c >> 27) & 1;
    const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    const int os_avx = (xcr0 & 0x6) == 0x6;            /* XMM and YMM state */
    const int os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0; /* opmask, ZMM_Hi256, Hi16_ZMM */
    if ((c >> 20) & 1) f |= MHCPU_SSE42;
    if ((c >> 23) & 1) f |= MHCPU_POPCNT;
    if ((c >> 22) & 1) f |= MHCPU_MOVBE;
    if (os_avx && ((c >> 28) & 1)) f |= MHCPU_AVX;
    if (os_avx && ((c >> 12) & 1)) f |= MHCPU_FMA;
    if (os_avx && ((c >> 29) & 1)) f |= MHCPU_F16C;
    unsigned int max = __get_cpuid_max(0, 0);
    if (max >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        if (os_avx && ((b >> 5) & 1)) f |= MHCPU_AVX2;
        if ((b >> 8) & 1) f |= MHCPU_BMI2;
        if (os_avx512 && ((b >> 16) & 1)) f |= MHCPU_AVX512F;
        if (os_avx512 && ((b >> 30) & 1)) f |= MHCPU_AVX512BW;
        if (os_avx512 && ((b >> 31) & 1)) f |= MHCPU_AVX512VL;
        if (os_avx512 && ((c >> 11) & 1)) f |= MHCPU_AVX512VNNI;
        __cpuid_count(7, 1, a, b, c, d);
        if (os_avx && ((a >> 4) & 1)) f |= MHCPU_AVXVNNI;
    }
    if (__get_cpuid(0x80000001, &a, &b, &c, &d) && ((c >> 5) & 1)) f |= MHCPU_LZCNT;
    return f;
}
#elif defined(__aarch64__)
static uint64_t detect(void) { return MHCPU_NEON; }
#else
static uint64_t detect(void) { return 0; }
#endif

uint64_t mh_cpu_features(void) {
    static uint64_t cached = 0;
    static int done = 0;
    /* Benign race: every thread computes the same value. */
    if (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&cached, detect(), __ATOMIC_RELAXED);
        __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    }
    return __atomic_load_n(&cached, __ATOMIC_RELAXED);
}
