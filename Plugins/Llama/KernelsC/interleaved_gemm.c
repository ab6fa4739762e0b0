// AVX2/FMA matrix products of interleaved-8 Q4_1, Q4_K, Q5_K, Q6_K and Q8_0 weights with several activation rows (see
// include/LlamaKernelsC.h). Groups of 8 weight rows are expanded, two at a time, exactly to Float32 as gguf-py
// dequantizes, into a scratch tile laid out column by column (8 floats = a group's 8 rows of one column); then every
// activation row is multiplied against both with one vector lane per weight row, so no horizontal sums are needed.
//
// Why here and not in Swift: the expansion and the register-blocked product compile to partly scalar code in Swift.
// Why expand first: a batched decode step or a prefill chunk multiplies each weight by many rows; converting a
// nibble to Float32 costs as much as a multiply-add, so it is done once per weight and call, not once per row.
// Why two groups: each broadcast activation then feeds two multiply-adds, so a register block of 6 rows issues 8
// loads per 12 multiply-adds instead of 14 (with one group the loads, not the multiply-adds, were the limit).
//
// Batch invariance: every activation row's sum for a weight row is one chain of multiply-adds over the columns in
// order, whatever the number of rows, the row block it falls in and whether its group was paired, so a row's result
// does not depend on the other rows of the call.
//
// AVX-512: where the CPU has AVX-512F (checked at run time; the manifest still asks only for x86_64-v3), a pair of
// groups is expanded into one 16-lane vector per column and multiplied in blocks of up to 8 rows (32 registers).
// Every lane computes the same fused multiply-adds in the same order as the AVX2 code, so the results are bitwise
// identical on either path (tested); measured on one core, 8 rows 1.14-1.22x and 50 rows 1.03-1.29x the AVX2 path.
#include "LlamaKernelsC.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdlib.h>

#define LLAMA_AVX2 __attribute__((target("avx2,fma,f16c")))
#define LLAMA_INLINE __attribute__((always_inline)) static inline
#include "interleaved_blocks.h"

// What a matrix's group blocks hold: the kernels below are written once and specialised per kind.
enum kind { KIND_Q4_1 = 0, KIND_Q8_0 = 1, KIND_Q4_K = 2, KIND_Q6_K = 3, KIND_Q5_K = 4, KIND_AFFINE8 = 5 };

// Most rows per register block: one accumulator per row and group, 12 of the 16 vector registers.
#define BLOCK_ROWS 6

// The bytes of the groups multiplied next, asked for one cache line every `every` columns while the current groups
// are multiplied. Why: the weights stream from memory, and a multiply pass over a few rows takes long enough that
// the hardware prefetcher does not keep ahead of it (a parallel region also hands a thread chunks that are not
// adjacent). Why spread: asking for a whole group pair at once (90 lines of Q4_1, 153 of Q8_0) overflows the core's
// outstanding-miss slots and stalls it; spread over the pass, the same requests hide all of the memory latency
// (one core, 8 rows, 66 MB of Q4_1: 37.6 vs 27.0 multiply-adds/ns on AVX-512, 37-39 vs 24-34 on AVX2; 56 MB of Q8_0:
// 33.2 vs 24.0). Which groups come next for this thread is the caller's call (`ahead`).
struct ahead {
    const char *next;  // first byte to fetch; NULL: nothing
    size_t lines;      // cache lines from `next`
    size_t every;      // columns per line
};

LLAMA_INLINE struct ahead ahead_of(const unsigned char *next, size_t bytes, size_t columns) {
    const size_t lines = next ? (bytes + 63) / 64 : 0;
    struct ahead a = {(const char *)next, lines, lines ? (columns / lines > 0 ? columns / lines : 1) : 1};
    return a;
}

LLAMA_INLINE struct ahead ahead_none(void) { return ahead_of(NULL, 0, 1); }

