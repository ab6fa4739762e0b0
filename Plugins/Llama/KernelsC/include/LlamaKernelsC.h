// Hand-vectorised AVX2 kernels for the Llama decoder's hottest loops. Swift's SIMD types compile the interleaved
// Q4_1 matrix-vector kernel into partly scalar code (measured 13 ns per 32-weight block-row against 1.5 ns here),
// and the same holds for expanding a group and the register-blocked product of many rows, so these loops are
// written with intrinsics. Everything else stays in Swift.
#ifndef LLAMA_KERNELS_C_H
#define LLAMA_KERNELS_C_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when this build has the AVX2 kernels and the CPU supports AVX2, FMA and F16C; 0 otherwise.
int llama_c_has_avx2(void);

/// Bytes of one super-block (256 columns) of an 8-row group in the interleaved Q4_K, Q6_K and Q5_K layouts
/// (Interleaved8.swift repacks them, the kernels here read them).
#define LLAMA_Q4K_GROUP_BYTES 1184
#define LLAMA_Q6K_GROUP_BYTES 2192
#define LLAMA_Q5K_GROUP_BYTES 2208

/// y[8g ..< 8g + 8] = W[rows of group g] · x for g in [first_group, end_group), W a Q4_1 matrix in the
/// interleaved-8 layout (see Interleaved8.swift): per group and block of 32 columns, 160 bytes: d[8] f16, m[8] f16,
/// then 4 chunks of 8 little-endian 32-bit words (lane r = word c of row r's nibbles).
/// `sums` holds `blocks` block sums (sums[b] = Σ x[32b ..< 32b + 32]) followed by `32 * blocks` scaled activations
/// (x[j] · 2^-s, s = the bit position of column j's nibble in its word: 8·(j % 4), plus 4 when j % 32 ≥ 16), as
/// MatMul.prepareQ4_1Input writes them. Requires llama_c_has_avx2().
void llama_c_q4_1_interleaved_matvec(const void *weights, size_t group_bytes, size_t blocks, const float *x,
                                     const float *sums, float *y, size_t first_group, size_t end_group);

/// The same product for two activation vectors (x0 with sums0 into y0, x1 with sums1 into y1), reading the weights
/// once. Each output is bitwise identical to llama_c_q4_1_interleaved_matvec's for the same vector.
void llama_c_q4_1_interleaved_matvec2(const void *weights, size_t group_bytes, size_t blocks, const float *x0,
                                      const float *sums0, float *y0, const float *x1, const float *sums1, float *y1,
                                      size_t first_group, size_t end_group);

/// Y = X · Wᵀ for the rows of groups [first_group, end_group) of an interleaved-8 Q4_1 matrix and `n` activation rows
/// (x[t * 32 * blocks + k]): y[t * ldy + 8g + r] for every t < n. Groups are expanded exactly to Float32, two at a
/// time, into `tile` (16 * 32 * blocks floats, the caller's per-thread scratch) and then multiplied; a row's sums are
/// formed in the same order whatever `n` and whatever the group range. While a pair is multiplied, the (up to) two
/// groups `ahead` groups after its first are fetched from memory, spread over the pass (0: none); `group_count`, the
/// matrix's groups, bounds that. Requires llama_c_has_avx2().
void llama_c_q4_1_interleaved_gemm(const void *weights, size_t group_bytes, size_t blocks, const float *x, size_t n,
                                   float *y, size_t ldy, float *tile, size_t first_group, size_t end_group,
                                   size_t group_count, size_t ahead);

/// The Q4_1 products above for an interleaved-8 Q4_K matrix (1184-byte group super-blocks of 256 columns: d[8] f16,
/// −dmin[8] f16, scale[8 sub-blocks][8 rows] u8, min[8][8] u8, then per sub-block of 32 columns 128 bytes of
/// nibbles laid out as a Q4_1 group block's; sub-block j's d·q + m has d = d·scale[j] and m = −dmin·min[j]).
/// `blocks` counts sub-blocks of 32 columns; `sums` is the same prepared input. Requires llama_c_has_avx2().
void llama_c_q4_k_interleaved_matvec(const void *weights, size_t group_bytes, size_t blocks, const float *x,
                                     const float *sums, float *y, size_t first_group, size_t end_group);
void llama_c_q4_k_interleaved_matvec2(const void *weights, size_t group_bytes, size_t blocks, const float *x0,
                                      const float *sums0, float *y0, const float *x1, const float *sums1, float *y1,
                                      size_t first_group, size_t end_group);
void llama_c_q4_k_interleaved_gemm(const void *weights, size_t group_bytes, size_t blocks, const float *x, size_t n,
                                   float *y, size_t ldy, float *tile, size_t first_group, size_t end_group,
                                   size_t group_count, size_t ahead);

/// The expand-and-multiply product for an interleaved-8 AFFINE8 matrix (Q5_1 widened, MLX 8-bit; 288-byte group
/// blocks: d[8], m[8] f16, then 32 chunks of 8 unsigned bytes).
void llama_c_affine8_interleaved_gemm(const void *weights, size_t group_bytes, size_t blocks, const float *x,
                                      size_t n, float *y, size_t ldy, float *tile, size_t first_group,
                                      size_t end_group, size_t group_count, size_t ahead);

