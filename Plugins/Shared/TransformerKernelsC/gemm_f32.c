// The packed Float32 product (include/TransformerKernelsC.h).
//
// Why C: the encoders' products at a few rows (a sentence of 10-30 tokens) spend much of their time waiting for
// weights: a 6-row pass over a 16-output panel takes about as long as fetching the panel from memory, and the
// hardware prefetcher does not run ahead of a pass that re-reads the same panel for each row block. Prefetching the
// next panel, spread over the current panel's passes, overlaps the two; Swift has no prefetch instruction.
//
// Batch invariance: every output is acc = fma(x[k], w[k], acc) for k = 0, 1, ... from acc = 0, then + bias, in every
// path, so a row's result depends on nothing but its own values.
#include "TransformerKernelsC.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdlib.h>

#define TK_AVX2 __attribute__((target("avx2,fma")))
#define TK_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define TK_INLINE __attribute__((always_inline)) static inline

enum { PANEL = 16, ROWS_AVX2 = 6, ROWS_AVX512 = 12 };

// Prefetching: the cache lines of the next panel, handed out a few per chunk of columns so that the outstanding
// misses stay few. Each pass over the current panel asks for its share of them.
struct ahead {
    const char *next;  // first byte of the next panel; NULL: none
    size_t lines;      // cache lines in it
    size_t line;       // next line to ask for
};

TK_INLINE void ahead_some(struct ahead *a, size_t count) {
    for (size_t i = 0; i < count && a->line < a->lines; i++, a->line++) _mm_prefetch(a->next + 64 * a->line, _MM_HINT_T1);
}

// How many columns pass between two requests, for this pass to ask for `share` lines over `inputs` columns.
TK_INLINE size_t ahead_every(size_t share, size_t inputs) {
    if (share == 0) return inputs;
    const size_t every = inputs / share;
    return every > 0 ? every : 1;
}

TK_AVX2 TK_INLINE void store_avx2(float *out, size_t lanes, __m256 lo, __m256 hi, const float *bias) {
    if (lanes == PANEL) {
        if (bias) {
            lo = _mm256_add_ps(lo, _mm256_loadu_ps(bias));
            hi = _mm256_add_ps(hi, _mm256_loadu_ps(bias + 8));
        }
        _mm256_storeu_ps(out, lo);
        _mm256_storeu_ps(out + 8, hi);
        return;
    }
    float tmp[PANEL];
    _mm256_storeu_ps(tmp, lo);
    _mm256_storeu_ps(tmp + 8, hi);
    for (size_t i = 0; i < lanes; i++) out[i] = bias ? tmp[i] + bias[i] : tmp[i];
}

// Rows r0 ..< r0 + N (N <= 6, a constant where it is inlined) against one panel: two 8-lane accumulators per row.
TK_AVX2 TK_INLINE void block_avx2(const float *x, size_t r0, const size_t N, size_t inputs, const float *panel,
                                  size_t outputs, size_t o0, const float *bias, float *y, struct ahead *a,
                                  size_t share) {
    const float *xr[ROWS_AVX2];
    __m256 lo[ROWS_AVX2], hi[ROWS_AVX2];
#pragma clang loop unroll(full)
    for (size_t i = 0; i < ROWS_AVX2; i++) {
        xr[i] = x + (r0 + i) * inputs;
        lo[i] = _mm256_setzero_ps();
        hi[i] = _mm256_setzero_ps();
    }
    const size_t every = ahead_every(share, inputs);
    const float *p = panel;
    size_t k = 0;
    while (k < inputs) {
        const size_t end = k + every < inputs ? k + every : inputs;
        for (; k < end; k++, p += PANEL) {
            const __m256 b0 = _mm256_loadu_ps(p), b1 = _mm256_loadu_ps(p + 8);
#pragma clang loop unroll(full)
            for (size_t i = 0; i < ROWS_AVX2; i++) {
                if (i < N) {
                    const __m256 v = _mm256_broadcast_ss(xr[i] + k);
                    lo[i] = _mm256_fmadd_ps(v, b0, lo[i]);
                    hi[i] = _mm256_fmadd_ps(v, b1, hi[i]);
                }
            }
        }
        ahead_some(a, 1);
    }
    const size_t lanes = outputs - o0 < PANEL ? outputs - o0 : PANEL;
    const float *b = bias ? bias + o0 : NULL;
    float *out = y + r0 * outputs + o0;
#pragma clang loop unroll(full)
    for (size_t i = 0; i < ROWS_AVX2; i++) {
        if (i < N) store_avx2(out + i * outputs, lanes, lo[i], hi[i], b);
    }
}