// Inside a pass over the columns: asks for line `*line` when column `col` is due.
LLAMA_AVX2 LLAMA_INLINE void ahead_step(struct ahead a, size_t col, size_t *line, size_t *due) {
    if (col == *due && *line < a.lines) {
        _mm_prefetch(a.next + 64 * *line, _MM_HINT_T0);
        *line += 1;
        *due += a.every;
    }
}

// After the pass: whatever rounding left.
LLAMA_AVX2 LLAMA_INLINE void ahead_finish(struct ahead a, size_t line) {
    for (; line < a.lines; line++) _mm_prefetch(a.next + 64 * line, _MM_HINT_T0);
}

// The (up to) two groups that start `distance` groups after group `g`, within the matrix's `group_count`.
LLAMA_INLINE struct ahead groups_ahead(const unsigned char *w, size_t group_bytes, size_t g, size_t distance,
                                       size_t group_count, size_t columns) {
    const size_t next = g + distance;
    if (distance == 0 || next >= group_count) return ahead_none();
    const size_t count = group_count - next < 2 ? group_count - next : 2;
    return ahead_of(w + next * group_bytes, count * group_bytes, columns);
}

// Group `g` of a Q4_1 or Q4_K matrix (k = 0 or 1, see block_of) expanded to tile[col * 8 + lane] = d[lane] * q +
// m[lane]: one rounding, as gguf-py's two (d·q is exact: at most 17 + 4 significant bits).
LLAMA_AVX2 LLAMA_INLINE void expand_q4(const unsigned char *group, size_t blocks, float *tile, const int k) {
    const __m256i low4 = _mm256_set1_epi32(0x0F);
    for (size_t b = 0; b < blocks; b++) {
        __m256 d, m;
        const unsigned char *nib = block_of(group, b, k, &d, &m);
        float *out = tile + 8 * 32 * b;
        for (int c = 0; c < 4; c++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(nib + 32 * c));
            for (int t = 0; t < 4; t++) {
                const __m256i lo = _mm256_and_si256(_mm256_srli_epi32(v, 8 * t), low4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi32(v, 8 * t + 4), low4);
                _mm256_storeu_ps(out + 8 * (4 * c + t), _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo), d, m));
                _mm256_storeu_ps(out + 8 * (4 * c + t + 16), _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi), d, m));
            }
        }
    }
}

// Group `g` of a Q8_0 matrix expanded to tile[col * 8 + lane] = d[lane] * q.
LLAMA_AVX2 LLAMA_INLINE void expand_q8_0(const unsigned char *group, size_t blocks, float *tile) {
    for (size_t b = 0; b < blocks; b++) {
        const unsigned char *block = group + b * 272;
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)block));
        float *out = tile + 8 * 32 * b;
        for (int i = 0; i < 32; i++) {
            const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(block + 16 + 8 * i)));
            _mm256_storeu_ps(out + 8 * i, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
        }
    }
}

// Group `g` of an AFFINE8 matrix (Q5_1 and MLX 8-bit; 288-byte blocks: d[8], m[8] f16, then 32 chunks of 8 unsigned
// bytes) expanded to tile[col * 8 + lane] = d * q + m: one rounding, as the reference's two (d·q is exact).
LLAMA_AVX2 LLAMA_INLINE void expand_affine8(const unsigned char *group, size_t blocks, float *tile) {
    for (size_t b = 0; b < blocks; b++) {
        const unsigned char *block = group + b * 288;
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)block));
        const __m256 m = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(block + 16)));
        float *out = tile + 8 * 32 * b;
        for (int i = 0; i < 32; i++) _mm256_storeu_ps(out + 8 * i, _mm256_fmadd_ps(u8x8(block + 32 + 8 * i), d, m));
    }
}

