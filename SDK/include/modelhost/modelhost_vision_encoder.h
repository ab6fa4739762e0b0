/*
 * modelhost_vision_encoder.h: the vision encoder kind ("mh.vision_encoder.v1"): image embeddings for a decoder.
 *
 * Part of the ModelHost plugin ABI, version 1; read modelhost_common.h first (conventions, threading tags, struct
 * sizes, the host services and the plugin descriptor are there).
 */
#ifndef MODELHOST_VISION_ENCODER_H
#define MODELHOST_VISION_ENCODER_H

#include "modelhost_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Vision encoder: "mh.vision_encoder.v1" ------------------------------------------------------------------ */

typedef struct mh_vision_model mh_vision_model;

typedef struct mh_vision_info {
    uint32_t struct_size;
    uint32_t image_size;           /* square input side in pixels the encoder expects */
    uint32_t tokens_per_image;     /* embeddings produced per input image (after the connector) */
    uint32_t embedding_length;     /* must equal the decoder's embedding_length */
    float image_mean[3];
    float image_std[3];
} mh_vision_info;

typedef struct mh_vision_encoder_v1 {
    uint32_t struct_size;
    uint32_t reserved;
    /* Opens the encoder and connector from the host's weights service (e.g. an mmproj GGUF). [load-thread] */
    int32_t (*model_open)(void *plugin_ctx, const mh_model_desc *desc, mh_vision_model **out, mh_status *st);
    /* NULL is a no-op. [object-serial] */
    void (*model_close)(mh_vision_model *model);
    /* [any-thread] */
    int32_t (*model_info)(const mh_vision_model *model, mh_vision_info *out, mh_status *st);
    /* pixels: F32 [n_images, 3, image_size, image_size], normalized. out: caller-owned, n_images * tokens_per_image *
     * embedding_length floats (out_capacity counts floats). [object-serial] */
    int32_t (*encode)(mh_vision_model *model, const mh_tensor *pixels, float *out, uint64_t out_capacity,
                      uint64_t cancel_token, mh_status *st);
} mh_vision_encoder_v1;

/* Layout fences: frozen for ABI 1.0 (see modelhost_common.h, section 6). */
MH_FENCE_SIZE(mh_vision_encoder_v1, encode, MH_VISION_ENCODER_V1_SIZE_1_0);
MH_FENCE_SIZE(mh_vision_info, image_std, MH_VISION_INFO_SIZE_1_0);

#ifdef __cplusplus
} /* extern "C" */
#endif
#endif /* MODELHOST_VISION_ENCODER_H */
