/*
 * modelhost_text_decoder.h: the text decoder kind ("mh.text_decoder.v1"): logits from tokens or embeddings, batched over sequences.
 *
 * Part of the ModelHost plugin ABI, version 1; read modelhost_common.h first (conventions, threading tags, struct
 * sizes, the host services and the plugin descriptor are there).
 */
#ifndef MODELHOST_TEXT_DECODER_H
#define MODELHOST_TEXT_DECODER_H

#include "modelhost_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Text decoder: "mh.text_decoder.v1" ---------------------------------------------------------------------- */

typedef struct mh_decoder_model mh_decoder_model;   /* opaque, plugin-owned */
typedef struct mh_sequence mh_sequence;             /* opaque: one sequence's state (KV cache) */

typedef struct mh_decoder_info {
    uint32_t struct_size;
    uint32_t vocab_size;           /* length of one logits row */
    uint32_t embedding_length;     /* length of one input embedding row (MH_CAP_EMBEDDING_INPUT) */
    uint32_t context_length;       /* the most tokens one sequence can hold */
    uint32_t max_batch_tokens;     /* the most tokens one forward call may carry in total (0 = no limit) */
    uint32_t reserved;
} mh_decoder_info;

enum mh_logits_mode {
    MH_LOGITS_LAST = 0,            /* one row: after the entry's last position */
    MH_LOGITS_ALL = 1,             /* n_tokens rows (requires MH_CAP_LOGITS_ALL) */
    MH_LOGITS_NONE = 2             /* no logits (e.g. a prefill chunk that is not the last) */
};

/* Work for one sequence within a forward call. Exactly one of `tokens` and `embeddings` is non-NULL. The positions
 * continue the sequence: the entry's first token goes to position seq_length(seq). */
typedef struct mh_batch_entry {
    uint32_t struct_size;
    uint32_t n_tokens;             /* >= 1 */
    mh_sequence *seq;
    const int32_t *tokens;         /* n_tokens ids, each < vocab_size */
    const float *embeddings;       /* n_tokens * embedding_length floats, row-major */
    uint32_t logits_mode;          /* enum mh_logits_mode */
    uint32_t reserved;
    float *logits;                 /* caller-owned: vocab_size floats (LAST) or n_tokens * vocab_size (ALL) */
} mh_batch_entry;

typedef struct mh_batch {
    uint32_t struct_size;
    uint32_t n_entries;            /* >= 1; each sequence appears at most once */
    const mh_batch_entry *entries; /* borrowed; entries[0].struct_size bytes apart: use MH_BATCH_ENTRY_AT */
    uint64_t cancel_token;
} mh_batch;

/* The i-th entry of `batch` (i < n_entries), at the caller's stride, which is entries[0].struct_size (check that it
 * is >= MH_BATCH_ENTRY_SIZE_1_0 first) and may differ from this header's sizeof(mh_batch_entry). */
#define MH_BATCH_ENTRY_AT(batch, i) \
    ((const mh_batch_entry *)(const void *)((const char *)(batch)->entries + \
                                            (size_t)(i) * (size_t)(batch)->entries[0].struct_size))

typedef struct mh_text_decoder_v1 {
    uint32_t struct_size;
    uint32_t reserved;

    /* Opens a model from the host's weights service. May take seconds; polls desc->cancel_token. Rejects weights it
     * cannot use (missing tensors, unsupported dtypes, inconsistent shapes) with MH_ERR_BAD_MODEL or
     * MH_ERR_UNSUPPORTED and a message naming the tensor. [load-thread] */
    int32_t (*model_open)(void *plugin_ctx, const mh_model_desc *desc, mh_decoder_model **out, mh_status *st);

    /* Destroys the model; every sequence of it is destroyed before. [object-serial] */
    void (*model_close)(mh_decoder_model *model);

    /* [any-thread] */
    int32_t (*model_info)(const mh_decoder_model *model, mh_decoder_info *out, mh_status *st);

    /* Creates an empty sequence able to hold `capacity` tokens (<= context_length). [object-serial on the model] */
    int32_t (*seq_create)(mh_decoder_model *model, uint32_t capacity, mh_sequence **out, mh_status *st);

    /* Destroys a sequence and returns its memory; NULL is a no-op. [object-serial on the model] */
    void (*seq_destroy)(mh_sequence *seq);

    /* Number of positions the sequence holds. [object-serial on the sequence] */
    uint32_t (*seq_length)(const mh_sequence *seq);

    /* Keeps the first `n_keep` positions and forgets the rest (n_keep <= length), so a new request that shares a
     * prefix continues from there. [object-serial on the sequence] */
    int32_t (*seq_truncate)(mh_sequence *seq, uint32_t n_keep, mh_status *st);

    /* Advances every sequence in the batch and writes logits as each entry asks. Either every entry advances or, on
     * error, none does (lengths are unchanged). Returns MH_ERR_CANCELLED if batch->cancel_token fired.
     * [object-serial on the model and on every sequence in the batch] */
    int32_t (*forward)(mh_decoder_model *model, const mh_batch *batch, mh_status *st);

    /* ---- ABI 1.1: read only when MH_HAS_FIELD(table, mh_text_decoder_v1, seq_copy), the pointer is non-NULL and the
     * plugin declares MH_CAP_SEQ_COPY. ---- */

    /* Makes `dst` hold exactly the first `n` positions of `src`, replacing whatever `dst` held (n <= seq_length(src),
     * n <= the capacity `dst` was created with); `src` is unchanged. Both belong to the same model and are distinct.
     * Lets many requests that share a prompt prefix (a system prompt) start from one computed copy of it at once,
     * where seq_truncate can hand a prefix to one request only. On error `dst` is unchanged or empty (length 0).
     * [object-serial on the model and on both sequences] */
    int32_t (*seq_copy)(mh_sequence *dst, const mh_sequence *src, uint32_t n, mh_status *st);
} mh_text_decoder_v1;

/* Layout fences: frozen for ABI 1.0 (see modelhost_common.h, section 6). */
MH_FENCE_SIZE(mh_decoder_info, reserved, MH_DECODER_INFO_SIZE_1_0);
MH_STATIC_ASSERT(offsetof(mh_batch_entry, seq) == 8 && offsetof(mh_batch_entry, logits) == 40,
                 "mh_batch_entry 1.0 layout");
MH_FENCE_SIZE(mh_batch_entry, logits, MH_BATCH_ENTRY_SIZE_1_0);
MH_FENCE_SIZE(mh_batch, cancel_token, MH_BATCH_SIZE_1_0);
MH_STATIC_ASSERT(offsetof(mh_text_decoder_v1, model_open) == 8 && offsetof(mh_text_decoder_v1, seq_copy) == 72,
                 "mh_text_decoder_v1 1.1 layout (1.0 ends at seq_copy)");
MH_FENCE_SIZE(mh_text_decoder_v1, forward, MH_TEXT_DECODER_V1_SIZE_1_0);

#ifdef __cplusplus
} /* extern "C" */
#endif
#endif /* MODELHOST_TEXT_DECODER_H */
