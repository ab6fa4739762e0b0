/* Shared by the decoders in this folder only. */
#ifndef MH_CODECS_INTERNAL_H
#define MH_CODECS_INTERNAL_H

#include "mh_image_codecs.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
static inline int mhi_fail(mhi_error *err, int code, const char *fmt, ...) {
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Reads little/big-endian integers without alignment assumptions. */
static inline uint32_t mhi_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint32_t mhi_le32(const uint8_t *p) {
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}
static inline uint16_t mhi_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

/* Flattens one straight-alpha pixel onto white, rounding to nearest. */
static inline uint8_t mhi_over_white(uint32_t c, uint32_t a) {
    return (uint8_t)((c * a + 255u * (255u - a) + 127u) / 255u);
}

/* Allocates width * height * channels bytes, or NULL on overflow or exhaustion. */
static inline uint8_t *mhi_alloc_pixels(uint32_t width, uint32_t height, uint32_t channels) {
    uint64_t n = (uint64_t)width * height * channels;
    if (n == 0 || n > (uint64_t)SIZE_MAX / 2) return NULL;
    return (uint8_t *)malloc((size_t)n);
}

/* Header readers and decoders, one per format; each writes RGB in stored orientation. */
int mhi_png_header(const uint8_t *data, size_t length, mhi_header *out, mhi_error *err);
int mhi_png_decode(const uint8_t *data, size_t length, mhi_image *out, mhi_error *err);
int mhi_jpeg_header(const uint8_t *data, size_t length, mhi_header *out, mhi_error *err);
int mhi_jpeg_decode(const uint8_t *data, size_t length, uint32_t min_width, uint32_t min_height, mhi_image *out,
                    mhi_error *err);
int mhi_webp_header(const uint8_t *data, size_t length, mhi_header *out, mhi_error *err);
int mhi_webp_decode(const uint8_t *data, size_t length, mhi_image *out, mhi_error *err);
int mhi_gif_header(const uint8_t *data, size_t length, mhi_header *out, mhi_error *err);
int mhi_gif_decode(const uint8_t *data, size_t length, uint64_t max_pixels, mhi_image *out, mhi_error *err);

/* EXIF: orientation 1..8 from a TIFF block ("II*\0" / "MM\0*", optionally preceded by "Exif\0\0"); 1 if absent. */
uint32_t mhi_exif_orientation(const uint8_t *tiff, size_t length);

/* Rewrites *image in display orientation (allocates a new buffer for orientations 2..8). */
int mhi_apply_orientation(mhi_image *image, uint32_t orientation, mhi_error *err);

#endif
