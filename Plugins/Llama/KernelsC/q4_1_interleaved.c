// AVX2/FMA kernels for the interleaved-8 Q4_1 and Q4_K matrix-vector products (see include/LlamaKernelsC.h).
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

#include "interleaved_blocks.h"

// Columns 4c + t and 4c + t + 16 (t = 0..3) of 8 rows from one chunk of 8 words. The nibble at bit s is masked in
// place (value q·2^s, converted exactly) and multiplied by x·2^-s from `xs`, which gives the same product q·x
// without a shift per nibble. The top nibble is shifted down instead, since q·2^28 would not fit an int32.
#define TERM(v, mask_shift, col, acc) \
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v, _mm256_set1_epi32(0x0F << (mask_shift)))), \
                          _mm256_broadcast_ss(xs + (col)), acc)
#define CHUNK(c, acc_lo, acc_hi)                                                                           \
    do {                                                                                                   \
        const __m256i v = _mm256_loadu_si256((const __m256i *)(nib + 32 * (c)));                          \
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

LLAMA_AVX2 LLAMA_INLINE void matvec(const void *weights, size_t group_bytes, size_t blocks, const float *x,
                                    const float *sums, float *y, size_t first_group, size_t end_group, const int k) {
    const float *scaled = sums + blocks;
    for (size_t g = first_group; g < end_group; g++) {
        const unsigned char *base = (const unsigned char *)weights + g * group_bytes;
        __m256 total = _mm256_setzero_ps(), minimum = _mm256_setzero_ps();
        for (size_t b = 0; b < blocks; b++) {
            __m256 d, m;
            const unsigned char *nib = block_of(base, b, k, &d, &m);
            const float *xb = x + 32 * b, *xs = scaled + 32 * b;
            // Groups are contiguous, so the stream continues past this group; prefetches never fault.
            _mm_prefetch((const char *)nib + LLAMA_PREFETCH_BYTES, _MM_HINT_T0);
            _mm_prefetch((const char *)nib + LLAMA_PREFETCH_BYTES + 64, _MM_HINT_T0);
            _mm_prefetch((const char *)nib + LLAMA_PREFETCH_BYTES + 128, _MM_HINT_T0);
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
            CHUNK(0, a0, a1);
            CHUNK(1, a2, a3);
            CHUNK(2, a0, a1);
            CHUNK(3, a2, a3);
            total = _mm256_fmadd_ps(d, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), total);
            minimum = _mm256_fmadd_ps(m, _mm256_broadcast_ss(sums + b), minimum);
        }
        _mm256_storeu_ps(y + 8 * g, _mm256_add_ps(total, minimum));
    }
}

LLAMA_AVX2
void llama_c_q4_1_interleaved_matvec(const void *weights, size_t group_bytes, size_t blocks, const float *x,
                                     const float *sums, float *y, size_t first_group, size_t end_group) {
    matvec(weights, group_bytes, blocks, x, sums, y, first_group, end_group, 0);
}

LLAMA_AVX2
void llama_c_q4_k_interleaved_matvec(const void *weights, size_t group_bytes, size_t blocks, const float *x,
                                     const float *sums, float *y, size_t first_group, size_t end_group) {
    matvec(weights, group_bytes, blocks, x, sums, y, first_group, end_group, 1);
}

// The same product for two activation vectors at once: each weight chunk is loaded once and used for both, so a
// batched decode step of two sequences reads the weights once instead of twice. Each vector's accumulators see
// exactly the operations, in the same order, as in the one-vector kernel, so every output is bitwise identical to
// it (a sequence's tokens do not depend on what it is batched with).
#define TERM2(v, mask_shift, col, acc, xs_) \
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v, _mm256_set1_epi32(0x0F << (mask_shift)))), \
                          _mm256_broadcast_ss((xs_) + (col)), acc)
#define HALF_CHUNK(v, c, acc_lo, acc_hi, xs_, xb_)                                                         \
    do {                                                                                                   \
        TERM2(v, 0, 4 * (c), acc_lo, xs_);                                                                 \
        TERM2(v, 4, 4 * (c) + 16, acc_hi, xs_);                                                            \
        TERM2(v, 8, 4 * (c) + 1, acc_lo, xs_);                                                             \
        TERM2(v, 12, 4 * (c) + 17, acc_hi, xs_);                                                           \
        TERM2(v, 16, 4 * (c) + 2, acc_lo, xs_);                                                            \
        TERM2(v, 20, 4 * (c) + 18, acc_hi, xs_);                                                           \
        TERM2(v, 24, 4 * (c) + 3, acc_lo, xs_);                                                            \
        acc_hi = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(v, 28)),                             \
                                 _mm256_broadcast_ss((xb_) + 4 * (c) + 19), acc_hi);                        \
    } while (0)
#define CHUNK2(c, p0, p1, p2, p3)                                                                          \
    do {                                                                                                   \
        const __m256i v = _mm256_loadu_si256((const __m256i *)(nib + 32 * (c)));                          \
        HALF_CHUNK(v, c, p0, p1, xs0, xb0);                                                                \
        HALF_CHUNK(v, c, p2, p3, xs1, xb1);                                                                \
    } while (0)

