/*
 * variant_plugin.c: a minimal text decoder plugin that the tests compile several ways (-D flags) to produce
 * purpose-built bad plugins, one per rejection stage. Without flags it is a valid plugin whose model_open always
 * refuses (it has no model format).
 */
#include "modelhost/modelhost_plugin.h"
#include <stdlib.h>

#ifndef VARIANT_ID
#define VARIANT_ID "org.modelhost.test.variant"
#endif
#ifndef VARIANT_MAJOR
#define VARIANT_MAJOR MH_ABI_MAJOR
#endif
#ifndef VARIANT_MINOR_REQUIRED
#define VARIANT_MINOR_REQUIRED 0
#endif
#ifndef VARIANT_STRUCT_SIZE
#define VARIANT_STRUCT_SIZE sizeof(mh_plugin_v1)
#endif

#ifdef VARIANT_UNDEFINED_SYMBOL
extern int modelhost_test_symbol_that_does_not_exist(void);
#endif

#ifdef VARIANT_CONSTRUCTOR_ABORTS
/* Stands in for ISA-specific code in a static initializer: loading this library kills the process. */
__attribute__((constructor)) static void die_on_load(void) { abort(); }
#endif

/* A non-static helper: hidden when built with -fvisibility=hidden, exported (and flagged by the verifier) otherwise. */
int variant_internal_helper(void);
int variant_internal_helper(void) { return 1; }

static int32_t probe(const mh_host_v1 *host, const mh_probe_query *q, int32_t *score, mh_status *st) {
    (void)host;
#ifdef VARIANT_CRASHING_PROBE
    *score = (int32_t)q->kind;   /* dereferences a NULL query: the verifier must survive this */
    (void)st;
    return MH_OK;
#else
    if (q == NULL || score == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "probe: query and score are required");
#ifdef VARIANT_SCORE
    *score = VARIANT_SCORE;
#else
    *score = 1;
#endif
    return MH_OK;
#endif
}

static int32_t init(const mh_host_v1 *host, void **out, mh_status *st) {
    if (host == NULL || out == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "init: host and out are required");
    *out = NULL;
    return MH_OK;
}

static void shutdown_ctx(void *ctx) { (void)ctx; }

static int32_t model_open(void *ctx, const mh_model_desc *d, mh_decoder_model **out, mh_status *st) {
    (void)ctx; (void)d; (void)out;
    return mh_status_set(st, MH_ERR_UNSUPPORTED, "this test plugin opens no models");
}
static void model_close(mh_decoder_model *m) { (void)m; }
static int32_t model_info(const mh_decoder_model *m, mh_decoder_info *out, mh_status *st) {
    (void)m; (void)out;
    return mh_status_set(st, MH_ERR_INVALID_ARG, "no model");
}
static int32_t seq_create(mh_decoder_model *m, uint32_t c, mh_sequence **out, mh_status *st) {
    (void)m; (void)c; (void)out;
    return mh_status_set(st, MH_ERR_INVALID_ARG, "no model");
}
static void seq_destroy(mh_sequence *s) { (void)s; }
static uint32_t seq_length(const mh_sequence *s) { (void)s; return 0; }
static int32_t seq_truncate(mh_sequence *s, uint32_t n, mh_status *st) {
    (void)s; (void)n;
    return mh_status_set(st, MH_ERR_INVALID_ARG, "no sequence");
}
static int32_t forward(mh_decoder_model *m, const mh_batch *b, mh_status *st) {
    (void)m; (void)b;
    return mh_status_set(st, MH_ERR_INVALID_ARG, "no model");
}

/* VARIANT_DECODER_TABLE_SIZE plays a plugin built against an older header (72: ABI 1.0, before seq_copy). */
#ifndef VARIANT_DECODER_TABLE_SIZE
#define VARIANT_DECODER_TABLE_SIZE sizeof(mh_text_decoder_v1)
#endif

static const mh_text_decoder_v1 table = {
    .struct_size = VARIANT_DECODER_TABLE_SIZE, .model_open = model_open, .model_close = model_close,
    .model_info = model_info, .seq_create = seq_create, .seq_destroy = seq_destroy, .seq_length = seq_length,
    .seq_truncate = seq_truncate, .forward = forward,
};

static const void *get_interface(void *ctx, const char *iid) {
    (void)ctx;
    return (iid && strcmp(iid, MH_IID_TEXT_DECODER_V1) == 0) ? &table : NULL;
}

__attribute__((unused)) static const mh_plugin_v1 descriptor = {
    VARIANT_STRUCT_SIZE, VARIANT_MAJOR, MH_ABI_MINOR, VARIANT_MINOR_REQUIRED, MH_KIND_TEXT_DECODER, 0,
    VARIANT_ID, "1.0.0", "c", "test variant", 0, probe, init, shutdown_ctx, get_interface,
};

#if defined(VARIANT_ENTRY_V2_ONLY)
MH_EXPORT int32_t mh_plugin_entry_v2(const void *host, const void **out, mh_status *st) {
    (void)host; (void)out;
    return mh_status_set(st, MH_ERR_INCOMPATIBLE, "v2");
}
#elif defined(VARIANT_NO_ENTRY)
MH_EXPORT int32_t some_other_function(void) { return 0; }
#else
MH_EXPORT int32_t mh_plugin_entry_v1(const mh_host_v1 *host, const mh_plugin_v1 **out, mh_status *st) {
#ifdef VARIANT_UNDEFINED_SYMBOL
    if (modelhost_test_symbol_that_does_not_exist()) return -1;
#endif
#ifdef VARIANT_ENTRY_FAILS_SILENTLY
    (void)host; (void)out; (void)st;
    return MH_ERR_INTERNAL;
#else
    if (host == NULL || out == NULL) return mh_status_set(st, MH_ERR_INVALID_ARG, "entry: host and out are required");
    if (host->abi_major != MH_ABI_MAJOR)
        return mh_status_set(st, MH_ERR_INCOMPATIBLE, "implements ABI 1, host offers %u", host->abi_major);
    *out = &descriptor;
    return MH_OK;
#endif
}
#endif
