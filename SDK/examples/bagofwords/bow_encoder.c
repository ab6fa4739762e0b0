/*
 * bow_encoder.c: a complete ModelHost text encoder plugin (ABI 1.2) in plain C, against SDK/include alone.
 *
 * The "model" is a bag of word vectors: tensor "bow.embeddings", F32, shape [vocab, dim]. An input's vector is the
 * mean of its tokens' rows, scaled to unit length (mean pooling + normalisation, as sentence-transformers models
 * do). Small as it is, it shows what a real encoder does through the ABI: weights and metadata from the host's weights
 * service, batches of inputs at the host's stride, one vector per input that does not depend on the rest of the
 * batch, cancellation, and error statuses.
 *
 * Build:  cc -std=c11 -O2 -fPIC -shared -fvisibility=hidden -I../../include -o libmh_bow.so bow_encoder.c -lm
 */
#include "modelhost/modelhost_common.h"
#include "modelhost/modelhost_text_encoder.h"

#include <math.h>
#include <stdlib.h>

#define PLUGIN_ID "org.modelhost.example.bow"
#define PLUGIN_VERSION "1.0.0"

typedef struct plugin_ctx {
    const mh_host_v1 *host;
} plugin_ctx;

struct mh_encoder_model {
    plugin_ctx *plugin;
    const float *table;      /* [vocab, dim], a read-only view into the mapped model file */
    uint32_t vocab;
    uint32_t dim;
    uint32_t context;
};

/* [load-thread] Pure: looks at the query only. */
static int32_t bow_probe(const mh_host_v1 *host, const mh_probe_query *q, int32_t *score, mh_status *st) {
    (void)host;
    if (q == NULL || score == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "probe: query and score are required");
    if (q->struct_size < MH_PROBE_QUERY_SIZE_1_0)
        return mh_status_set(st, MH_ERR_INVALID_ARG, "probe: mh_probe_query.struct_size %u is too small", q->struct_size);
    *score = (q->kind == MH_KIND_TEXT_ENCODER && q->family != NULL && strcmp(q->family, "bow") == 0) ? 1 : 0;
    return MH_OK;
}

/* [load-thread] */
static int32_t bow_init(const mh_host_v1 *host, void **out, mh_status *st) {
    if (host == NULL || out == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "init: host and out are required");
    plugin_ctx *p = (plugin_ctx *)calloc(1, sizeof(plugin_ctx));
    if (p == NULL) return mh_status_set(st, MH_ERR_OUT_OF_MEMORY, "init: out of memory");
    p->host = host;
    *out = p;
    return MH_OK;
}

/* [load-thread] */
static void bow_shutdown(void *ctx) { free(ctx); }

/* [load-thread] */
static int32_t bow_model_open(void *ctx, const mh_model_desc *desc, mh_encoder_model **out, mh_status *st) {
    if (ctx == NULL || desc == NULL || out == NULL)
        return mh_status_set(st, MH_ERR_INVALID_ARG, "model_open: ctx, desc and out are required");
    if (desc->struct_size < MH_MODEL_DESC_SIZE_1_0 || desc->weights == NULL ||
        desc->weights->struct_size < MH_WEIGHTS_V1_SIZE_1_0)
        return mh_status_set(st, MH_ERR_INVALID_ARG, "model_open: desc or its weights table is too small or NULL");
    const mh_weights_v1 *w = desc->weights;

    mh_value v;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    if (w->get_meta(w->ctx, "bow.context_length", &v, st) != MH_OK ||
        !((v.type == MH_VALUE_UINT && v.u64 > 0 && v.u64 <= (1u << 20)) || (v.type == MH_VALUE_INT && v.i64 > 0 && v.i64 <= (1 << 20))))
        return mh_status_set(st, MH_ERR_BAD_MODEL, "the model needs metadata bow.context_length, a positive integer");
    uint32_t context = (uint32_t)(v.type == MH_VALUE_UINT ? v.u64 : (uint64_t)v.i64);

    mh_tensor t;
    memset(&t, 0, sizeof t);
    t.struct_size = sizeof t;
    if (w->get_tensor(w->ctx, "bow.embeddings", &t, st) != MH_OK)
        return mh_status_set(st, MH_ERR_BAD_MODEL, "the model has no tensor 'bow.embeddings'");
    if (t.dtype != MH_DTYPE_F32 || t.ndim != 2 || t.shape[0] < 1 || t.shape[1] < 1 || t.shape[1] > 65536 ||
        t.shape[0] > (1 << 24) || t.stride_bytes[1] != 4 || t.stride_bytes[0] != t.shape[1] * 4 ||
        t.nbytes < (uint64_t)(t.shape[0] * t.shape[1] * 4))
        return mh_status_set(st, MH_ERR_BAD_MODEL, "tensor 'bow.embeddings' must be F32 [vocab, dim], contiguous");

    struct mh_encoder_model *m = (struct mh_encoder_model *)calloc(1, sizeof *m);
    if (m == NULL) return mh_status_set(st, MH_ERR_OUT_OF_MEMORY, "model_open: out of memory");
    m->plugin = (plugin_ctx *)ctx;
    m->table = (const float *)t.data;
    m->vocab = (uint32_t)t.shape[0];
    m->dim = (uint32_t)t.shape[1];
    m->context = context;
    *out = m;
    return MH_OK;
}

/* [object-serial] */
static void bow_model_close(mh_encoder_model *m) { free(m); }

