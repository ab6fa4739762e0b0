/*
 * bigram_decoder.c: a complete ModelHost text decoder plugin in plain C, against SDK/include alone.
 *
 * The "model" is a bigram table: tensor "bigram.logits", F32, shape [vocab, vocab], where row j holds the logits of
 * the token that follows token j. A sequence's state at each position is a distribution over the vocabulary (a
 * one-hot row for a token input, the given row for an embedding input), so:
 *     logits(position p) = state(p) x bigram.logits
 * Small as it is, it exercises everything a real decoder does through the ABI: weights by name from the host's
 * weights service, metadata, accounted memory for per-sequence state, several sequences per forward call, embedding
 * input, truncation for prefix reuse, logits for the last or every position, cancellation, and error statuses.
 *
 * Build:  cc -std=c11 -O2 -fPIC -shared -fvisibility=hidden -I../../include -o libmh_bigram.so bigram_decoder.c
 */
#include "modelhost/modelhost_plugin.h"

#include <stdlib.h>

#define PLUGIN_ID "org.modelhost.example.bigram"
#define PLUGIN_VERSION "1.0.0"

/* ---- objects ---------------------------------------------------------------------------------------------- */

typedef struct plugin_ctx {
    const mh_host_v1 *host;
} plugin_ctx;

struct mh_decoder_model {
    plugin_ctx *plugin;
    const float *table;      /* [vocab, vocab], a read-only view into the mapped model file */
    uint32_t vocab;
    uint32_t context;
    uint32_t live_sequences;
};

struct mh_sequence {
    struct mh_decoder_model *model;
    uint32_t capacity;
    uint32_t length;
    float *states;           /* capacity x vocab, from the host's accounted allocator */
};

static void host_log(const plugin_ctx *p, int32_t level, const char *msg) {
    if (p && p->host && p->host->log) p->host->log(p->host->host_ctx, level, msg);
}

/* ---- plugin-level functions ------------------------------------------------------------------------------- */

/* [load-thread] Pure: looks at the query only. */
static int32_t bigram_probe(const mh_host_v1 *host, const mh_probe_query *q, int32_t *score, mh_status *st) {
    (void)host;
    if (q == NULL || score == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "probe: query and score are required");
    if (q->struct_size < MH_PROBE_QUERY_SIZE_1_0)
        return mh_status_set(st, MH_ERR_INVALID_ARG, "probe: mh_probe_query.struct_size %u is too small", q->struct_size);
    *score = (q->kind == MH_KIND_TEXT_DECODER && q->family != NULL && strcmp(q->family, "bigram") == 0) ? 1 : 0;
    return MH_OK;
}

/* [load-thread] */
static int32_t bigram_init(const mh_host_v1 *host, void **out, mh_status *st) {
    if (host == NULL || out == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "init: host and out are required");
    plugin_ctx *p = (plugin_ctx *)calloc(1, sizeof(plugin_ctx));
    if (p == NULL) return mh_status_set(st, MH_ERR_OUT_OF_MEMORY, "init: out of memory");
    p->host = host;
    *out = p;
    return MH_OK;
}

/* [load-thread] No threads to join in this plugin. */
static void bigram_shutdown(void *ctx) { free(ctx); }

/* ---- the text decoder interface --------------------------------------------------------------------------- */

static int32_t read_uint_meta(const mh_weights_v1 *w, const char *key, uint64_t *out, mh_status *st) {
    mh_value v;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    int32_t rc = w->get_meta(w->ctx, key, &v, st);
    if (rc != MH_OK) return mh_status_set(st, MH_ERR_BAD_MODEL, "the model has no metadata key '%s'", key);
    if (v.type == MH_VALUE_UINT) *out = v.u64;
    else if (v.type == MH_VALUE_INT && v.i64 >= 0) *out = (uint64_t)v.i64;
    else return mh_status_set(st, MH_ERR_BAD_MODEL, "metadata '%s' is not a non-negative integer", key);
    return MH_OK;
}

