// AVX2/FMA matrix-vector product of F16, BF16 or F32 weights in the file's row layout (see include/LlamaKernelsC.h).
// Decode streams every weight once, so the product is bound by memory: each 8 halves widen to 8 floats in one
// instruction (vcvtph2ps; a zero-extend and shift for bf16) and meet the Float32 activations in a fused multiply-add.
// Four rows at a time share each activation load; every row's sum is formed in the same order whatever the rows
// around it (the same two accumulators over the same column steps), so a row's result does not depend on the range.
#include "LlamaKernelsC.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LLAMA_AVX2 __attribute__((target("avx2,fma,f16c")))
#define LLAMA_INLINE __attribute__((always_inline)) static inline

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

// R rows (1 or 4, a constant after inlining) starting at `w`.
LLAMA_AVX2 LLAMA_INLINE void rows_dot(const unsigned char *w, size_t row_bytes, size_t columns, const float *x,
                                      float *y, const int R, const int format) {
    const size_t size = format == 2 ? 4 : 2;
    __m256 a[4][2];
    for (int r = 0; r < R; r++) { a[r][0] = _mm256_setzero_ps(); a[r][1] = _mm256_setzero_ps(); }
    size_t k = 0;
    for (; k + 16 <= columns; k += 16) {
        const __m256 x0 = _mm256_loadu_ps(x + k), x1 = _mm256_loadu_ps(x + k + 8);
        for (int r = 0; r < R; r++) {
            const unsigned char *p = w + (size_t)r * row_bytes + size * k;
            // The same bytes of the rows R on, which the next call of this function reads: far enough ahead to
            // cover memory latency (a few KB), where a fixed short distance left the loads waiting.
            if (size == 4 || (k & 16) == 0) _mm_prefetch((const char *)p + R * row_bytes, _MM_HINT_T0);
            if (size == 4) _mm_prefetch((const char *)p + R * row_bytes + 32, _MM_HINT_T0);
            a[r][0] = _mm256_fmadd_ps(widen(p, format), x0, a[r][0]);
            a[r][1] = _mm256_fmadd_ps(widen(p + 8 * size, format), x1, a[r][1]);
        }
    }
    if (k < columns) {   // a last 8 (columns are a multiple of 8)
        const __m256 x0 = _mm256_loadu_ps(x + k);
        for (int r = 0; r < R; r++) {
            a[r][0] = _mm256_fmadd_ps(widen(w + (size_t)r * row_bytes + size * k, format), x0, a[r][0]);
        }
    }
    for (int r = 0; r < R; r++) y[r] = hsum(_mm256_add_ps(a[r][0], a[r][1]));
}

LLAMA_AVX2
void llama_c_half_rows_matvec(const void *weights, size_t row_bytes, size_t columns, const float *x, float *y,
                              size_t first_row, size_t end_row, int format) {
    const unsigned char *w = (const unsigned char *)weights;
    size_t r = first_row;
    for (; r + 4 <= end_row; r += 4) {
        switch (format) {
        case 1: rows_dot(w + r * row_bytes, row_bytes, columns, x, y + r, 4, 1); break;
        case 2: rows_dot(w + r * row_bytes, row_bytes, columns, x, y + r, 4, 2); break;
        default: rows_dot(w + r * row_bytes, row_bytes, columns, x, y + r, 4, 0); break;
        }
    }
    for (; r < end_row; r++) {
        switch (format) {
        case 1: rows_dot(w + r * row_bytes, row_bytes, columns, x, y + r, 1, 1); break;
        case 2: rows_dot(w + r * row_bytes, row_bytes, columns, x, y + r, 1, 2); break;
        default: rows_dot(w + r * row_bytes, row_bytes, columns, x, y + r, 1, 0); break;
        }
    }
}

#else

void llama_c_half_rows_matvec(const void *weights, size_t row_bytes, size_t columns, const float *x, float *y,
                              size_t first_row, size_t end_row, int format) {
    (void)weights; (void)row_bytes; (void)columns; (void)x; (void)y; (void)first_row; (void)end_row; (void)format;
}

#endif