// Group `g` of a Q6_K or Q5_K matrix (q5 = 0 or 1, see interleaved_blocks.h) expanded to tile[col * 8 + lane]:
// (d·scale)·q for Q6_K, one rounding as gguf-py's; (d·scale)·q + (−dmin·min) for Q5_K, one rounding where gguf-py
// rounds twice, the same value since (d·scale)·q is exact (at most 17 + 5 significant bits).
LLAMA_AVX2 LLAMA_INLINE void expand_k8(const unsigned char *group, size_t blocks, float *tile, const int q5) {
    for (size_t s = 0; s < blocks / 8; s++) {
        const unsigned char *super = group + s * (q5 ? LLAMA_Q5K_GROUP_BYTES : LLAMA_Q6K_GROUP_BYTES);
        const unsigned char *q = super + (q5 ? 160 : 144);
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)super));
        float *out = tile + 8 * 256 * s;
        if (q5) {
            const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(super + 16)));
            for (int j = 0; j < 8; j++) {
                const __m256 scale = _mm256_mul_ps(d, u8x8(super + 32 + 8 * j));
                const __m256 m = _mm256_mul_ps(dmin, u8x8(super + 96 + 8 * j));
                for (int i = 0; i < 32; i++) {
                    _mm256_storeu_ps(out + 8 * (32 * j + i), _mm256_fmadd_ps(u8x8(q + 8 * (32 * j + i)), scale, m));
                }
            }
        } else {
            for (int j = 0; j < 16; j++) {
                const __m256 scale = _mm256_mul_ps(d, i8x8(super + 16 + 8 * j));
                for (int i = 0; i < 16; i++) {
                    _mm256_storeu_ps(out + 8 * (16 * j + i), _mm256_mul_ps(i8x8(q + 8 * (16 * j + i)), scale));
                }
            }
        }
    }
}

// Any kind's group expanded (AVX2).
LLAMA_AVX2 LLAMA_INLINE void expand_group(const unsigned char *group, size_t blocks, float *tile, const int kind) {
    switch (kind) {
    case KIND_Q8_0: expand_q8_0(group, blocks, tile); break;
    case KIND_Q4_1: expand_q4(group, blocks, tile, 0); break;
    case KIND_Q4_K: expand_q4(group, blocks, tile, 1); break;
    case KIND_Q6_K: expand_k8(group, blocks, tile, 0); break;
    case KIND_AFFINE8: expand_affine8(group, blocks, tile); break;
    default: expand_k8(group, blocks, tile, 1); break;
    }
}

// y[t * ldy + 8 * g + lane] = Σ_col tile[g][col][lane] · x[t * ldx + col] for t < R and g < G, tile[g] starting at
// tile + 8 * columns * g (R ≤ BLOCK_ROWS and G ≤ 2, constants after inlining).
LLAMA_AVX2 LLAMA_INLINE void multiply_block(const float *tile, size_t columns, const float *x, size_t ldx, float *y,
                                            size_t ldy, const int R, const int G, struct ahead a) {
    const float *tile1 = tile + 8 * columns;
    __m256 acc0[BLOCK_ROWS], acc1[BLOCK_ROWS];
    for (int t = 0; t < R; t++) { acc0[t] = _mm256_setzero_ps(); acc1[t] = _mm256_setzero_ps(); }
    size_t line = 0, due = 0;
    for (size_t col = 0; col < columns; col++) {
        ahead_step(a, col, &line, &due);
        const __m256 w0 = _mm256_loadu_ps(tile + 8 * col);
        const __m256 w1 = G > 1 ? _mm256_loadu_ps(tile1 + 8 * col) : w0;
        for (int t = 0; t < R; t++) {
            const __m256 xb = _mm256_broadcast_ss(x + t * ldx + col);
            acc0[t] = _mm256_fmadd_ps(w0, xb, acc0[t]);
            if (G > 1) acc1[t] = _mm256_fmadd_ps(w1, xb, acc1[t]);
        }
    }
    ahead_finish(a, line);
    for (int t = 0; t < R; t++) {
        _mm256_storeu_ps(y + t * ldy, acc0[t]);
        if (G > 1) _mm256_storeu_ps(y + t * ldy + 8, acc1[t]);
    }
}

