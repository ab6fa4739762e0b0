/* Separable Lanczos (a = 3) resampling of 8-bit RGB, defined exactly so that a numpy reference can replicate it
 * (scripts/fixtures/vision_resize_reference.py does):
 *
 *   kernel      L(x) = sinc(x) * sinc(x / 3) for |x| < 3, else 0, where sinc(x) = sin(pi x) / (pi x), sinc(0) = 1.
 *   one axis    in -> out samples: scale s = in / out, f = max(s, 1) (the kernel is stretched when shrinking, so it
 *               also low-passes), support R = 3 f. Output sample i is centred at c = (i + 0.5) s in input
 *               coordinates; it reads input samples j in [max(0, floor(c - R + 0.5)), min(in, floor(c + R + 0.5)))
 *               with weights L((j + 0.5 - c) / f), divided by their sum.
 *   edges       taps that would fall outside the image are dropped and the remaining weights renormalised (no
 *               padding, no mirroring). This is also what Pillow does, so results stay close to Image.LANCZOS.
 *   passes      each pass rounds half up and clamps to 8 bits: clip(floor(v + 0.5), 0, 255), also between the two
 *               passes (as Pillow does; ringing is clipped there). The horizontal pass runs first, except when the
 *               width grows while the height shrinks: then the vertical pass runs first. An axis whose size does not
 *               change is not resampled. Weights are computed in double and stored as float32; accumulation is
 *               float32.
 *
 * With these rules the output equals Pillow's Image.resize(..., LANCZOS) to within 1 in our tests (Pillow uses
 * 22-bit fixed-point weights).
 */
#include "codecs_internal.h"

#include <math.h>
#include <string.h>

typedef struct axis_weights {
    uint32_t taps;        /* row length of `weights`: the widest window; shorter windows are zero-padded */
    uint32_t *first;      /* first input index per output sample */
    uint32_t *count;      /* input samples read per output sample (first + count <= in) */
    float *weights;       /* out * taps */
} axis_weights;

static double lanczos3(double x) {
    if (x <= -3.0 || x >= 3.0) return 0.0;
    if (x == 0.0) return 1.0;
    const double px = M_PI * x;
    return 3.0 * sin(px) * sin(px / 3.0) / (px * px);
}

static void free_axis(axis_weights *a) {
    free(a->first);
    free(a->count);
    free(a->weights);
}