LLAMA_AVX2 LLAMA_INLINE void matvec2(const void *weights, size_t group_bytes, size_t blocks, const float *x0,
                                     const float *sums0, float *y0, const float *x1, const float *sums1, float *y1,
                                     size_t first_group, size_t end_group, const int k) {
    const float *scaled0 = sums0 + blocks, *scaled1 = sums1 + blocks;
    for (size_t g = first_group; g < end_group; g++) {
        const unsigned char *base = (const unsigned char *)weights + g * group_bytes;
        __m256 total0 = _mm256_setzero_ps(), minimum0 = _mm256_setzero_ps();
        __m256 total1 = _mm256_setzero_ps(), minimum1 = _mm256_setzero_ps();
        for (size_t b = 0; b < blocks; b++) {
            __m256 d, m;
            const unsigned char *nib = block_of(base, b, k, &d, &m);
            const float *xb0 = x0 + 32 * b, *xs0 = scaled0 + 32 * b;
            const float *xb1 = x1 + 32 * b, *xs1 = scaled1 + 32 * b;
            _mm_prefetch((const char *)nib + LLAMA_PREFETCH_BYTES, _MM_HINT_T0);
            _mm_prefetch((const char *)nib + LLAMA_PREFETCH_BYTES + 64, _MM_HINT_T0);
            _mm_prefetch((const char *)nib + LLAMA_PREFETCH_BYTES + 128, _MM_HINT_T0);
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
            __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps(), c2 = _mm256_setzero_ps(), c3 = _mm256_setzero_ps();
            CHUNK2(0, a0, a1, c0, c1);
            CHUNK2(1, a2, a3, c2, c3);
            CHUNK2(2, a0, a1, c0, c1);
            CHUNK2(3, a2, a3, c2, c3);
            total0 = _mm256_fmadd_ps(d, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), total0);
            minimum0 = _mm256_fmadd_ps(m, _mm256_broadcast_ss(sums0 + b), minimum0);
            total1 = _mm256_fmadd_ps(d, _mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)), total1);
            minimum1 = _mm256_fmadd_ps(m, _mm256_broadcast_ss(sums1 + b), minimum1);
        }
        _mm256_storeu_ps(y0 + 8 * g, _mm256_add_ps(total0, minimum0));
        _mm256_storeu_ps(y1 + 8 * g, _mm256_add_ps(total1, minimum1));
    }
}

LLAMA_AVX2
void llama_c_q4_1_interleaved_matvec2(const void *weights, size_t group_bytes, size_t blocks, const float *x0,
                                      const float *sums0, float *y0, const float *x1, const float *sums1, float *y1,
                                      size_t first_group, size_t end_group) {
    matvec2(weights, group_bytes, blocks, x0, sums0, y0, x1, sums1, y1, first_group, end_group, 0);
}

LLAMA_AVX2
void llama_c_q4_k_interleaved_matvec2(const void *weights, size_t group_bytes, size_t blocks, const float *x0,
                                      const float *sums0, float *y0, const float *x1, const float *sums1, float *y1,
                                      size_t first_group, size_t end_group) {
    matvec2(weights, group_bytes, blocks, x0, sums0, y0, x1, sums1, y1, first_group, end_group, 1);
}

#else

int llama_c_has_avx2(void) { return 0; }

void llama_c_q4_1_interleaved_matvec(const void *weights, size_t group_bytes, size_t blocks, const float *x,
                                     const float *sums, float *y, size_t first_group, size_t end_group) {
    (void)weights; (void)group_bytes; (void)blocks; (void)x; (void)sums; (void)y; (void)first_group; (void)end_group;
}

void llama_c_q4_1_interleaved_matvec2(const void *weights, size_t group_bytes, size_t blocks, const float *x0,
                                      const float *sums0, float *y0, const float *x1, const float *sums1, float *y1,
                                      size_t first_group, size_t end_group) {
    (void)weights; (void)group_bytes; (void)blocks; (void)x0; (void)sums0; (void)y0; (void)x1; (void)sums1; (void)y1;
    (void)first_group; (void)end_group;
}

void llama_c_q4_k_interleaved_matvec(const void *weights, size_t group_bytes, size_t blocks, const float *x,
                                     const float *sums, float *y, size_t first_group, size_t end_group) {
    llama_c_q4_1_interleaved_matvec(weights, group_bytes, blocks, x, sums, y, first_group, end_group);
}

void llama_c_q4_k_interleaved_matvec2(const void *weights, size_t group_bytes, size_t blocks, const float *x0,
                                      const float *sums0, float *y0, const float *x1, const float *sums1, float *y1,
                                      size_t first_group, size_t end_group) {
    llama_c_q4_1_interleaved_matvec2(weights, group_bytes, blocks, x0, sums0, y0, x1, sums1, y1, first_group,
                                     end_group);
}

#endif
