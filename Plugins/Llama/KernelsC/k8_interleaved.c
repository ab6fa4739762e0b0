// AVX2/FMA matrix-vector products of interleaved-8 Q6_K and Q5_K matrices, widened at load to one byte per weight
// (see interleaved_blocks.h and Interleaved8.swift). Each column's byte of 8 rows converts to 8 floats and is
// multiplied by that column's activation (no 8-bit activations: everything stays Float32); per sub-block the sum is
// scaled by d·scale, and Q5_K adds (−dmin·min)·Σx with Σx per 32 columns from the prepared input.
//
// Why widen: the file packs 6 (5) bits per weight over two (three) planes; unpacking them per product costs more
// instructions than the multiply-adds, while a byte per weight converts in one. It costs memory traffic (34.25 and
// 34.5 bytes per 32 weights against the file's 26.25 and 22).
#include "LlamaKernelsC.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LLAMA_AVX2 __attribute__((target("avx2,fma,f16c")))
#include "interleaved_blocks.h"

// How far ahead of the current column to prefetch (bytes): about a super-block's worth of one group.
#define K8_PREFETCH_BYTES 1536

// One or two activation vectors (V = 1 or 2, a constant after inlining) against groups [first, end). Every vector's
// accumulators see the same operations in the same order whatever V, so a row's result does not depend on whether
// it was computed alone or beside another.
LLAMA_AVX2 LLAMA_INLINE void k8_matvec(const void *weights, size_t group_bytes, size_t supers, const float *const *x,
                                       const float *const *sums, float *const *y, size_t first, size_t end,
                                       const int V, const int q5) {
    for (size_t g = first; g < end; g++) {
        const unsigned char *base = (const unsigned char *)weights + g * group_bytes;
        __m256 total[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
        __m256 minimum[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
        for (size_t s = 0; s < supers; s++) {
            const unsigned char *super = base + s * (q5 ? LLAMA_Q5K_GROUP_BYTES : LLAMA_Q6K_GROUP_BYTES);
            const unsigned char *q = super + (q5 ? 160 : 144);
            const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)super));
            const __m256 dmin = q5 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(super + 16))) : d;
            const int subs = q5 ? 8 : 16, width = q5 ? 32 : 16;
            for (int j = 0; j < subs; j++) {
                const __m256 scale = _mm256_mul_ps(d, q5 ? u8x8(super + 32 + 8 * j) : i8x8(super + 16 + 8 * j));
                __m256 a[2][2];
                for (int v = 0; v < V; v++) { a[v][0] = _mm256_setzero_ps(); a[v][1] = _mm256_setzero_ps(); }
                for (int i = 0; i < width; i += 8) {
                    _mm_prefetch((const char *)q + K8_PREFETCH_BYTES, _MM_HINT_T0);
                    for (int c = 0; c < 8; c += 2) {
                        const __m256 w0 = q5 ? u8x8(q + 8 * c) : i8x8(q + 8 * c);
                        const __m256 w1 = q5 ? u8x8(q + 8 * (c + 1)) : i8x8(q + 8 * (c + 1));
                        const size_t col = 256 * s + (size_t)(width * j + i + c);
                        for (int v = 0; v < V; v++) {
                            a[v][0] = _mm256_fmadd_ps(w0, _mm256_broadcast_ss(x[v] + col), a[v][0]);
                            a[v][1] = _mm256_fmadd_ps(w1, _mm256_broadcast_ss(x[v] + col + 1), a[v][1]);
                        }
                    }
                    q += 64;   // the 8 columns' chunks
                }
                for (int v = 0; v < V; v++) {
                    total[v] = _mm256_fmadd_ps(scale, _mm256_add_ps(a[v][0], a[v][1]), total[v]);
                }
                if (q5) {
                    const __m256 m = _mm256_mul_ps(dmin, u8x8(super + 96 + 8 * j));
                    for (int v = 0; v < V; v++) {
                        minimum[v] = _mm256_fmadd_ps(m, _mm256_broadcast_ss(sums[v] + 8 * s + (size_t)j), minimum[v]);
                    }
                }
            }
        }
        for (int v = 0; v < V; v++) {
            _mm256_storeu_ps(y[v] + 8 * g, q5 ? _mm256_add_ps(total[v], minimum[v]) : total[v]);
        }
    }
}

#define K8_ENTRY(name, Q5)                                                                                  \
    LLAMA_AVX2 void llama_c_##name##_interleaved_matvec(const void *weights, size_t group_bytes, size_t blocks,    \
                                                        const float *x, const float *sums, float *y,                \
                                                        size_t first_group, size_t end_group) {                     \
        const float *xs[1] = {x}, *ss[1] = {sums};                                                                 \
        float *ys[1] = {y};                                                                                        \
        k8_matvec(weights, group_bytes, blocks / 8, xs, ss, ys, first_group, end_group, 1, Q5);                    \
    }                                                                                                              \
    LLAMA_AVX2 void llama_c_##name##_interleaved_matvec2(const void *weights, size_t group_bytes, size_t blocks,   \
                                                         const float *x0, const float *sums0, float *y0,           \
                                                         const float *x1, const float *sums1, float *y1,           \
                                                         size_t first_group, size_t end_group) {                   \
        const float *xs[2] = {x0, x1}, *ss[2] = {sums0, sums1};                                                    \
        float *ys[2] = {y0, y1};                                                                                   \
        k8_matvec(weights, group_bytes, blocks / 8, xs, ss, ys, first_group, end_group, 2, Q5);                    \
    }

K8_ENTRY(q6_k, 0)
K8_ENTRY(q5_k, 1)

#else

#define K8_STUB(name)                                                                                               \
    void llama_c_##name##_interleaved_matvec(const void *weights, size_t group_bytes, size_t blocks, const float *x,  \
                                             const float *sums, float *y, size_t first_group, size_t end_group) {    \
        (void)weights; (void)group_bytes; (void)blocks; (void)x; (void)sums; (void)y; (void)first_group;            \
        (void)end_group;                                                                                           \
    }                                                                                                              \
    void llama_c_##name##_interleaved_matvec2(const void *weights, size_t group_bytes, size_t blocks,                \
                                              const float *x0, const float *sums0, float *y0, const float *x1,      \
                                              const float *sums1, float *y1, size_t first_group, size_t end_group) { \
        (void)weights; (void)group_bytes; (void)blocks; (void)x0; (void)sums0; (void)y0; (void)x1; (void)sums1;     \
        (void)y1; (void)first_group; (void)end_group;                                                              \
    }

K8_STUB(q6_k)
K8_STUB(q5_k)

#endif
