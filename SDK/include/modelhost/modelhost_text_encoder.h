/*
 * modelhost_text_encoder.h: the text encoder kind ("mh.text_encoder.v1"): one embedding vector per input text, for
 * retrieval and similarity (/v1/embeddings). Added in ABI 1.2.
 *
 * Part of the ModelHost plugin ABI, version 1; read modelhost_common.h first (conventions, threading tags, struct
 * sizes, the host services and the plugin descriptor are there).
 *
 * Division of work. The host tokenizes (with the model's own tokenizer, special tokens such as [CLS] ... [SEP]
 * included), enforces the context length, batches inputs from several requests into one call, and renders the
 * results. The plugin runs the encoder over every input of a call and reduces each input's token states to one vector
 * as the model's files say (pooling, then L2 normalisation when the model was trained for cosine similarity): that is
 * model knowledge, so it lives here, reported back through mh_encoder_info.
 *
 * Compatibility. A text encoder plugin sets abi_minor_required = 2 and abi.minor = 2 in its manifest: a host older
 * than 1.2 has no such kind and refuses the plugin before loading it. Plugins of the other kinds are unaffected.
 */
#ifndef MODELHOST_TEXT_ENCODER_H
#define MODELHOST_TEXT_ENCODER_H

#include "modelhost_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Text encoder: "mh.text_encoder.v1" ---------------------------------------------------------------------- */

typedef struct mh_encoder_model mh_encoder_model;   /* opaque, plugin-owned */

/* How token states become one vector. */
enum mh_pooling {
    MH_POOLING_MEAN = 1,           /* average over the input's tokens (special tokens included, as trained) */
    MH_POOLING_CLS = 2,            /* the first token's state */
    MH_POOLING_LAST = 3,           /* the last token's state (decoder-style embedding models) */
    MH_POOLING_MAX = 4             /* element-wise maximum over the tokens */
};

typedef struct mh_encoder_info {
    uint32_t struct_size;
    uint32_t embedding_length;     /* floats per output vector */
    uint32_t context_length;       /* the most tokens one input may have, special tokens included */
    uint32_t max_batch_tokens;     /* the most tokens one encode call may carry in total (0 = no limit) */
    uint32_t vocab_size;           /* every input id is below this */
    uint32_t pooling;              /* enum mh_pooling: what the plugin applies */
    uint32_t normalized;           /* 1 when every output vector has unit L2 length */
    uint32_t reserved;
} mh_encoder_info;

/* One input text, already tokenized. */
typedef struct mh_encoder_input {
    uint32_t struct_size;
    uint32_t n_tokens;             /* 1 .. context_length */
    const int32_t *tokens;         /* n_tokens ids, each < vocab_size */
    const int32_t *token_types;    /* n_tokens segment ids (BERT's token_type_ids), or NULL for all 0 */
} mh_encoder_input;

/* The i-th input of `batch` (i < n_inputs), at the caller's stride, which is inputs[0].struct_size (check that it is
 * >= MH_ENCODER_INPUT_SIZE_1_2 first) and may differ from this header's sizeof(mh_encoder_input). */
#define MH_ENCODER_INPUT_AT(batch, i) \
    ((const mh_encoder_input *)(const void *)((const char *)(batch)->inputs + \
                                              (size_t)(i) * (size_t)(batch)->inputs[0].struct_size))

typedef struct mh_encoder_batch {
    uint32_t struct_size;
    uint32_t n_inputs;             /* >= 1 */
    const mh_encoder_input *inputs;/* borrowed; inputs[0].struct_size bytes apart: use MH_ENCODER_INPUT_AT */
    float *out;                    /* caller-owned: row i (embedding_length floats) is input i's vector */
    uint64_t out_capacity;         /* floats available at out: at least n_inputs * embedding_length */
    uint64_t cancel_token;         /* poll host->is_cancelled between layers; MH_ERR_CANCELLED when it fires */
} mh_encoder_batch;

typedef struct mh_text_encoder_v1 {
    uint32_t struct_size;
    uint32_t reserved;
    /* Opens the encoder from the host's weights service (a Hugging Face folder or a GGUF file). [load-thread] */
    int32_t (*model_open)(void *plugin_ctx, const mh_model_desc *desc, mh_encoder_model **out, mh_status *st);
    /* NULL is a no-op. [object-serial] */
    void (*model_close)(mh_encoder_model *model);
    /* Fills `out` (caller sets out->struct_size; write with mh_copy_out). [any-thread] */
    int32_t (*model_info)(const mh_encoder_model *model, mh_encoder_info *out, mh_status *st);
    /* Encodes every input of `batch` into its row of batch->out. Inputs are independent: a row never depends on the
     * other inputs of the call or on how the host grouped them (padding, if the plugin pads, is masked out), so the
     * host may batch requests from different clients together. On an error no row is meaningful. [object-serial] */
    int32_t (*encode)(mh_encoder_model *model, const mh_encoder_batch *batch, mh_status *st);
} mh_text_encoder_v1;

/* The sizes ABI 1.2 gave this kind's structs (the least a reader accepts; see "Struct sizes" in modelhost_common.h). */
#define MH_ENCODER_INFO_SIZE_1_2 32u
#define MH_ENCODER_INPUT_SIZE_1_2 24u
#define MH_ENCODER_BATCH_SIZE_1_2 40u
#define MH_TEXT_ENCODER_V1_SIZE_1_2 40u

/* Layout fences: frozen for ABI 1.2. */
MH_FENCE_SIZE(mh_encoder_info, reserved, MH_ENCODER_INFO_SIZE_1_2);
MH_FENCE_SIZE(mh_encoder_input, token_types, MH_ENCODER_INPUT_SIZE_1_2);
MH_FENCE_SIZE(mh_encoder_batch, cancel_token, MH_ENCODER_BATCH_SIZE_1_2);
MH_FENCE_SIZE(mh_text_encoder_v1, encode, MH_TEXT_ENCODER_V1_SIZE_1_2);

#ifdef __cplusplus
} /* extern "C" */
#endif
#endif /* MODELHOST_TEXT_ENCODER_H */