LLAMA_AVX2 LLAMA_INLINE void multiply_block_rows(const float *tile, size_t columns, const float *x, float *y,
                                                 size_t ldy, int rows, const int G, struct ahead a) {
    switch (rows) {
    case 6: multiply_block(tile, columns, x, columns, y, ldy, 6, G, a); break;
    case 5: multiply_block(tile, columns, x, columns, y, ldy, 5, G, a); break;
    case 4: multiply_block(tile, columns, x, columns, y, ldy, 4, G, a); break;
    case 3: multiply_block(tile, columns, x, columns, y, ldy, 3, G, a); break;
    case 2: multiply_block(tile, columns, x, columns, y, ldy, 2, G, a); break;
    case 1: multiply_block(tile, columns, x, columns, y, ldy, 1, G, a); break;
    default: break;
    }
}

// All n rows against the G expanded groups in `tile`, in register blocks of as equal sizes as possible (8 rows: 4 + 4,
// not 6 + 2, whose 2-row block would wait on multiply-add latency). The first block's pass asks for `a`.
LLAMA_AVX2 static void multiply_rows(const float *tile, size_t columns, const float *x, size_t n, float *y,
                                     size_t ldy, int G, struct ahead a) {
    const size_t blocks = (n + BLOCK_ROWS - 1) / BLOCK_ROWS;
    size_t t = 0;
    for (size_t b = 0; b < blocks; b++) {
        const int rows = (int)(n / blocks + (b < n % blocks ? 1 : 0));
        const struct ahead ab = b == 0 ? a : ahead_none();
        if (G > 1) multiply_block_rows(tile, columns, x + t * columns, y + t * ldy, ldy, rows, 2, ab);
        else multiply_block_rows(tile, columns, x + t * columns, y + t * ldy, ldy, rows, 1, ab);
        t += (size_t)rows;
    }
}

#define LLAMA_AVX512 __attribute__((target("avx512f,avx2,fma,f16c")))

// Most rows per AVX-512 register block: one 16-lane accumulator per row.
#define BLOCK_ROWS_512 8

// Whether AVX-512 is wanted by default: yes, unless the environment sets MODELHOST_NO_AVX512 to anything but "" or
// "0", so that a benchmark can measure the AVX2 path of a whole server on an AVX-512 host.
int llama_c_avx512_wanted(void) {
    const char *no = getenv("MODELHOST_NO_AVX512");
    return !(no && no[0] && !(no[0] == '0' && no[1] == 0));
}

static int avx512_enabled = -1;  // -1: not decided yet

int llama_c_use_avx512(int enable) {
    __builtin_cpu_init();
    const int available = __builtin_cpu_supports("avx512f") && llama_c_has_avx2();
    __atomic_store_n(&avx512_enabled, enable && available, __ATOMIC_RELAXED);
    return enable && available;
}

static int use_avx512(void) {
    int enabled = __atomic_load_n(&avx512_enabled, __ATOMIC_RELAXED);
    if (enabled < 0) enabled = llama_c_use_avx512(llama_c_avx512_wanted());
    return enabled;
}

// Two 8-lane halves as one 16-lane vector (lo in lanes 0-7).
LLAMA_AVX512 LLAMA_INLINE __m512 join(__m256 lo, __m256 hi) {
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi), 1));
}

// Groups g0 and g1 of a Q4_1 or Q4_K matrix expanded to tile[col * 16 + lane]: lanes 0-7 from g0, 8-15 from g1.
LLAMA_AVX512 LLAMA_INLINE void expand2_q4(const unsigned char *g0, const unsigned char *g1, size_t blocks,
                                          float *tile, const int k) {
    const __m512i low4 = _mm512_set1_epi32(0x0F);
    for (size_t b = 0; b < blocks; b++) {
        __m256 d0, m0, d1, m1;
        const unsigned char *n0 = block_of(g0, b, k, &d0, &m0), *n1 = block_of(g1, b, k, &d1, &m1);
        const __m512 d = join(d0, d1), m = join(m0, m1);
        float *out = tile + 16 * 32 * b;
        for (int c = 0; c < 4; c++) {
            const __m512i v = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(n0 + 32 * c))),
                _mm256_loadu_si256((const __m256i *)(n1 + 32 * c)), 1);
            for (int t = 0; t < 4; t++) {
                const __m512i lo = _mm512_and_si512(_mm512_srli_epi32(v, 8 * t), low4);
                const __m512i hi = _mm512_and_si512(_mm512_srli_epi32(v, 8 * t + 4), low4);
                _mm512_storeu_ps(out + 16 * (4 * c + t), _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo), d, m));
                _mm512_storeu_ps(out + 16 * (4 * c + t + 16), _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi), d, m));
            }
        }
    }
}