// The block for `count` rows with `count` a constant, so that only real rows are multiplied.
TK_AVX2 static void block_avx2_n(const float *x, size_t r0, size_t count, size_t inputs, const float *panel,
                                 size_t outputs, size_t o0, const float *bias, float *y, struct ahead *a, size_t share) {
    switch (count) {
    case 1: block_avx2(x, r0, 1, inputs, panel, outputs, o0, bias, y, a, share); break;
    case 2: block_avx2(x, r0, 2, inputs, panel, outputs, o0, bias, y, a, share); break;
    case 3: block_avx2(x, r0, 3, inputs, panel, outputs, o0, bias, y, a, share); break;
    case 4: block_avx2(x, r0, 4, inputs, panel, outputs, o0, bias, y, a, share); break;
    case 5: block_avx2(x, r0, 5, inputs, panel, outputs, o0, bias, y, a, share); break;
    default: block_avx2(x, r0, 6, inputs, panel, outputs, o0, bias, y, a, share); break;
    }
}

// One path's product over panels [first_panel, end_panel): rows in as few blocks as the path's registers allow, of
// nearly equal size (17 rows: 6 + 6 + 5 on AVX2, 9 + 8 on AVX-512), each block by `block_n` (a block function for a
// run-time row count). One pass streams a panel once, and the hardware prefetcher follows it; several passes
// re-read it from cache, which the prefetcher does not see as a stream: the next panel is fetched meanwhile.
#define TK_DEFINE_GEMM(name, attributes, block_n, max_rows)                                                       \
    attributes static void name(const float *x, size_t rows, size_t inputs, const float *panels, size_t outputs, \
                                const float *bias, float *y, size_t first_panel, size_t end_panel) {             \
        const size_t panel_floats = inputs * PANEL, passes = (rows + (max_rows) - 1) / (max_rows);               \
        for (size_t p = first_panel; p < end_panel; p++) {                                                       \
            const float *panel = panels + p * panel_floats;                                                      \
            const int fetch = passes > 1 && p + 1 < end_panel;                                                   \
            struct ahead a = {fetch ? (const char *)(panel + panel_floats) : NULL,                               \
                              fetch ? (panel_floats * sizeof(float) + 63) / 64 + 1 : 0, 0};                      \
            const size_t share = (a.lines + passes - 1) / passes;                                                \
            for (size_t block = 0; block < passes; block++) {                                                    \
                const size_t r0 = rows * block / passes, r1 = rows * (block + 1) / passes;                       \
                block_n(x, r0, r1 - r0, inputs, panel, outputs, p * PANEL, bias, y, &a, share);                  \
            }                                                                                                    \
            ahead_some(&a, a.lines);                                                                             \
        }                                                                                                        \
    }

TK_DEFINE_GEMM(gemm_avx2, TK_AVX2, block_avx2_n, ROWS_AVX2)

TK_AVX512 TK_INLINE void store_512(float *out, size_t lanes, __m512 c, const float *bias) {
    if (lanes == PANEL) {
        if (bias) c = _mm512_add_ps(c, _mm512_loadu_ps(bias));
        _mm512_storeu_ps(out, c);
        return;
    }
    const __mmask16 mask = (__mmask16)((1u << lanes) - 1);
    if (bias) c = _mm512_add_ps(c, _mm512_maskz_loadu_ps(mask, bias));
    _mm512_mask_storeu_ps(out, mask, c);
}

// Rows r0 ..< r0 + N (N <= 12, a constant where it is inlined) against one panel: one 16-lane accumulator per row.
TK_AVX512 TK_INLINE void block_512(const float *x, size_t r0, const size_t N, size_t inputs, const float *panel,
                                   size_t outputs, size_t o0, const float *bias, float *y, struct ahead *a,
                                   size_t share) {
    const float *xr[ROWS_AVX512];
    __m512 c[ROWS_AVX512];
#pragma clang loop unroll(full)
    for (size_t i = 0; i < ROWS_AVX512; i++) {
        xr[i] = x + (r0 + i) * inputs;
        c[i] = _mm512_setzero_ps();
    }
    const size_t every = ahead_every(share, inputs);
    const float *p = panel;
    size_t k = 0;
    while (k < inputs) {
        const size_t end = k + every < inputs ? k + every : inputs;
        for (; k < end; k++, p += PANEL) {
            const __m512 b = _mm512_loadu_ps(p);
#pragma clang loop unroll(full)
            for (size_t i = 0; i < ROWS_AVX512; i++) {
                if (i < N) c[i] = _mm512_fmadd_ps(_mm512_set1_ps(xr[i][k]), b, c[i]);
            }
        }
        ahead_some(a, 1);
    }
    const size_t lanes = outputs - o0 < PANEL ? outputs - o0 : PANEL;
    const float *b = bias ? bias + o0 : NULL;
    float *out = y + r0 * outputs + o0;
#pragma clang loop unroll(full)
    for (size_t i = 0; i < ROWS_AVX512; i++) {
        if (i < N) store_512(out + i * outputs, lanes, c[i], b);
    }
}

