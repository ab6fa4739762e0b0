// AVX2/FMA matrix-vector product of F16, BF16 or F32 weights in the file's row layout (see include/LlamaKernelsC.h).
// Decode streams every weight once, so the product is bound by memory: each 8 values widen to 8 floats in one
// instruction (vcvtph2ps; a zero-extend and shift for bf16; a plain load for f32) and meet the Float32 activations in
// a fused multiply-add. Rows are taken one after another, so the weights are read as one contiguous stream, which the
// hardware prefetcher follows best, with a software prefetch 2 KB ahead in it; the activations stay in L1. (Four rows
// side by side, four streams, gave SmolLM2-135M in F16 40-41 decode tok/s on one thread; this gives 73-76.) Each
// row's sum is formed in one order whatever the range.
#include "LlamaKernelsC.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LLAMA_AVX2 __attribute__((target("avx2,fma,f16c")))
#define LLAMA_INLINE __attribute__((always_inline)) static inline

// How far ahead in the weight stream to prefetch (bytes).
#define HALF_PREFETCH_BYTES 2048

// Formats: 0 f16, 1 bf16, 2 f32 (bytes per value: 2, 2, 4).
LLAMA_AVX2 LLAMA_INLINE __m256 widen(const unsigned char *p, const int format) {
    if (format == 2) return _mm256_loadu_ps((const float *)p);
    const __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (format == 1) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

LLAMA_AVX2 LLAMA_INLINE float hsum(__m256 v) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

LLAMA_AVX2 LLAMA_INLINE float row_dot(const unsigned char *w, size_t columns, const float *x, const int format) {
    const size_t size = format == 2 ? 4 : 2;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    size_t k = 0;
    for (; k + 32 <= columns; k += 32) {
        const unsigned char *p = w + size * k;
        _mm_prefetch((const char *)p + HALF_PREFETCH_BYTES, _MM_HINT_T0);
        if (size == 4) _mm_prefetch((const char *)p + HALF_PREFETCH_BYTES + 64, _MM_HINT_T0);
        a0 = _mm256_fmadd_ps(widen(p, format), _mm256_loadu_ps(x + k), a0);
        a1 = _mm256_fmadd_ps(widen(p + 8 * size, format), _mm256_loadu_ps(x + k + 8), a1);
        a2 = _mm256_fmadd_ps(widen(p + 16 * size, format), _mm256_loadu_ps(x + k + 16), a2);
        a3 = _mm256_fmadd_ps(widen(p + 24 * size, format), _mm256_loadu_ps(x + k + 24), a3);
    }
    for (; k < columns; k += 8) {   // columns are a multiple of 8
        a0 = _mm256_fmadd_ps(widen(w + size * k, format), _mm256_loadu_ps(x + k), a0);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

LLAMA_AVX2
void llama_c_half_rows_matvec(const void *weights, size_t row_bytes, size_t columns, const float *x, float *y,
                              size_t first_row, size_t end_row, int format) {
    const unsigned char *w = (const unsigned char *)weights;
    for (size_t r = first_row; r < end_row; r++) {
        switch (format) {
        case 1: y[r] = row_dot(w + r * row_bytes, columns, x, 1); break;
        case 2: y[r] = row_dot(w + r * row_bytes, columns, x, 2); break;
        default: y[r] = row_dot(w + r * row_bytes, columns, x, 0); break;
        }
    }
}

#else

void llama_c_half_rows_matvec(const void *weights, size_t row_bytes, size_t columns, const float *x, float *y,
                              size_t first_row, size_t end_row, int format) {
    (void)weights; (void)row_bytes; (void)columns; (void)x; (void)y; (void)first_row; (void)end_row; (void)format;
}

#endif