/* [load-thread] */
static int32_t bigram_model_open(void *ctx, const mh_model_desc *desc, mh_decoder_model **out, mh_status *st) {
    if (ctx == NULL || desc == NULL || out == NULL)
        return mh_status_set(st, MH_ERR_INVALID_ARG, "model_open: ctx, desc and out are required");
    /* Sizes are checked against ABI 1.0's, never sizeof(): a host built before a later minor grew these structs must
     * still be accepted by this plugin rebuilt against the newer header. */
    if (desc->struct_size < MH_MODEL_DESC_SIZE_1_0 || desc->weights == NULL ||
        desc->weights->struct_size < MH_WEIGHTS_V1_SIZE_1_0)
        return mh_status_set(st, MH_ERR_INVALID_ARG, "model_open: desc or its weights table is too small or NULL");
    const mh_weights_v1 *w = desc->weights;

    uint64_t vocab = 0, context = 0;
    int32_t rc = read_uint_meta(w, "bigram.vocab_size", &vocab, st);
    if (rc != MH_OK) return rc;
    rc = read_uint_meta(w, "bigram.context_length", &context, st);
    if (rc != MH_OK) return rc;
    if (vocab == 0 || vocab > 65536 || context == 0 || context > (1u << 20))
        return mh_status_set(st, MH_ERR_BAD_MODEL, "bigram.vocab_size %llu or context_length %llu is out of range",
                             (unsigned long long)vocab, (unsigned long long)context);

    mh_tensor t;
    memset(&t, 0, sizeof t);
    t.struct_size = sizeof t;
    rc = w->get_tensor(w->ctx, "bigram.logits", &t, st);
    if (rc != MH_OK) return mh_status_set(st, MH_ERR_BAD_MODEL, "the model has no tensor 'bigram.logits'");
    if (t.dtype != MH_DTYPE_F32 || t.ndim != 2 || t.shape[0] != (int64_t)vocab || t.shape[1] != (int64_t)vocab ||
        t.stride_bytes[1] != 4 || t.stride_bytes[0] != (int64_t)(vocab * 4) || t.nbytes < vocab * vocab * 4)
        return mh_status_set(st, MH_ERR_BAD_MODEL, "tensor 'bigram.logits' must be F32 [%llu, %llu], contiguous",
                             (unsigned long long)vocab, (unsigned long long)vocab);

    struct mh_decoder_model *m = (struct mh_decoder_model *)calloc(1, sizeof *m);
    if (m == NULL) return mh_status_set(st, MH_ERR_OUT_OF_MEMORY, "model_open: out of memory");
    m->plugin = (plugin_ctx *)ctx;
    m->table = (const float *)t.data;
    m->vocab = (uint32_t)vocab;
    m->context = (uint32_t)context;
    host_log(m->plugin, MH_LOG_INFO, "bigram model opened");
    *out = m;
    return MH_OK;
}

/* [object-serial] The host destroys every sequence first. */
static void bigram_model_close(mh_decoder_model *m) { free(m); }

/* [any-thread] */
static int32_t bigram_model_info(const mh_decoder_model *m, mh_decoder_info *out, mh_status *st) {
    if (m == NULL || out == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "model_info: model and out are required");
    if (out->struct_size < MH_DECODER_INFO_SIZE_1_0)
        return mh_status_set(st, MH_ERR_INVALID_ARG, "model_info: mh_decoder_info.struct_size is too small");
    out->vocab_size = m->vocab;
    out->embedding_length = m->vocab;
    out->context_length = m->context;
    out->max_batch_tokens = 0;
    return MH_OK;
}

/* [object-serial on the model] */
static int32_t bigram_seq_create(mh_decoder_model *m, uint32_t capacity, mh_sequence **out, mh_status *st) {
    if (m == NULL || out == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "seq_create: model and out are required");
    if (capacity == 0 || capacity > m->context)
        return mh_status_set(st, MH_ERR_INVALID_ARG, "seq_create: capacity %u is outside 1..%u", capacity, m->context);
    const mh_host_v1 *host = m->plugin->host;
    struct mh_sequence *s = (struct mh_sequence *)calloc(1, sizeof *s);
    if (s == NULL) return mh_status_set(st, MH_ERR_OUT_OF_MEMORY, "seq_create: out of memory");
    s->states = (float *)host->alloc(host->host_ctx, (uint64_t)capacity * m->vocab * sizeof(float), 64);
    if (s->states == NULL) {
        free(s);
        return mh_status_set(st, MH_ERR_OUT_OF_MEMORY, "seq_create: the host refused %u x %u floats", capacity, m->vocab);
    }
    s->model = m;
    s->capacity = capacity;
    m->live_sequences++;
    *out = s;
    return MH_OK;
}