// Groups g0 and g1 of a Q8_0 matrix expanded to tile[col * 16 + lane].
LLAMA_AVX512 LLAMA_INLINE void expand2_q8_0(const unsigned char *g0, const unsigned char *g1, size_t blocks,
                                            float *tile) {
    for (size_t b = 0; b < blocks; b++) {
        const unsigned char *b0 = g0 + b * 272, *b1 = g1 + b * 272;
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu2_m128i((const __m128i *)b1, (const __m128i *)b0));
        float *out = tile + 16 * 32 * b;
        for (int i = 0; i < 32; i++) {
            const __m128i q = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(b0 + 16 + 8 * i)),
                                                 _mm_loadl_epi64((const __m128i *)(b1 + 16 + 8 * i)));
            _mm512_storeu_ps(out + 16 * i, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), d));
        }
    }
}

// Groups g0 and g1 of a Q6_K or Q5_K matrix expanded to tile[col * 16 + lane], as expand_k8 does each.
LLAMA_AVX512 LLAMA_INLINE void expand2_k8(const unsigned char *g0, const unsigned char *g1, size_t blocks,
                                          float *tile, const int q5) {
    const size_t bytes = q5 ? LLAMA_Q5K_GROUP_BYTES : LLAMA_Q6K_GROUP_BYTES, payload = q5 ? 160 : 144;
    for (size_t s = 0; s < blocks / 8; s++) {
        const unsigned char *s0 = g0 + s * bytes, *s1 = g1 + s * bytes;
        const __m512 d = join(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)s0)),
                              _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)s1)));
        float *out = tile + 16 * 256 * s;
        const int subs = q5 ? 8 : 16, width = q5 ? 32 : 16;
        __m512 dmin = _mm512_setzero_ps();
        if (q5) dmin = join(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s0 + 16))),
                            _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s1 + 16))));
        for (int j = 0; j < subs; j++) {
            const __m512 scale = q5 ? _mm512_mul_ps(d, join(u8x8(s0 + 32 + 8 * j), u8x8(s1 + 32 + 8 * j)))
                                    : _mm512_mul_ps(d, join(i8x8(s0 + 16 + 8 * j), i8x8(s1 + 16 + 8 * j)));
            const __m512 m = q5 ? _mm512_mul_ps(dmin, join(u8x8(s0 + 96 + 8 * j), u8x8(s1 + 96 + 8 * j)))
                                : _mm512_setzero_ps();
            for (int i = 0; i < width; i++) {
                const size_t col = (size_t)(width * j + i);
                const __m128i bytes16 = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(s0 + payload + 8 * col)),
                                                           _mm_loadl_epi64((const __m128i *)(s1 + payload + 8 * col)));
                if (q5) {
                    const __m512 w = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes16));
                    _mm512_storeu_ps(out + 16 * col, _mm512_fmadd_ps(w, scale, m));
                } else {
                    const __m512 w = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bytes16));
                    _mm512_storeu_ps(out + 16 * col, _mm512_mul_ps(w, scale));
                }
            }
        }
    }
}