TK_AVX512 static void block_512_n(const float *x, size_t r0, size_t count, size_t inputs, const float *panel,
                                  size_t outputs, size_t o0, const float *bias, float *y, struct ahead *a,
                                  size_t share) {
    switch (count) {
    case 1: block_512(x, r0, 1, inputs, panel, outputs, o0, bias, y, a, share); break;
    case 2: block_512(x, r0, 2, inputs, panel, outputs, o0, bias, y, a, share); break;
    case 3: block_512(x, r0, 3, inputs, panel, outputs, o0, bias, y, a, share); break;
    case 4: block_512(x, r0, 4, inputs, panel, outputs, o0, bias, y, a, share); break;
    case 5: block_512(x, r0, 5, inputs, panel, outputs, o0, bias, y, a, share); break;
    case 6: block_512(x, r0, 6, inputs, panel, outputs, o0, bias, y, a, share); break;
    case 7: block_512(x, r0, 7, inputs, panel, outputs, o0, bias, y, a, share); break;
    case 8: block_512(x, r0, 8, inputs, panel, outputs, o0, bias, y, a, share); break;
    case 9: block_512(x, r0, 9, inputs, panel, outputs, o0, bias, y, a, share); break;
    case 10: block_512(x, r0, 10, inputs, panel, outputs, o0, bias, y, a, share); break;
    case 11: block_512(x, r0, 11, inputs, panel, outputs, o0, bias, y, a, share); break;
    default: block_512(x, r0, 12, inputs, panel, outputs, o0, bias, y, a, share); break;
    }
}

TK_DEFINE_GEMM(gemm_512, TK_AVX512, block_512_n, ROWS_AVX512)

// Whether AVX-512 is wanted by default: yes, unless the environment sets MODELHOST_NO_AVX512 to anything but "" or
// "0", so that a benchmark can measure the AVX2 path of a whole server on an AVX-512 host.
static int avx512_wanted(void) {
    const char *no = getenv("MODELHOST_NO_AVX512");
    return !(no && no[0] && !(no[0] == '0' && no[1] == 0));
}

static int avx512_enabled = -1;  // -1: not decided yet

int tk_use_avx512(int enable) {
    __builtin_cpu_init();
    const int available = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
                          __builtin_cpu_supports("fma");
    __atomic_store_n(&avx512_enabled, enable && available, __ATOMIC_RELAXED);
    return enable && available;
}

void tk_gemm_f32(const float *x, size_t rows, size_t inputs, const float *panels, size_t outputs, const float *bias,
                 float *y, size_t first_panel, size_t end_panel) {
    if (rows == 0 || first_panel >= end_panel) return;
    int enabled = __atomic_load_n(&avx512_enabled, __ATOMIC_RELAXED);
    if (enabled < 0) enabled = tk_use_avx512(avx512_wanted());
    (enabled ? gemm_512 : gemm_avx2)(x, rows, inputs, panels, outputs, bias, y, first_panel, end_panel);
}

#else

#include <math.h>

// Elsewhere: the same chains of fused multiply-adds, one output at a time.
int tk_use_avx512(int enable) { (void)enable; return 0; }

void tk_gemm_f32(const float *x, size_t rows, size_t inputs, const float *panels, size_t outputs, const float *bias,
                 float *y, size_t first_panel, size_t end_panel) {
    for (size_t p = first_panel; p < end_panel; p++) {
        const float *panel = panels + p * inputs * 16;
        for (size_t r = 0; r < rows; r++) {
            for (size_t lane = 0; lane < 16 && p * 16 + lane < outputs; lane++) {
                float acc = 0;
                for (size_t k = 0; k < inputs; k++) acc = fmaf(x[r * inputs + k], panel[k * 16 + lane], acc);
                y[r * outputs + p * 16 + lane] = bias ? acc + bias[p * 16 + lane] : acc;
            }
        }
    }
}

#endif