/* [object-serial on the sequence] */
static void bigram_seq_destroy(mh_sequence *s) {
    if (s == NULL) return;
    const mh_host_v1 *host = s->model->plugin->host;
    host->free(host->host_ctx, s->states);
    s->model->live_sequences--;
    free(s);
}

static uint32_t bigram_seq_length(const mh_sequence *s) { return s ? s->length : 0; }

static int32_t bigram_seq_truncate(mh_sequence *s, uint32_t n_keep, mh_status *st) {
    if (s == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "seq_truncate: sequence is required");
    if (n_keep > s->length)
        return mh_status_set(st, MH_ERR_INVALID_ARG, "seq_truncate: cannot keep %u of %u positions", n_keep, s->length);
    s->length = n_keep;   /* states beyond n_keep are simply overwritten later */
    return MH_OK;
}

static void logits_for_state(const struct mh_decoder_model *m, const float *state, float *out) {
    const uint32_t v = m->vocab;
    for (uint32_t k = 0; k < v; k++) out[k] = 0.0f;
    for (uint32_t j = 0; j < v; j++) {
        const float w = state[j];
        if (w == 0.0f) continue;
        const float *row = m->table + (size_t)j * v;
        for (uint32_t k = 0; k < v; k++) out[k] += w * row[k];
    }
}

/* [object-serial on the model and every sequence in the batch] All or nothing: everything is validated before any
 * sequence changes. */
static int32_t bigram_forward(mh_decoder_model *m, const mh_batch *batch, mh_status *st) {
    if (m == NULL || batch == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "forward: model and batch are required");
    if (batch->struct_size < MH_BATCH_SIZE_1_0 || batch->n_entries == 0 || batch->entries == NULL ||
        batch->entries[0].struct_size < MH_BATCH_ENTRY_SIZE_1_0)
        return mh_status_set(st, MH_ERR_INVALID_ARG, "forward: the batch is empty or malformed");
    const mh_host_v1 *host = m->plugin->host;
    for (uint32_t i = 0; i < batch->n_entries; i++) {
        const mh_batch_entry *e = MH_BATCH_ENTRY_AT(batch, i);   /* the host's stride, not this header's sizeof */
        if (e->struct_size < MH_BATCH_ENTRY_SIZE_1_0 || e->seq == NULL || e->seq->model != m || e->n_tokens == 0)
            return mh_status_set(st, MH_ERR_INVALID_ARG, "forward: entry %u is malformed", i);
        if ((e->tokens == NULL) == (e->embeddings == NULL))
            return mh_status_set(st, MH_ERR_INVALID_ARG, "forward: entry %u must set exactly one of tokens and embeddings", i);
        if ((uint64_t)e->seq->length + e->n_tokens > e->seq->capacity)
            return mh_status_set(st, MH_ERR_INVALID_ARG, "forward: entry %u overflows its sequence (%u + %u > %u)", i,
                                 e->seq->length, e->n_tokens, e->seq->capacity);
        if (e->logits_mode > MH_LOGITS_NONE || (e->logits_mode != MH_LOGITS_NONE && e->logits == NULL))
            return mh_status_set(st, MH_ERR_INVALID_ARG, "forward: entry %u has a bad logits mode or buffer", i);
        for (uint32_t t = 0; e->tokens && t < e->n_tokens; t++)
            if (e->tokens[t] < 0 || (uint32_t)e->tokens[t] >= m->vocab)
                return mh_status_set(st, MH_ERR_INVALID_ARG, "forward: token %d is outside 0..%u", e->tokens[t], m->vocab - 1);
        for (uint32_t j = 0; j < i; j++)
            if (MH_BATCH_ENTRY_AT(batch, j)->seq == e->seq)
                return mh_status_set(st, MH_ERR_INVALID_ARG, "forward: a sequence appears twice (entry %u)", i);
    }
    /* Checked before any sequence moves, so "all or nothing" holds. */
    if (host->is_cancelled(host->host_ctx, batch->cancel_token))
        return mh_status_set(st, MH_ERR_CANCELLED, "forward: cancelled");
    for (uint32_t i = 0; i < batch->n_entries; i++) {
        const mh_batch_entry *e = MH_BATCH_ENTRY_AT(batch, i);
        struct mh_sequence *s = e->seq;
        const uint32_t v = m->vocab;
        for (uint32_t t = 0; t < e->n_tokens; t++) {
            float *state = s->states + (size_t)(s->length + t) * v;
            if (e->tokens) {
                for (uint32_t k = 0; k < v; k++) state[k] = 0.0f;
                state[e->tokens[t]] = 1.0f;
            } else {
                memcpy(state, e->embeddings + (size_t)t * v, v * sizeof(float));
            }
            if (e->logits_mode == MH_LOGITS_ALL) logits_for_state(m, state, e->logits + (size_t)t * v);
            else if (e->logits_mode == MH_LOGITS_LAST && t + 1 == e->n_tokens) logits_for_state(m, state, e->logits);
        }
        s->length += e->n_tokens;
    }
    return MH_OK;
}