// Groups g0 and g1 of an AFFINE8 matrix expanded to tile[col * 16 + lane].
LLAMA_AVX512 LLAMA_INLINE void expand2_affine8(const unsigned char *g0, const unsigned char *g1, size_t blocks,
                                               float *tile) {
    for (size_t b = 0; b < blocks; b++) {
        const unsigned char *b0 = g0 + b * 288, *b1 = g1 + b * 288;
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu2_m128i((const __m128i *)b1, (const __m128i *)b0));
        const __m512 m = _mm512_cvtph_ps(_mm256_loadu2_m128i((const __m128i *)(b1 + 16), (const __m128i *)(b0 + 16)));
        float *out = tile + 16 * 32 * b;
        for (int i = 0; i < 32; i++) {
            const __m128i q = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(b0 + 32 + 8 * i)),
                                                 _mm_loadl_epi64((const __m128i *)(b1 + 32 + 8 * i)));
            _mm512_storeu_ps(out + 16 * i, _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(q)), d, m));
        }
    }
}

// Any kind's pair of groups expanded (AVX-512).
LLAMA_AVX512 LLAMA_INLINE void expand2_group(const unsigned char *g0, const unsigned char *g1, size_t blocks,
                                             float *tile, const int kind) {
    switch (kind) {
    case KIND_Q8_0: expand2_q8_0(g0, g1, blocks, tile); break;
    case KIND_Q4_1: expand2_q4(g0, g1, blocks, tile, 0); break;
    case KIND_Q4_K: expand2_q4(g0, g1, blocks, tile, 1); break;
    case KIND_Q6_K: expand2_k8(g0, g1, blocks, tile, 0); break;
    case KIND_AFFINE8: expand2_affine8(g0, g1, blocks, tile); break;
    default: expand2_k8(g0, g1, blocks, tile, 1); break;
    }
}