/// The same three products for an interleaved-8 Q6_K or Q5_K matrix widened to a byte per weight (per group and
/// super-block of 256 columns, 2192 or 2208 bytes: see interleaved_blocks.h). `blocks` counts columns / 32; `sums`
/// is the prepared input (Q5_K reads its block sums). Requires llama_c_has_avx2().
void llama_c_q6_k_interleaved_matvec(const void *weights, size_t group_bytes, size_t blocks, const float *x,
                                     const float *sums, float *y, size_t first_group, size_t end_group);
void llama_c_q6_k_interleaved_matvec2(const void *weights, size_t group_bytes, size_t blocks, const float *x0,
                                      const float *sums0, float *y0, const float *x1, const float *sums1, float *y1,
                                      size_t first_group, size_t end_group);
void llama_c_q6_k_interleaved_gemm(const void *weights, size_t group_bytes, size_t blocks, const float *x, size_t n,
                                   float *y, size_t ldy, float *tile, size_t first_group, size_t end_group,
                                   size_t group_count, size_t ahead);
void llama_c_q5_k_interleaved_matvec(const void *weights, size_t group_bytes, size_t blocks, const float *x,
                                     const float *sums, float *y, size_t first_group, size_t end_group);
void llama_c_q5_k_interleaved_matvec2(const void *weights, size_t group_bytes, size_t blocks, const float *x0,
                                      const float *sums0, float *y0, const float *x1, const float *sums1, float *y1,
                                      size_t first_group, size_t end_group);
void llama_c_q5_k_interleaved_gemm(const void *weights, size_t group_bytes, size_t blocks, const float *x, size_t n,
                                   float *y, size_t ldy, float *tile, size_t first_group, size_t end_group,
                                   size_t group_count, size_t ahead);

/// y[r] = Σ_k W[r][k] · x[k] for rows [first_row, end_row) of an F16 (`format` 0), BF16 (1) or F32 (2) matrix in
/// the file's row layout (`row_bytes` apart; `columns` a multiple of 8). Each row's sum is formed in one order
/// whatever the range. Requires llama_c_has_avx2().
void llama_c_half_rows_matvec(const void *weights, size_t row_bytes, size_t columns, const float *x, float *y,
                              size_t first_row, size_t end_row, int format);

/// Whether the expand-and-multiply functions here use their AVX-512 code (on a CPU with AVX-512F; the default unless
/// the environment sets MODELHOST_NO_AVX512) or only AVX2: `enable` 0 or 1; returns whether AVX-512 is in use afterwards. Both give bitwise identical results, so this exists
/// for the test that proves it and for measuring one against the other. Any thread, between products.
int llama_c_use_avx512(int enable);

/// Whether the environment leaves AVX-512 wanted: 1 unless MODELHOST_NO_AVX512 is set to anything but "" or "0"
/// (read now; the kernels read it once, at their first product). Any thread.
int llama_c_avx512_wanted(void);

/// llama_c_q4_1_interleaved_gemm's product for an interleaved-8 Q8_0 matrix (272-byte group blocks: d[8] f16, then 32 chunks of 8 signed bytes).
void llama_c_q8_0_interleaved_gemm(const void *weights, size_t group_bytes, size_t blocks, const float *x, size_t n,
                                   float *y, size_t ldy, float *tile, size_t first_group, size_t end_group,
                                   size_t group_count, size_t ahead);

/// Asks for the cache line holding `address` ahead of its use (a hint: never faults, whatever the address). For
/// the Swift loops that stream the key/value cache, which Swift cannot hint by itself. Any thread.
static inline void llama_c_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }

/// Eight 16-bit KV cache values at `src` widened to float at `dst`: IEEE half precision (f16) and bfloat16 (bf16);
/// and eight signed bytes (q8_0).
/// Swift's generic SIMD conversions are not inlined into the attention loop (a call per eight values); these are one
/// or two instructions (vcvtph2ps; vpmovzxwd and a shift) once inlined. Any thread.
#if defined(__F16C__) && defined(__AVX2__)
#include <immintrin.h>
static inline void llama_c_f16x8(const void *src, float *dst) {
    _mm256_storeu_ps(dst, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)src)));
}
static inline void llama_c_bf16x8(const void *src, float *dst) {
    const __m256i wide = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)src)), 16);
    _mm256_storeu_si256((__m256i *)dst, wide);
}
/// Eight signed bytes (the q8_0 KV cache) as floats.
static inline void llama_c_i8x8(const void *src, float *dst) {
    _mm256_storeu_ps(dst, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)src))));
}
#else
#include <string.h>
static inline void llama_c_f16x8(const void *src, float *dst) {
    const _Float16 *h = (const _Float16 *)src;
    for (int i = 0; i < 8; i++) dst[i] = (float)h[i];
}
static inline void llama_c_bf16x8(const void *src, float *dst) {
    const unsigned short *h = (const unsigned short *)src;
    for (int i = 0; i < 8; i++) {
        const unsigned int bits = (unsigned int)h[i] << 16;
        memcpy(dst + i, &bits, 4);
    }
}
static inline void llama_c_i8x8(const void *src, float *dst) {
    const signed char *b = (const signed char *)src;
    for (int i = 0; i < 8; i++) dst[i] = (float)b[i];
}
#endif

#ifdef __cplusplus
}
#endif

#endif
