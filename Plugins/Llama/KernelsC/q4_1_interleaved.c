// AVX2/FMA kernel for the interleaved-8 Q4_1 matrix-vector product (see include/LlamaKernelsC.h).
// All products and sums are Float32: each nibble is converted exactly and multiplied by the Float32 activation.
#include "LlamaKernelsC.h"

#if defined(__x86_64__)
#include <immintrin.h>

int llama_c_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

#define LLAMA_AVX2 __attribute__((target("avx2,fma,f16c")))

// How far ahead of the current block to prefetch (bytes): enough to cover memory latency at one block per ~1 ns.
#ifndef LLAMA_PREFETCH_BYTES
#define LLAMA_PREFETCH_BYTES 1280
#endif

// Columns 4c + t and 4c + t + 16 (t = 0..3) of 8 rows from one chunk of 8 words. The nibble at bit s is masked in
// place (value q·2^s, converted exactly) and multiplied by x·2^-s from `xs`, which gives the same product q·x
// without a shift per nibble. The top nibble is shifted down instead, since q·2^28 would not fit an int32.
#define TERM(v, mask_shift, col, acc) \
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v, _mm256_set1_epi32(0x0F << (mask_shift)))), \
                          _mm256_broadcast_ss(xs + (col)), acc)
#define CHUNK(c, acc_lo, acc_hi)                                                                           \
    do {                                                                                                   \
        const __m256i v = _mm256_loadu_si256((const __m256i *)(block + 32 + 32 * (c)));                   \
        TERM(v, 0, 4 * (c), acc_lo);                                                                       \
        TERM(v, 4, 4 * (c) + 16, acc_hi);                                                                  \
        TERM(v, 8, 4 * (c) + 1, acc_lo);                                                                   \
        TERM(v, 12, 4 * (c) + 17, acc_hi);                                                                 \
        TERM(v, 16, 4 * (c) + 2, acc_lo);                                                                  \
        TERM(v, 20, 4 * (c) + 18, acc_hi);                                                                 \
        TERM(v, 24, 4 * (c) + 3, acc_lo);                                                                  \
        acc_hi = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(v, 28)),                             \
                                 _mm256_broadcast_ss(xb + 4 * (c) + 19), acc_hi);                           \
    } while (0)

LLAMA_AVX2
void llama_c_q4_1_interleaved_matvec(const void *weights, size_t group_bytes, size_t blocks, const float *x,
                                     const float *sums, float *y, size_t first_group, size_t end_group) {
    const float *scaled = sums + blocks;
    for (size_t g = first_group; g < end_group; g++) {
        const unsigned char *base = (const unsigned char *)weights + g * group_bytes;
        __m256 total = _mm256_setzero_ps(), minimum = _mm256_setzero_ps();
        for (size_t b = 0; b < blocks; b++) {
            const unsigned char *block = base + b * 160;
            const float *xb = x + 32 * b, *xs = scaled + 32 * b;
            // Groups are contiguous, so the stream continues past this group; prefetches never fault.
            _mm_prefetch((const char *)block + LLAMA_PREFETCH_BYTES, _MM_HINT_T0);
            _mm_prefetch((const char *)block + LLAMA_PREFETCH_BYTES + 64, _MM_HINT_T0);
            _mm_prefetch((const char *)block + LLAMA_PREFETCH_BYTES + 128, _MM_HINT_T0);
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
            CHUNK(0, a0, a1);
            CHUNK(1, a2, a3);
            CHUNK(2, a0, a1);
            CHUNK(3, a2, a3);
            const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)block));
            const __m256 m = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(block + 16)));
            total = _mm256_fmadd_ps(d, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), total);
            minimum = _mm256_fmadd_ps(m, _mm256_broadcast_ss(sums + b), minimum);
        }
        _mm256_storeu_ps(y + 8 * g, _mm256_add_ps(total, minimum));
    }
}

#else

int llama_c_has_avx2(void) { return 0; }

void llama_c_q4_1_interleaved_matvec(const void *weights, size_t group_bytes, size_t blocks, const float *x,
                                     const float *sums, float *y, size_t first_group, size_t end_group) {
    (void)weights; (void)group_bytes; (void)blocks; (void)x; (void)sums; (void)y; (void)first_group; (void)end_group;
}

#endif
