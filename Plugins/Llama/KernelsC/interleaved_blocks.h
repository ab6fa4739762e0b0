// Private to the kernels in this folder: the block layouts that the interleaved-8 matrix-vector and
// expand-and-multiply kernels share (see Interleaved8.swift). Include inside `#if defined(__x86_64__)` after
// <immintrin.h>, with LLAMA_AVX2 defined.
#ifndef LLAMA_INTERLEAVED_BLOCKS_H
#define LLAMA_INTERLEAVED_BLOCKS_H

#ifndef LLAMA_INLINE
#define LLAMA_INLINE __attribute__((always_inline)) static inline
#endif

// Eight unsigned bytes as eight floats.
LLAMA_AVX2 LLAMA_INLINE __m256 u8x8(const unsigned char *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

// Block b of a group (32 columns of 8 rows): its 8 rows' scales `d` and offsets `m` (value = d·q + m), and where its
// 128 bytes of nibbles start. Two layouts share the nibble chunks (see Interleaved8.swift):
// - Q4_1 (k = 0): 160-byte blocks, d[8] f16 and m[8] f16, then the nibbles;
// - Q4_K (k = 1): LLAMA_Q4K_GROUP_BYTES (1184-byte) super-blocks of 8 blocks: d[8] f16, −dmin[8] f16, scale[8 blocks][8 rows] u8,
//   min[8][8] u8, then 8 × 128 bytes of nibbles; block j's d is d·scale[j] and its m is −dmin·min[j], each one
//   Float32 product as gguf-py forms them.
LLAMA_AVX2 LLAMA_INLINE const unsigned char *block_of(const unsigned char *base, size_t b, const int k, __m256 *d,
                                                      __m256 *m) {
    if (!k) {
        const unsigned char *block = base + b * 160;
        *d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)block));
        *m = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(block + 16)));
        return block + 32;
    }
    const unsigned char *super = base + (b >> 3) * LLAMA_Q4K_GROUP_BYTES;
    const size_t j = b & 7;
    *d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)super)), u8x8(super + 32 + 8 * j));
    *m = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(super + 16))), u8x8(super + 96 + 8 * j));
    return super + 160 + 128 * j;
}

// Q6_K and Q5_K, widened to one byte per weight (see Interleaved8.swift), per group and super-block of 256 columns:
// - Q6_K (LLAMA_Q6K_GROUP_BYTES, 2192): d[8] f16, scale[16 sub-blocks of 16][8 rows] i8, then 256 chunks of 8 signed bytes (chunk c:
//   the 8 rows' q − 32 at column c); value = (d·scale)·q.
// - Q5_K (LLAMA_Q5K_GROUP_BYTES, 2208): d[8] f16, −dmin[8] f16, scale[8 sub-blocks of 32][8] u8, min[8][8] u8, then 256 chunks of 8
//   unsigned bytes; value = (d·scale)·q + (−dmin)·min.

// Eight signed bytes as eight floats.
LLAMA_AVX2 LLAMA_INLINE __m256 i8x8(const unsigned char *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

#endif
