/*
 * test_plugin.c: a test-only text decoder plugin whose behaviour is chosen by the prompt, so worker and supervisor
 * tests can make a real worker process echo, stall, hang, allocate or crash on command. Built by the tests with `cc`
 * against SDK/include alone; never installed.
 *
 * Model file: a GGUF with general.architecture = "mhtest", mhtest.vocab_size and mhtest.context_length.
 * The first prompt token is a command; the next ones are its arguments:
 *   [1, a, b, ...]   ECHO   generate a, b, ... then EOS
 *   [3, ms]          STALL  sleep `ms` per decode step (polling is_cancelled every millisecond), generate 10 forever
 *   [4, mib]         ALLOC  allocate and touch `mib` MiB through the host allocator, generate 11, then EOS
 *   [5, k]           SEGV   generate 12 k times, then dereference NULL
 *   [6, k]           ABORT  generate 13 k times, then abort()
 *   [7, cs]          HANG   sleep `cs` centiseconds per decode step ignoring cancellation (a kernel that cannot be
 *                           interrupted; centiseconds so that long hangs fit the small vocabulary)
 *   [8]              STATS  generate the largest number of entries seen in one forward call so far, then EOS
 * Token 2 is EOS. Logits are one-hot: 1 at the chosen token, 0 elsewhere.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep under -std=c11 */
#include "modelhost/modelhost_plugin.h"

#include <signal.h>
#include <stdlib.h>
#include <time.h>

#define EOS 2
#define MAX_PROMPT 256

enum { CMD_ECHO = 1, CMD_STALL = 3, CMD_ALLOC = 4, CMD_SEGV = 5, CMD_ABORT = 6, CMD_HANG = 7, CMD_STATS = 8 };

typedef struct plugin_ctx {
    const mh_host_v1 *host;
} plugin_ctx;

struct mh_decoder_model {
    plugin_ctx *plugin;
    uint32_t vocab;
    uint32_t context;
    uint32_t max_entries_seen;
};

struct mh_sequence {
    struct mh_decoder_model *model;
    uint32_t capacity;
    uint32_t length;
    uint32_t prompt_length; /* 0 until the first forward call (the prompt) completes */
    int32_t prompt[MAX_PROMPT];
    void *allocation;
};