/* [any-thread] Filled in a struct of this header's size, then copied as far as the host's struct reaches. */
static int32_t bow_model_info(const mh_encoder_model *m, mh_encoder_info *out, mh_status *st) {
    if (m == NULL || out == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "model_info: model and out are required");
    if (out->struct_size < MH_ENCODER_INFO_SIZE_1_2)
        return mh_status_set(st, MH_ERR_INVALID_ARG, "model_info: mh_encoder_info.struct_size is too small");
    mh_encoder_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    info.embedding_length = m->dim;
    info.context_length = m->context;
    info.max_batch_tokens = 0;
    info.vocab_size = m->vocab;
    info.pooling = MH_POOLING_MEAN;
    info.normalized = 1;
    mh_copy_out(out, &info, sizeof info);
    return MH_OK;
}

/* [object-serial] All inputs are checked before any row is written. */
static int32_t bow_encode(mh_encoder_model *m, const mh_encoder_batch *b, mh_status *st) {
    if (m == NULL || b == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "encode: model and batch are required");
    if (b->struct_size < MH_ENCODER_BATCH_SIZE_1_2 || b->n_inputs == 0 || b->inputs == NULL || b->out == NULL ||
        b->inputs[0].struct_size < MH_ENCODER_INPUT_SIZE_1_2)
        return mh_status_set(st, MH_ERR_INVALID_ARG, "encode: the batch is empty or malformed");
    if (b->out_capacity < (uint64_t)b->n_inputs * m->dim)
        return mh_status_set(st, MH_ERR_INVALID_ARG, "encode: out holds %llu floats, %llu are needed",
                             (unsigned long long)b->out_capacity, (unsigned long long)b->n_inputs * m->dim);
    for (uint32_t i = 0; i < b->n_inputs; i++) {
        const mh_encoder_input *in = MH_ENCODER_INPUT_AT(b, i);   /* the host's stride, not this header's sizeof */
        if (in->n_tokens == 0 || in->n_tokens > m->context || in->tokens == NULL)
            return mh_status_set(st, MH_ERR_INVALID_ARG, "encode: input %u has %u tokens; 1..%u are allowed", i,
                                 in->n_tokens, m->context);
        for (uint32_t t = 0; t < in->n_tokens; t++)
            if (in->tokens[t] < 0 || (uint32_t)in->tokens[t] >= m->vocab)
                return mh_status_set(st, MH_ERR_INVALID_ARG, "encode: input %u has token %d, outside 0..%u", i,
                                     in->tokens[t], m->vocab - 1);
    }
    const mh_host_v1 *host = m->plugin->host;
    for (uint32_t i = 0; i < b->n_inputs; i++) {
        if (host->is_cancelled(host->host_ctx, b->cancel_token))
            return mh_status_set(st, MH_ERR_CANCELLED, "encode: cancelled");
        const mh_encoder_input *in = MH_ENCODER_INPUT_AT(b, i);
        float *row = b->out + (size_t)i * m->dim;
        for (uint32_t k = 0; k < m->dim; k++) row[k] = 0.0f;
        for (uint32_t t = 0; t < in->n_tokens; t++) {
            const float *e = m->table + (size_t)in->tokens[t] * m->dim;
            for (uint32_t k = 0; k < m->dim; k++) row[k] += e[k];
        }
        double norm = 0;
        for (uint32_t k = 0; k < m->dim; k++) {
            row[k] /= (float)in->n_tokens;
            norm += (double)row[k] * row[k];
        }
        const float inv = norm > 0 ? (float)(1.0 / sqrt(norm)) : 0.0f;
        for (uint32_t k = 0; k < m->dim; k++) row[k] *= inv;
    }
    return MH_OK;
}

static const mh_text_encoder_v1 encoder_table = {
    .struct_size = sizeof(mh_text_encoder_v1),
    .model_open = bow_model_open,
    .model_close = bow_model_close,
    .model_info = bow_model_info,
    .encode = bow_encode,
};

/* [any-thread] */
static const void *bow_get_interface(void *ctx, const char *iid) {
    (void)ctx;
    if (iid != NULL && strcmp(iid, MH_IID_TEXT_ENCODER_V1) == 0) return &encoder_table;
    return NULL;
}

static const mh_plugin_v1 descriptor = {
    .struct_size = sizeof(mh_plugin_v1),
    .abi_major = MH_ABI_MAJOR,
    .abi_minor_built = MH_ABI_MINOR,
    .abi_minor_required = 2,   /* the text encoder kind exists from ABI 1.2 */
    .kind = MH_KIND_TEXT_ENCODER,
    .id = PLUGIN_ID,
    .version = PLUGIN_VERSION,
    .runtime_tag = "c",
    .build_info = "example bag-of-words encoder, plain C11",
    .capabilities = MH_CAP_CONCURRENT_OBJECTS,
    .probe = bow_probe,
    .init = bow_init,
    .shutdown = bow_shutdown,
    .get_interface = bow_get_interface,
};

/* The one exported symbol. [load-thread] An older host has no text encoder kind: refuse it with a message. */
MH_EXPORT int32_t mh_plugin_entry_v1(const mh_host_v1 *host, const mh_plugin_v1 **out, mh_status *st) {
    if (host == NULL || out == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "entry: host and out are required");
    if (host->struct_size < MH_HOST_V1_SIZE_1_0 || host->abi_major != MH_ABI_MAJOR)
        return mh_status_set(st, MH_ERR_INCOMPATIBLE, PLUGIN_ID " implements ABI %d; the host offers ABI %u",
                             MH_ABI_MAJOR, host->abi_major);
    if (host->abi_minor < 2)
        return mh_status_set(st, MH_ERR_INCOMPATIBLE, PLUGIN_ID " needs host ABI >= 1.2 (text encoders); the host is 1.%u",
                             host->abi_minor);
    *out = &descriptor;
    return MH_OK;
}
