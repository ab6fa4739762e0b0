#ifndef MODELHOST_CPU_FEATURES_H
#define MODELHOST_CPU_FEATURES_H
#include <stdint.h>

/* Bits returned by mh_cpu_features(). A bit is set only if the CPU reports the feature AND the operating system has
 * enabled the register state it needs (XCR0 via XGETBV), so an AVX2 plugin is never run where AVX2 would fault. */
enum {
    MHCPU_SSE42      = 1u << 0,
    MHCPU_POPCNT     = 1u << 1,
    MHCPU_AVX        = 1u << 2,
    MHCPU_AVX2       = 1u << 3,
    MHCPU_FMA        = 1u << 4,
    MHCPU_F16C       = 1u << 5,
    MHCPU_BMI2       = 1u << 6,
    MHCPU_AVX512F    = 1u << 7,
    MHCPU_AVX512BW   = 1u << 8,
    MHCPU_AVX512VL   = 1u << 9,
    MHCPU_AVX512VNNI = 1u << 10,
    MHCPU_AVXVNNI    = 1u << 11,
    MHCPU_MOVBE      = 1u << 12,
    MHCPU_LZCNT      = 1u << 13,
    MHCPU_NEON       = 1u << 16,
};

/* Detects once; safe to call from any thread. */
uint64_t mh_cpu_features(void);

#endif