static void sleep_ms(uint32_t ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

static int32_t probe(const mh_host_v1 *host, const mh_probe_query *q, int32_t *score, mh_status *st) {
    (void)host;
    if (q == NULL || score == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "probe: query and score are required");
    *score = (q->kind == MH_KIND_TEXT_DECODER && q->family != NULL && strcmp(q->family, "mhtest") == 0) ? 1 : 0;
    return MH_OK;
}

static int32_t init(const mh_host_v1 *host, void **out, mh_status *st) {
    if (host == NULL || out == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "init: host and out are required");
    plugin_ctx *p = (plugin_ctx *)calloc(1, sizeof(plugin_ctx));
    if (p == NULL) return mh_status_set(st, MH_ERR_OUT_OF_MEMORY, "init: out of memory");
    p->host = host;
    *out = p;
    return MH_OK;
}

static void shutdown_ctx(void *ctx) { free(ctx); }

static int32_t read_uint(const mh_weights_v1 *w, const char *key, uint64_t *out, mh_status *st) {
    mh_value v;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    if (w->get_meta(w->ctx, key, &v, st) != MH_OK || v.type != MH_VALUE_UINT)
        return mh_status_set(st, MH_ERR_BAD_MODEL, "the model needs an unsigned integer '%s'", key);
    *out = v.u64;
    return MH_OK;
}

static int32_t model_open(void *ctx, const mh_model_desc *desc, mh_decoder_model **out, mh_status *st) {
    if (ctx == NULL || desc == NULL || out == NULL || desc->weights == NULL)
        return mh_status_set(st, MH_ERR_INVALID_ARG, "model_open: ctx, desc, weights and out are required");
    uint64_t vocab = 0, context = 0;
    if (read_uint(desc->weights, "mhtest.vocab_size", &vocab, st) != MH_OK) return st->code;
    if (read_uint(desc->weights, "mhtest.context_length", &context, st) != MH_OK) return st->code;
    if (vocab < 16 || vocab > 65536 || context == 0 || context > 65536)
        return mh_status_set(st, MH_ERR_BAD_MODEL, "mhtest vocab %llu or context %llu out of range",
                             (unsigned long long)vocab, (unsigned long long)context);
    struct mh_decoder_model *m = (struct mh_decoder_model *)calloc(1, sizeof *m);
    if (m == NULL) return mh_status_set(st, MH_ERR_OUT_OF_MEMORY, "model_open: out of memory");
    m->plugin = (plugin_ctx *)ctx;
    m->vocab = (uint32_t)vocab;
    m->context = (uint32_t)context;
    *out = m;
    return MH_OK;
}

static void model_close(mh_decoder_model *m) { free(m); }

static int32_t model_info(const mh_decoder_model *m, mh_decoder_info *out, mh_status *st) {
    if (m == NULL || out == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "model_info: model and out are required");
    out->vocab_size = m->vocab;
    out->embedding_length = m->vocab;
    out->context_length = m->context;
    out->max_batch_tokens = 0;
    return MH_OK;
}

static int32_t seq_create(mh_decoder_model *m, uint32_t capacity, mh_sequence **out, mh_status *st) {
    if (m == NULL || out == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "seq_create: model and out are required");
    if (capacity == 0 || capacity > m->context)
        return mh_status_set(st, MH_ERR_INVALID_ARG, "seq_create: capacity %u is outside 1..%u", capacity, m->context);
    struct mh_sequence *s = (struct mh_sequence *)calloc(1, sizeof *s);
    if (s == NULL) return mh_status_set(st, MH_ERR_OUT_OF_MEMORY, "seq_create: out of memory");
    s->model = m;
    s->capacity = capacity;
    *out = s;
    return MH_OK;
}

static void seq_destroy(mh_sequence *s) {
    if (s == NULL) return;
    const mh_host_v1 *host = s->model->plugin->host;
    if (s->allocation) host->free(host->host_ctx, s->allocation);
    free(s);
}

static uint32_t seq_length(const mh_sequence *s) { return s ? s->length : 0; }

static int32_t seq_truncate(mh_sequence *s, uint32_t n_keep, mh_status *st) {
    if (s == NULL || n_keep > s->length)
        return mh_status_set(st, MH_ERR_INVALID_ARG, "seq_truncate: bad sequence or length");
    s->length = n_keep;
    if (n_keep < s->prompt_length) s->prompt_length = 0;
    return MH_OK;
}

static int32_t arg(const struct mh_sequence *s, uint32_t i) {
    return i < s->prompt_length && i < MAX_PROMPT ? s->prompt[i] : 0;
}

/* The token this sequence produces next, given it has generated `g` tokens so far. */
static int32_t next_token(const struct mh_sequence *s, uint32_t g) {
    switch (arg(s, 0)) {
    case CMD_ECHO: return 1 + g < s->prompt_length ? arg(s, 1 + g) : EOS;
    case CMD_STALL: return 10;
    case CMD_ALLOC: return g == 0 ? 11 : EOS;
    case CMD_SEGV: return 12;
    case CMD_ABORT: return 13;
    case CMD_HANG: return 14;
    case CMD_STATS: return g == 0 ? (int32_t)s->model->max_entries_seen : EOS;
    default: return EOS;
    }
}

static int32_t forward(mh_decoder_model *m, const mh_batch *batch, mh_status *st) {
    if (m == NULL || batch == NULL || batch->n_entries == 0 || batch->entries == NULL)
        return mh_status_set(st, MH_ERR_INVALID_ARG, "forward: empty or malformed batch");
    const mh_host_v1 *host = m->plugin->host;
    uint32_t stall = 0, hang = 0;
    for (uint32_t i = 0; i < batch->n_entries; i++) {
        const mh_batch_entry *e = &batch->entries[i];
        if (e->seq == NULL || e->tokens == NULL || e->n_tokens == 0 || e->logits_mode != MH_LOGITS_LAST ||
            e->logits == NULL)
            return mh_status_set(st, MH_ERR_INVALID_ARG, "forward: entry %u is malformed", i);
        if ((uint64_t)e->seq->length + e->n_tokens > e->seq->capacity)
            return mh_status_set(st, MH_ERR_INVALID_ARG, "forward: entry %u overflows its sequence", i);
        for (uint32_t t = 0; t < e->n_tokens; t++)
            if (e->tokens[t] < 0 || (uint32_t)e->tokens[t] >= m->vocab)
                return mh_status_set(st, MH_ERR_INVALID_ARG, "forward: token %d out of range", e->tokens[t]);
        const struct mh_sequence *s = e->seq;
        int32_t cmd = s->prompt_length ? arg(s, 0) : e->tokens[0];
        int32_t a1 = s->prompt_length ? arg(s, 1) : (e->n_tokens > 1 ? e->tokens[1] : 0);
        if (cmd == CMD_STALL && (uint32_t)a1 > stall) stall = (uint32_t)a1;
        if (cmd == CMD_HANG && (uint32_t)a1 > hang) hang = (uint32_t)a1;
    }
    if (batch->n_entries > m->max_entries_seen) m->max_entries_seen = batch->n_entries;
    for (uint32_t waited = 0; waited < stall; waited++) {
        if (host->is_cancelled(host->host_ctx, batch->cancel_token))
            return mh_status_set(st, MH_ERR_CANCELLED, "forward: cancelled while stalling");
        sleep_ms(1);
    }
    if (hang) sleep_ms(hang * 10);
    if (host->is_cancelled(host->host_ctx, batch->cancel_token))
        return mh_status_set(st, MH_ERR_CANCELLED, "forward: cancelled");
    for (uint32_t i = 0; i < batch->n_entries; i++) {
        const mh_batch_entry *e = &batch->entries[i];
        struct mh_sequence *s = e->seq;
        if (s->prompt_length == 0) {
            for (uint32_t t = 0; t < e->n_tokens && t < MAX_PROMPT; t++) s->prompt[t] = e->tokens[t];
            s->prompt_length = e->n_tokens;
            if (arg(s, 0) == CMD_ALLOC && s->allocation == NULL) {
                uint64_t bytes = (uint64_t)arg(s, 1) << 20;
                s->allocation = host->alloc(host->host_ctx, bytes, 64);
                if (s->allocation == NULL)
                    return mh_status_set(st, MH_ERR_OUT_OF_MEMORY, "forward: the host refused %d MiB", arg(s, 1));
                memset(s->allocation, 0x5A, bytes);
            }
        }
        s->length += e->n_tokens;
        uint32_t generated = s->length - s->prompt_length;
        int32_t cmd = arg(s, 0);
        if ((cmd == CMD_SEGV || cmd == CMD_ABORT) && generated >= (uint32_t)arg(s, 1)) {
            if (cmd == CMD_ABORT) abort();
            volatile int *null_pointer = NULL;
            *null_pointer = 1;
        }
        for (uint32_t k = 0; k < m->vocab; k++) e->logits[k] = 0.0f;
        int32_t token = next_token(s, generated);
        e->logits[token >= 0 && (uint32_t)token < m->vocab ? token : EOS] = 1.0f;
    }
    return MH_OK;
}

static const mh_text_decoder_v1 decoder_table = {
    .struct_size = sizeof(mh_text_decoder_v1), .model_open = model_open, .model_close = model_close,
    .model_info = model_info, .seq_create = seq_create, .seq_destroy = seq_destroy, .seq_length = seq_length,
    .seq_truncate = seq_truncate, .forward = forward,
};

static const void *get_interface(void *ctx, const char *iid) {
    (void)ctx;
    if (iid != NULL && strcmp(iid, MH_IID_TEXT_DECODER_V1) == 0) return &decoder_table;
    return NULL;
}

static const mh_plugin_v1 descriptor = {
    sizeof(mh_plugin_v1), MH_ABI_MAJOR, MH_ABI_MINOR, 0, MH_KIND_TEXT_DECODER, 0,
    "org.modelhost.test.worker", "1.0.0", "c", "test-only decoder driven by prompt commands",
    /* No MH_CAP_SEQ_TRUNCATE: a sequence reads its command from its first forward call, so a truncated sequence
     * cannot be resumed with a new prompt (prefix reuse). seq_truncate still rolls back an abandoned step. */
    MH_CAP_BATCHED_DECODE,
    probe, init, shutdown_ctx, get_interface,
};

MH_EXPORT int32_t mh_plugin_entry_v1(const mh_host_v1 *host, const mh_plugin_v1 **out, mh_status *st) {
    if (host == NULL || out == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "entry: host and out are required");
    *out = &descriptor;
    return MH_OK;
}
