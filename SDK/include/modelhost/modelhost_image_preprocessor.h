/*
 * modelhost_image_preprocessor.h: the image preprocessor kind ("mh.image_preprocessor.v1"): encoded images to model-ready pixels.
 *
 * Part of the ModelHost plugin ABI, version 1; read modelhost_common.h first (conventions, threading tags, struct
 * sizes, the host services and the plugin descriptor are there).
 */
#ifndef MODELHOST_IMAGE_PREPROCESSOR_H
#define MODELHOST_IMAGE_PREPROCESSOR_H

#include "modelhost_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Image preprocessor: "mh.image_preprocessor.v1" ---------------------------------------------------------- */

typedef struct mh_preprocessor mh_preprocessor;     /* opaque: configured for one model */
typedef struct mh_pixels mh_pixels;                 /* opaque: one processed image, plugin-owned */

typedef struct mh_image_info {
    uint32_t struct_size;
    uint32_t width;
    uint32_t height;
    uint32_t channels;
    char format[16];               /* "png", "jpeg", "webp", "gif" */
} mh_image_info;

/* How the model wants its pixels. */
typedef struct mh_preprocess_config {
    uint32_t struct_size;
    uint32_t max_dimension;        /* longest side after the auto-resize (0 = no auto-resize) */
    uint32_t image_size;           /* model input side; tiles are image_size x image_size */
    uint32_t max_tiles;            /* 0 = no tiling (one resized image) */
    float image_mean[3];
    float image_std[3];
    float rescale;                 /* usually 1/255 */
    uint32_t reserved;
    uint64_t max_pixels;           /* refuse larger images before decoding (decompression bombs) */
} mh_preprocess_config;

/* The layout of processed pixels: F32 [n_tiles, 3, image_size, image_size]; the global image comes last when tiles
 * are used. */
typedef struct mh_pixels_info {
    uint32_t struct_size;
    uint32_t tile_rows;
    uint32_t tile_cols;
    uint32_t n_images;             /* tile_rows * tile_cols (+1 for the global image when tiling) */
} mh_pixels_info;

typedef struct mh_image_preprocessor_v1 {
    uint32_t struct_size;
    uint32_t reserved;
    /* Configures a preprocessor for one model. [load-thread] */
    int32_t (*create)(void *plugin_ctx, const mh_preprocess_config *config, mh_preprocessor **out, mh_status *st);
    /* NULL is a no-op. [object-serial] */
    void (*destroy)(mh_preprocessor *pp);
    /* Reads only the header: dimensions and format, in bounded time and memory. [any-thread] */
    int32_t (*inspect)(mh_preprocessor *pp, const uint8_t *bytes, uint64_t length, mh_image_info *out,
                       mh_status *st);
    /* Decodes, orients, converts, resizes and normalizes one image. MH_ERR_BAD_INPUT for a corrupt or oversized
     * image. [object-serial] */
    int32_t (*process)(mh_preprocessor *pp, const uint8_t *bytes, uint64_t length, mh_pixels **out, mh_status *st);
    /* Read-only view of processed pixels, valid until release. [any-thread] */
    int32_t (*pixels_view)(const mh_pixels *px, mh_tensor *out_tensor, mh_pixels_info *out_info, mh_status *st);
    /* Frees processed pixels; NULL is a no-op. [any-thread, once per mh_pixels] */
    void (*pixels_release)(mh_pixels *px);
} mh_image_preprocessor_v1;

/* Layout fences: frozen for ABI 1.0 (see modelhost_common.h, section 6). */
MH_FENCE_SIZE(mh_image_info, format, MH_IMAGE_INFO_SIZE_1_0);
MH_FENCE_SIZE(mh_preprocess_config, max_pixels, MH_PREPROCESS_CONFIG_SIZE_1_0);
MH_FENCE_SIZE(mh_pixels_info, n_images, MH_PIXELS_INFO_SIZE_1_0);
MH_FENCE_SIZE(mh_image_preprocessor_v1, pixels_release, MH_IMAGE_PREPROCESSOR_V1_SIZE_1_0);

#ifdef __cplusplus
} /* extern "C" */
#endif
#endif /* MODELHOST_IMAGE_PREPROCESSOR_H */