/* Designated initializers: functions appended by later ABI minors (seq_copy in 1.1) stay NULL, which the host reads
 * as "not implemented", and the table still compiles warning-free against newer headers. */
static const mh_text_decoder_v1 decoder_table = {
    .struct_size = sizeof(mh_text_decoder_v1),
    .model_open = bigram_model_open,
    .model_close = bigram_model_close,
    .model_info = bigram_model_info,
    .seq_create = bigram_seq_create,
    .seq_destroy = bigram_seq_destroy,
    .seq_length = bigram_seq_length,
    .seq_truncate = bigram_seq_truncate,
    .forward = bigram_forward,
};

/* [any-thread] */
static const void *bigram_get_interface(void *ctx, const char *iid) {
    (void)ctx;
    if (iid != NULL && strcmp(iid, MH_IID_TEXT_DECODER_V1) == 0) return &decoder_table;
    return NULL;
}

/* Designated initializers here too, for the same reason. */
static const mh_plugin_v1 descriptor = {
    .struct_size = sizeof(mh_plugin_v1),
    .abi_major = MH_ABI_MAJOR,
    .abi_minor_built = MH_ABI_MINOR,
    .abi_minor_required = 0,   /* uses nothing newer than 1.0 from the host */
    .kind = MH_KIND_TEXT_DECODER,
    .id = PLUGIN_ID,
    .version = PLUGIN_VERSION,
    .runtime_tag = "c",
    .build_info = "example bigram decoder, plain C11",
    .capabilities = MH_CAP_BATCHED_DECODE | MH_CAP_EMBEDDING_INPUT | MH_CAP_SEQ_TRUNCATE | MH_CAP_LOGITS_ALL |
                    MH_CAP_CONCURRENT_OBJECTS,
    .probe = bigram_probe,
    .init = bigram_init,
    .shutdown = bigram_shutdown,
    .get_interface = bigram_get_interface,
};

/* The one exported symbol. [load-thread] */
MH_EXPORT int32_t mh_plugin_entry_v1(const mh_host_v1 *host, const mh_plugin_v1 **out, mh_status *st) {
    if (host == NULL || out == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "entry: host and out are required");
    if (host->struct_size < MH_HOST_V1_SIZE_1_0 || host->abi_major != MH_ABI_MAJOR)
        return mh_status_set(st, MH_ERR_INCOMPATIBLE, PLUGIN_ID " implements ABI %d; the host offers ABI %u",
                             MH_ABI_MAJOR, host->abi_major);
    *out = &descriptor;
    return MH_OK;
}