static int make_axis(uint32_t in, uint32_t out, axis_weights *a) {
    const double scale = (double)in / (double)out;
    const double f = scale > 1.0 ? scale : 1.0;
    const double support = 3.0 * f;
    a->taps = (uint32_t)ceil(support) * 2 + 1;
    if (a->taps > in) a->taps = in;
    a->first = (uint32_t *)malloc(sizeof(uint32_t) * out);
    a->count = (uint32_t *)malloc(sizeof(uint32_t) * out);
    a->weights = (float *)calloc((size_t)out * a->taps, sizeof(float));
    double *w = (double *)malloc(sizeof(double) * a->taps);
    if (a->first == NULL || a->count == NULL || a->weights == NULL || w == NULL) {
        free(w);
        free_axis(a);
        return MHI_NO_MEMORY;
    }
    for (uint32_t i = 0; i < out; i++) {
        const double center = (i + 0.5) * scale;
        double lo = floor(center - support + 0.5), hi = floor(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        uint32_t first = (uint32_t)lo, count = hi > lo ? (uint32_t)(hi - lo) : 0;
        if (count > a->taps) count = a->taps;
        double total = 0;
        for (uint32_t k = 0; k < count; k++) {
            w[k] = lanczos3((first + k + 0.5 - center) / f);
            total += w[k];
        }
        float *row = a->weights + (size_t)i * a->taps;
        if (count == 0 || total == 0.0) {
            /* Cannot happen for in, out >= 1 (the nearest tap has a positive weight); stay safe anyway. */
            first = center < in ? (uint32_t)center : in - 1;
            count = 1;
            row[0] = 1.0f;
        } else {
            for (uint32_t k = 0; k < count; k++) row[k] = (float)(w[k] / total);
        }
        a->first[i] = first;
        a->count[i] = count;
    }
    free(w);
    return MHI_OK;
}

static inline uint8_t to_u8(float v) {
    if (v <= 0.0f) return 0;
    if (v >= 254.5f) return 255;
    return (uint8_t)(int)(v + 0.5f);
}

/* Four floats in one SSE register (baseline x86-64 and NEON both have them): one pixel's R, G, B and a spare lane,
 * so a tap is one multiply-add for all three channels. */
typedef float mhi_v4 __attribute__((vector_size(16)));

/* Resamples `rows` rows of width sw to width dw; `line` is scratch for sw pixels. */
static void horizontal(const uint8_t *src, uint32_t sw, uint32_t rows, uint8_t *dst, uint32_t dw,
                       const axis_weights *hx, mhi_v4 *line) {
    for (uint32_t y = 0; y < rows; y++) {
        const uint8_t *in = src + (size_t)y * sw * 3;
        for (uint32_t x = 0; x < sw; x++)
            line[x] = (mhi_v4){(float)in[x * 3], (float)in[x * 3 + 1], (float)in[x * 3 + 2], 0.0f};
        uint8_t *o = dst + (size_t)y * dw * 3;
        for (uint32_t x = 0; x < dw; x++) {
            const float *w = hx->weights + (size_t)x * hx->taps;
            const mhi_v4 *p = line + hx->first[x];
            const uint32_t n = hx->count[x];
            mhi_v4 acc = {0, 0, 0, 0};
            for (uint32_t k = 0; k < n; k++) acc += p[k] * w[k];
            o[x * 3] = to_u8(acc[0]);
            o[x * 3 + 1] = to_u8(acc[1]);
            o[x * 3 + 2] = to_u8(acc[2]);
        }
    }
}

/* Resamples columns to dh rows; `src` holds the input rows from `row_offset` on (vy->first is absolute). */
static void vertical(const uint8_t *src, uint32_t width, uint32_t row_offset, uint8_t *dst, uint32_t dh,
                     const axis_weights *vy, float *acc) {
    const size_t stride = (size_t)width * 3;
    for (uint32_t y = 0; y < dh; y++) {
        const float *w = vy->weights + (size_t)y * vy->taps;
        const uint8_t *base = src + (size_t)(vy->first[y] - row_offset) * stride;
        memset(acc, 0, sizeof(float) * stride);
        for (uint32_t k = 0; k < vy->count[y]; k++) {
            const float wk = w[k];
            const uint8_t *r = base + (size_t)k * stride;
            for (size_t i = 0; i < stride; i++) acc[i] += wk * (float)r[i];
        }
        uint8_t *out = dst + (size_t)y * stride;
        for (size_t i = 0; i < stride; i++) out[i] = to_u8(acc[i]);
    }
}

int mhi_resize_lanczos3(const uint8_t *src, uint32_t sw, uint32_t sh, uint8_t *dst, uint32_t dw, uint32_t dh) {
    if (src == NULL || dst == NULL || sw == 0 || sh == 0 || dw == 0 || dh == 0) return MHI_BAD_INPUT;
    if (sw == dw && sh == dh) { memcpy(dst, src, (size_t)sw * sh * 3); return MHI_OK; }
    axis_weights hx = {0, NULL, NULL, NULL}, vy = {0, NULL, NULL, NULL};
    uint8_t *tmp = NULL;
    float *acc = NULL;
    mhi_v4 *line = NULL;
    int rc = MHI_NO_MEMORY;
    if (sw != dw && make_axis(sw, dw, &hx) != MHI_OK) goto done;
    if (sh != dh && make_axis(sh, dh, &vy) != MHI_OK) goto done;
    acc = (float *)malloc(sizeof(float) * 3 * (size_t)(sw > dw ? sw : dw));
    line = (mhi_v4 *)malloc(sizeof(mhi_v4) * sw);
    if (acc == NULL || line == NULL) goto done;
    if (sh == dh) { horizontal(src, sw, sh, dst, dw, &hx, line); rc = MHI_OK; goto done; }
    if (sw == dw) { vertical(src, sw, 0, dst, dh, &vy, acc); rc = MHI_OK; goto done; }
    if (dw > sw && dh < sh) {
        /* Widening while shortening: shorten first (fewer rows to widen), as Pillow does. */
        tmp = mhi_alloc_pixels(sw, dh, 3);
        if (tmp == NULL) goto done;
        vertical(src, sw, 0, tmp, dh, &vy, acc);
        horizontal(tmp, sw, dh, dst, dw, &hx, line);
    } else {
        /* Only the input rows that some output row reads need the horizontal pass. */
        const uint32_t row_lo = vy.first[0], row_hi = vy.first[dh - 1] + vy.count[dh - 1];
        tmp = mhi_alloc_pixels(dw, row_hi - row_lo, 3);
        if (tmp == NULL) goto done;
        horizontal(src + (size_t)row_lo * sw * 3, sw, row_hi - row_lo, tmp, dw, &hx, line);
        vertical(tmp, dw, row_lo, dst, dh, &vy, acc);
    }
    rc = MHI_OK;
done:
    free(tmp);
    free(acc);
    free(line);
    free_axis(&hx);
    free_axis(&vy);
    return rc;
}