// y[t * ldy + lane] = Σ_col tile[col][lane] · x[t * ldx + col] for t < R and 16 lanes (two groups' outputs, which
// are adjacent in y).
LLAMA_AVX512 LLAMA_INLINE void multiply_block_512(const float *tile, size_t columns, const float *x, size_t ldx,
                                                  float *y, size_t ldy, const int R, struct ahead a) {
    __m512 acc[BLOCK_ROWS_512];
    for (int t = 0; t < R; t++) acc[t] = _mm512_setzero_ps();
    size_t line = 0, due = 0;
    for (size_t col = 0; col < columns; col++) {
        ahead_step(a, col, &line, &due);
        const __m512 w = _mm512_loadu_ps(tile + 16 * col);
        for (int t = 0; t < R; t++) acc[t] = _mm512_fmadd_ps(w, _mm512_set1_ps(x[t * ldx + col]), acc[t]);
    }
    ahead_finish(a, line);
    for (int t = 0; t < R; t++) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

LLAMA_AVX512 static void multiply_rows_512(const float *tile, size_t columns, const float *x, size_t n, float *y,
                                           size_t ldy, struct ahead a) {
    const size_t blocks = (n + BLOCK_ROWS_512 - 1) / BLOCK_ROWS_512;
    size_t t = 0;
    for (size_t b = 0; b < blocks; b++) {
        const int rows = (int)(n / blocks + (b < n % blocks ? 1 : 0));
        const float *xb = x + t * columns;
        float *yb = y + t * ldy;
        const struct ahead ab = b == 0 ? a : ahead_none();
        switch (rows) {
        case 8: multiply_block_512(tile, columns, xb, columns, yb, ldy, 8, ab); break;
        case 7: multiply_block_512(tile, columns, xb, columns, yb, ldy, 7, ab); break;
        case 6: multiply_block_512(tile, columns, xb, columns, yb, ldy, 6, ab); break;
        case 5: multiply_block_512(tile, columns, xb, columns, yb, ldy, 5, ab); break;
        case 4: multiply_block_512(tile, columns, xb, columns, yb, ldy, 4, ab); break;
        case 3: multiply_block_512(tile, columns, xb, columns, yb, ldy, 3, ab); break;
        case 2: multiply_block_512(tile, columns, xb, columns, yb, ldy, 2, ab); break;
        default: multiply_block_512(tile, columns, xb, columns, yb, ldy, 1, ab); break;
        }
        t += (size_t)rows;
    }
}

// Pairs of groups on AVX-512; a range's last group, when alone, on the AVX2 path (same order, same results).
LLAMA_AVX512 static void gemm_512(const unsigned char *w, size_t group_bytes, size_t blocks, const float *x, size_t n,
                                  float *y, size_t ldy, float *tile, size_t first_group, size_t end_group,
                                  size_t group_count, size_t ahead, const int kind) {
    const size_t columns = 32 * blocks;
    size_t g = first_group;
    for (; g + 1 < end_group; g += 2) {
        expand2_group(w + g * group_bytes, w + (g + 1) * group_bytes, blocks, tile, kind);
        multiply_rows_512(tile, columns, x, n, y + 8 * g, ldy, groups_ahead(w, group_bytes, g, ahead, group_count, columns));
    }
    if (g < end_group) {
        expand_group(w + g * group_bytes, blocks, tile, kind);
        multiply_rows(tile, columns, x, n, y + 8 * g, ldy, 1, groups_ahead(w, group_bytes, g, ahead, group_count, columns));
    }
}

// Pairs of groups on AVX2 (two 8-lane tiles); a range's last group, when alone, by itself.
LLAMA_AVX2 static void gemm_avx2(const unsigned char *w, size_t group_bytes, size_t blocks, const float *x, size_t n,
                                 float *y, size_t ldy, float *tile, size_t first_group, size_t end_group,
                                 size_t group_count, size_t ahead, const int kind) {
    const size_t columns = 32 * blocks;
    for (size_t g = first_group; g < end_group; g += 2) {
        const int G = g + 1 < end_group ? 2 : 1;
        for (int i = 0; i < G; i++) {
            expand_group(w + (g + i) * group_bytes, blocks, tile + 8 * columns * i, kind);
        }
        multiply_rows(tile, columns, x, n, y + 8 * g, ldy, G, groups_ahead(w, group_bytes, g, ahead, group_count, columns));
    }
}

// The exported products, one per block type: each picks the AVX-512 or AVX2 driver for its kind.
#define GEMM_ENTRY(name, KIND)                                                                                     \
    void name(const void *weights, size_t group_bytes, size_t blocks, const float *x, size_t n, float *y,          \
              size_t ldy, float *tile, size_t first_group, size_t end_group, size_t group_count, size_t ahead) {    \
        (use_avx512() ? gemm_512 : gemm_avx2)(weights, group_bytes, blocks, x, n, y, ldy, tile, first_group,       \
                                              end_group, group_count, ahead, KIND);                                \
    }

GEMM_ENTRY(llama_c_q4_1_interleaved_gemm, KIND_Q4_1)
GEMM_ENTRY(llama_c_q4_k_interleaved_gemm, KIND_Q4_K)
GEMM_ENTRY(llama_c_affine8_interleaved_gemm, KIND_AFFINE8)
GEMM_ENTRY(llama_c_q6_k_interleaved_gemm, KIND_Q6_K)
GEMM_ENTRY(llama_c_q5_k_interleaved_gemm, KIND_Q5_K)
GEMM_ENTRY(llama_c_q8_0_interleaved_gemm, KIND_Q8_0)

#else

int llama_c_use_avx512(int enable) { (void)enable; return 0; }

int llama_c_avx512_wanted(void) { return 0; }

#define GEMM_STUB(name)                                                                                            \
    void name(const void *weights, size_t group_bytes, size_t blocks, const float *x, size_t n, float *y,          \
              size_t ldy, float *tile, size_t first_group, size_t end_group, size_t group_count, size_t ahead) {    \
        (void)weights; (void)group_bytes; (void)blocks; (void)x; (void)n; (void)y; (void)ldy; (void)tile;          \
        (void)first_group; (void)end_group; (void)group_count; (void)ahead;                                       \
    }

GEMM_STUB(llama_c_q4_1_interleaved_gemm)
GEMM_STUB(llama_c_q4_k_interleaved_gemm)
GEMM_STUB(llama_c_affine8_interleaved_gemm)
GEMM_STUB(llama_c_q6_k_interleaved_gemm)
GEMM_STUB(llama_c_q5_k_interleaved_gemm)
GEMM_STUB(llama_c_q8_0_interleaved_gemm)

#endif
