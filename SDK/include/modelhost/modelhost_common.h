/*
 * modelhost_common.h: the ModelHost plugin ABI, version 1: what every plugin kind shares.
 *
 * The contract between ModelHost (the host: a worker process that serves one model) and a backend plugin (a shared
 * library loaded with dlopen) is this header plus one header per plugin kind: modelhost_text_decoder.h,
 * modelhost_vision_encoder.h, modelhost_image_preprocessor.h. modelhost_plugin.h includes them all. Read this one top
 * to bottom once, then the one of your kind; every rule is written where it applies. A plugin written in C needs
 * nothing but these files; Swift authors may use the helpers in SDK/Swift instead.
 *
 * Contents
 *   1. Conventions: versioning, struct sizes, threading tags, ownership, errors
 *   2. Basic types: status, data types, tensors, values
 *   3. Host services (host -> plugin): log, memory, cancellation, hardware, weights
 *   4. The plugin descriptor and the one exported entry symbol
 *   5. What every kind shares: interface ids, the model descriptor
 *   6. Layout fences (static asserts); each kind's header fences its own structs
 *
 * ---------------------------------------------------------------------------------------------------------------
 * 1. Conventions
 *
 * Versioning.
 *   MH_ABI_MAJOR changes only for a break; it then gets a new entry symbol (mh_plugin_entry_v2) beside the old one,
 *   so a host can keep loading v1 plugins. MH_ABI_MINOR grows when fields or functions are appended. Every struct that
 *   crosses the boundary starts with `uint32_t struct_size`, set by whoever fills the struct to sizeof() as *they*
 *   compiled it; fields are only ever appended, never reordered, retyped or repurposed. A reader checks that a field
 *   exists with MH_HAS_FIELD() before it reads a field added after minor 0.
 *
 * Struct sizes. A reader checks a struct it did not fill against the sizes ABI 1.0 gave it (MH_*_SIZE_1_0, below),
 * never against sizeof() in the header it was compiled with: a later minor grows structs, and a plugin rebuilt
 * against that header must still accept an older host's smaller structs, and an older plugin a newer host's larger
 * ones. Whoever fills a struct the other side allocated (a status, a tensor view, an info struct) writes only the
 * fields that fit in that struct's struct_size. A field appended in a later minor starts at or after the previous
 * size (an explicit pad comes first where alignment would put it inside the old tail padding).
 *
 *   Arrays of structs (mh_batch.entries) are laid out entries[0].struct_size bytes apart, the writer's sizeof; index
 *   them with MH_BATCH_ENTRY_AT(), never with entries[i].
 *
 *   The host, not the plugin, decides compatibility: the plugin reports the minor it was built against
 *   (abi_minor_built) and the oldest host minor whose fields it actually uses (abi_minor_required). The host accepts a
 *   plugin iff the majors are equal and host minor >= abi_minor_required. A plugin built against a newer header must
 *   therefore gate its use of new host fields on `host->abi_minor` (or MH_HAS_FIELD), and must not raise
 *   abi_minor_required merely because it was compiled with a newer header.
 *
 * Threading tags. Every function below carries one:
 *   [any-thread]        may be called from any thread, concurrently with anything.
 *   [load-thread]       called only on the worker's loading thread, never concurrently with any other call into the
 *                       same plugin (entry, probe, init, shutdown).
 *   [object-serial]     calls on one object (model, sequence, preprocessor ...) never overlap; the host may call it
 *                       from different threads over time. Calls on *different* objects may overlap unless the plugin
 *                       clears MH_CAP_CONCURRENT_OBJECTS, in which case the host serializes all calls into the plugin.
 *   Host services are all [any-thread]. A plugin may start threads only in init or object creation and must join them
 *   in the matching destroy or shutdown. The host never calls dlclose: a worker's exit is the unload.
 *
 * Ownership.
 *   Pointers passed into a call are borrowed for the duration of the call unless stated otherwise. Output buffers are
 *   provided and owned by the caller and filled in place. Objects created by the plugin (opaque handles) are owned by
 *   the host until it passes them to the matching destroy/close function. On an error return the caller keeps
 *   ownership of everything it passed. Neither side ever frees the other's memory with its own allocator, and a plugin
 *   never allocates a host struct by its own sizeof.
 *
 * Errors.
 *   Functions return int32_t: MH_OK (0) or a negative MH_ERR_* code, and fill the caller's mh_status with the same
 *   code and a non-empty one-line message saying what was wrong and what to do. No C++ exception, Swift error or
 *   longjmp ever crosses the boundary. NULL or invalid arguments return MH_ERR_INVALID_ARG; they never crash.
 *   MH_ERR_UNSUPPORTED means "never on this plugin"; MH_ERR_OUT_OF_MEMORY and MH_ERR_TIMEOUT may succeed on retry.
 *
 * Symbols and loading.
 *   A plugin exports exactly one symbol per ABI major it implements (mh_plugin_entry_v1) and hides everything else
 *   (-fvisibility=hidden). It links no host library. The host loads it with dlopen(absolute path, RTLD_NOW |
 *   RTLD_LOCAL) only from its configured plugin directories, after checking the manifest beside it (see SDK/README.md)
 *   and the CPU features that the manifest requires, so ISA-specific code never runs on a CPU that lacks it. Static
 *   initializers and the entry function must therefore use the baseline ISA only and do no I/O and start no threads.
 * ---------------------------------------------------------------------------------------------------------------
 */
#ifndef MODELHOST_COMMON_H
#define MODELHOST_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MH_ABI_MAJOR 1
#define MH_ABI_MINOR 3

#if defined(__GNUC__) || defined(__clang__)
#define MH_EXPORT __attribute__((visibility("default")))
#else
#define MH_EXPORT
#endif

/* True when the struct behind `p` (whose size is p->struct_size) is large enough to hold `field`. */
#define MH_HAS_FIELD(p, type, field) \
    ((p) != NULL && (p)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* The sizes ABI 1.0 gave each struct: the least a reader accepts (see "Struct sizes" above; fenced in section 6). */
#define MH_STATUS_SIZE_1_0 520u
#define MH_TENSOR_SIZE_1_0 168u
#define MH_VALUE_SIZE_1_0 56u
#define MH_HW_INFO_SIZE_1_0 32u
#define MH_HOST_V1_SIZE_1_0 64u
#define MH_WEIGHTS_V1_SIZE_1_0 56u
#define MH_PROBE_QUERY_SIZE_1_0 40u
#define MH_PLUGIN_V1_SIZE_1_0 88u
#define MH_MODEL_DESC_SIZE_1_0 40u
#define MH_DECODER_INFO_SIZE_1_0 24u
#define MH_BATCH_ENTRY_SIZE_1_0 48u
#define MH_BATCH_SIZE_1_0 24u
#define MH_TEXT_DECODER_V1_SIZE_1_0 72u     /* minor 1 appended seq_copy */
#define MH_VISION_INFO_SIZE_1_0 40u
#define MH_VISION_ENCODER_V1_SIZE_1_0 40u
#define MH_IMAGE_INFO_SIZE_1_0 32u
#define MH_PREPROCESS_CONFIG_SIZE_1_0 56u
#define MH_PIXELS_INFO_SIZE_1_0 16u
#define MH_IMAGE_PREPROCESSOR_V1_SIZE_1_0 56u

/* ===============================================================================================================
 * 2. Basic types
 * =============================================================================================================== */

enum mh_result {
    MH_OK = 0,
    MH_ERR_INVALID_ARG = -1,   /* NULL, out of range, wrong shape, wrong struct_size */
    MH_ERR_UNSUPPORTED = -2,   /* this plugin never does that (a dtype, an architecture, a capability) */
    MH_ERR_INCOMPATIBLE = -3,  /* ABI or version mismatch */
    MH_ERR_OUT_OF_MEMORY = -4, /* allocation failed or a memory limit was reached; may succeed later */
    MH_ERR_CANCELLED = -5,     /* the host's cancellation token fired */
    MH_ERR_TIMEOUT = -6,
    MH_ERR_NOT_FOUND = -7,     /* a named weight, metadata key or interface does not exist */
    MH_ERR_BAD_MODEL = -8,     /* the model's files are malformed or inconsistent */
    MH_ERR_BAD_INPUT = -9,     /* request data is malformed (e.g. a corrupt image) */
    MH_ERR_DEVICE = -10,
    MH_ERR_INTERNAL = -11      /* a bug in the plugin */
};

#define MH_STATUS_MESSAGE_CAPACITY 512

/* Filled by the callee on every error. The caller sets struct_size; the callee writes only fields that fit. */
typedef struct mh_status {
    uint32_t struct_size;
    int32_t code;                                 /* same value the function returned */
    char message[MH_STATUS_MESSAGE_CAPACITY];     /* NUL-terminated, one line, never empty on error */
} mh_status;

/* Initializes a status before a call. [any-thread] */
static inline void mh_status_init(mh_status *st) {
    if (st == NULL) return;
    st->struct_size = (uint32_t)sizeof(mh_status);
    st->code = MH_OK;
    st->message[0] = '\0';
}

/* Sets code and a printf-formatted message; returns `code` so that `return mh_status_set(st, ...)` reads well.
 * Tolerates st == NULL. [any-thread] */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
static inline int32_t mh_status_set(mh_status *st, int32_t code, const char *fmt, ...) {
    if (st != NULL && st->struct_size >= offsetof(mh_status, message) + 1) {
        size_t cap = st->struct_size - offsetof(mh_status, message);
        if (cap > MH_STATUS_MESSAGE_CAPACITY) cap = MH_STATUS_MESSAGE_CAPACITY;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(st->message, cap, fmt, ap);
        va_end(ap);
        st->code = code;
    }
    return code;
}

/* Copies a struct you filled (`src`, `size` bytes, starting with struct_size) into one the other side allocated
 * (`dst`), only as far as dst->struct_size reaches (it may come from an older header), and sets dst->struct_size to
 * the bytes written, so that MH_HAS_FIELD on it is true exactly for the fields that arrived. [any-thread] */
static inline void mh_copy_out(void *dst, const void *src, size_t size) {
    uint32_t capacity;
    memcpy(&capacity, dst, sizeof capacity);
    uint32_t written = (uint32_t)(capacity < size ? capacity : size);
    memcpy(dst, src, written);
    memcpy(dst, &written, sizeof written);
}

/* Plugin kinds. */
enum mh_kind {
    MH_KIND_TEXT_DECODER = 1,       /* tokens or embeddings -> logits */
    MH_KIND_VISION_ENCODER = 2,     /* normalized pixels -> embeddings in the decoder's space */
    MH_KIND_IMAGE_PREPROCESSOR = 3, /* encoded image bytes -> normalized pixel tensors */
    MH_KIND_TEXT_ENCODER = 4        /* (ABI 1.2) token ids -> one embedding vector per input text */
};

/* Storage types. Block-quantized types pack `mh_dtype_block_elements` values into `mh_dtype_block_bytes` bytes;
 * the GGML types keep GGML's block layouts exactly (see ggml's ggml-common.h). MLX affine-quantized weights arrive as
 * U32 tensors of packed values with separate `scales` and `biases` tensors, as in the safetensors files. */
enum mh_dtype {
    MH_DTYPE_INVALID = 0,
    MH_DTYPE_F32 = 1,
    MH_DTYPE_F16 = 2,
    MH_DTYPE_BF16 = 3,
    MH_DTYPE_F64 = 4,
    MH_DTYPE_I8 = 5,
    MH_DTYPE_I16 = 6,
    MH_DTYPE_I32 = 7,
    MH_DTYPE_I64 = 8,
    MH_DTYPE_U8 = 9,
    MH_DTYPE_U32 = 10,
    MH_DTYPE_Q4_0 = 32,
    MH_DTYPE_Q4_1 = 33,
    MH_DTYPE_Q5_0 = 34,
    MH_DTYPE_Q5_1 = 35,
    MH_DTYPE_Q8_0 = 36,
    MH_DTYPE_Q2_K = 40,
    MH_DTYPE_Q3_K = 41,
    MH_DTYPE_Q4_K = 42,
    MH_DTYPE_Q5_K = 43,
    MH_DTYPE_Q6_K = 44,
    MH_DTYPE_Q8_K = 45,
    /* Non-linear 4-bit blocks of 32 (GGML IQ4_NL): d (f16), 16 bytes of nibbles; a nibble q stands for d times
     * entry q of the fixed table {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}; element
     * i < 16 is the low nibble of byte i, element 16 + i its high nibble. Named since header 1.3: a plugin built
     * against an older header sees a dtype it does not know (block sizes 0) and refuses the tensor. */
    MH_DTYPE_IQ4_NL = 50
};

/* Values per block (1 for plain types, 0 for an unknown dtype). [any-thread] */
static inline uint32_t mh_dtype_block_elements(uint32_t dtype) {
    switch (dtype) {
    case MH_DTYPE_F32: case MH_DTYPE_F16: case MH_DTYPE_BF16: case MH_DTYPE_F64: case MH_DTYPE_I8:
    case MH_DTYPE_I16: case MH_DTYPE_I32: case MH_DTYPE_I64: case MH_DTYPE_U8: case MH_DTYPE_U32: return 1;
    case MH_DTYPE_Q4_0: case MH_DTYPE_Q4_1: case MH_DTYPE_Q5_0: case MH_DTYPE_Q5_1: case MH_DTYPE_Q8_0:
    case MH_DTYPE_IQ4_NL: return 32;
    case MH_DTYPE_Q2_K: case MH_DTYPE_Q3_K: case MH_DTYPE_Q4_K: case MH_DTYPE_Q5_K: case MH_DTYPE_Q6_K:
    case MH_DTYPE_Q8_K: return 256;
    default: return 0;
    }
}

/* Bytes per block (0 for an unknown dtype). [any-thread] */
static inline uint32_t mh_dtype_block_bytes(uint32_t dtype) {
    switch (dtype) {
    case MH_DTYPE_F32: case MH_DTYPE_I32: case MH_DTYPE_U32: return 4;
    case MH_DTYPE_F16: case MH_DTYPE_BF16: case MH_DTYPE_I16: return 2;
    case MH_DTYPE_F64: case MH_DTYPE_I64: return 8;
    case MH_DTYPE_I8: case MH_DTYPE_U8: return 1;
    case MH_DTYPE_Q4_0: case MH_DTYPE_IQ4_NL: return 18;
    case MH_DTYPE_Q4_1: return 20;
    case MH_DTYPE_Q5_0: return 22;
    case MH_DTYPE_Q5_1: return 24;
    case MH_DTYPE_Q8_0: return 34;
    case MH_DTYPE_Q2_K: return 84;
    case MH_DTYPE_Q3_K: return 110;
    case MH_DTYPE_Q4_K: return 144;
    case MH_DTYPE_Q5_K: return 176;
    case MH_DTYPE_Q6_K: return 210;
    case MH_DTYPE_Q8_K: return 292;
    default: return 0;
    }
}

#define MH_MAX_DIMS 8

enum mh_tensor_flags {
    MH_TENSOR_READ_ONLY = 1u << 0  /* e.g. a view into the mmapped model file: writing to it faults */
};

enum mh_device_type { MH_DEVICE_CPU = 1 };

/* A tensor descriptor. Shapes are row-major: shape[0] is the outermost dimension and shape[ndim-1] the innermost,
 * contiguous one. Strides are in bytes (not elements) because block-quantized types have no per-element size; for a
 * block type, stride_bytes[ndim-1] is 0 and the innermost dimension is stored as whole blocks, so shape[ndim-1] is a
 * multiple of mh_dtype_block_elements(dtype). (GGUF lists dimensions innermost first; the host reverses them.) */
typedef struct mh_tensor {
    uint32_t struct_size;
    uint32_t dtype;                     /* enum mh_dtype */
    int32_t ndim;                       /* 0 (scalar) .. MH_MAX_DIMS */
    uint32_t flags;                     /* enum mh_tensor_flags */
    int64_t shape[MH_MAX_DIMS];
    int64_t stride_bytes[MH_MAX_DIMS];
    void *data;
    uint64_t nbytes;                    /* bytes reachable from data */
    int32_t device_type;                /* enum mh_device_type */
    int32_t device_id;
} mh_tensor;

/* A typed metadata value (GGUF metadata, or the model's config.json flattened to dotted keys). Arrays are exposed
 * element by element through the weights service. Strings are UTF-8, not necessarily NUL-terminated: use `length`. */
enum mh_value_type {
    MH_VALUE_NONE = 0,
    MH_VALUE_INT = 1,      /* i64 */
    MH_VALUE_UINT = 2,     /* u64 */
    MH_VALUE_FLOAT = 3,    /* f64 */
    MH_VALUE_BOOL = 4,     /* i64: 0 or 1 */
    MH_VALUE_STRING = 5,   /* str + length */
    MH_VALUE_ARRAY = 6     /* length = element count, element_type = type of the elements */
};

typedef struct mh_value {
    uint32_t struct_size;
    uint32_t type;                 /* enum mh_value_type */
    int64_t i64;
    uint64_t u64;
    double f64;
    const char *str;               /* borrowed; valid as long as the weights service is */
    uint64_t length;
    uint32_t element_type;         /* arrays only */
    uint32_t reserved;
} mh_value;

/* ===============================================================================================================
 * 3. Host services (host -> plugin)
 * =============================================================================================================== */

enum mh_log_level { MH_LOG_ERROR = 0, MH_LOG_WARNING = 1, MH_LOG_INFO = 2, MH_LOG_DEBUG = 3 };

/* Mirrors the CPU features the host detected with CPUID and XGETBV (a bit is set only when the OS enables it). */
enum mh_cpu_feature {
    MH_CPU_SSE42 = 1u << 0,
    MH_CPU_POPCNT = 1u << 1,
    MH_CPU_AVX = 1u << 2,
    MH_CPU_AVX2 = 1u << 3,
    MH_CPU_FMA = 1u << 4,
    MH_CPU_F16C = 1u << 5,
    MH_CPU_BMI2 = 1u << 6,
    MH_CPU_AVX512F = 1u << 7,
    MH_CPU_AVX512BW = 1u << 8,
    MH_CPU_AVX512VL = 1u << 9,
    MH_CPU_AVX512VNNI = 1u << 10,
    MH_CPU_AVXVNNI = 1u << 11,
    MH_CPU_NEON = 1u << 16
};

/* What the worker may use. A plugin sizes its thread pool with `threads`, not with the machine's core count: the host
 * owns the budget (several workers share a machine). */
typedef struct mh_hw_info {
    uint32_t struct_size;
    uint32_t threads;              /* thread budget for this plugin's compute */
    uint64_t cpu_features;         /* enum mh_cpu_feature bits */
    uint64_t memory_limit_bytes;   /* RAM the worker should stay within (cgroup limit or tier); 0 = unknown */
    uint32_t logical_cores;
    uint32_t reserved;
} mh_hw_info;

/* The host table, passed to the entry function, probe and init. It lives until the process exits.
 * Every function pointer in it is [any-thread]. */
typedef struct mh_host_v1 {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;
    void *host_ctx;                /* pass back to every host function */

    /* Writes one line to the worker's log. `msg` needs no trailing newline. */
    void (*log)(void *host_ctx, int32_t level, const char *msg);

    /* Accounted allocation for large buffers (KV caches, scratch). `align` is a power of two <= 4096. Returns NULL when
     * out of memory or over the worker's budget. Free with `free` only. */
    void *(*alloc)(void *host_ctx, uint64_t size, uint64_t align);
    void (*free)(void *host_ctx, void *ptr);

    /* Nonzero once the request behind `token` was cancelled (client gone, deadline). Poll it between layers or steps
     * of long work and return MH_ERR_CANCELLED. Token 0 is never cancelled. */
    int32_t (*is_cancelled)(void *host_ctx, uint64_t token);

    /* Extra host interfaces by versioned id; NULL if unknown. No ids are defined in minor 0 beyond the weights
     * service, which reaches plugins through mh_model_desc. */
    const void *(*get_interface)(void *host_ctx, const char *iid);

    const mh_hw_info *hw;
} mh_host_v1;

/* Weights and metadata of one model, as read-only views of the memory-mapped model files ("mh.host.weights.v1").
 * Tensor names are the file's own: GGUF names ("blk.0.attn_q.weight") or Hugging Face names
 * ("model.layers.0.self_attn.q_proj.weight"). The views stay valid until the model object that received this table
 * is closed; copying them wholesale defeats the point, repacking into the plugin's own layout is fine.
 * Every function is [any-thread]. */
enum mh_model_format {
    MH_FORMAT_GGUF = 1,
    MH_FORMAT_SAFETENSORS = 2,     /* Hugging Face directory: config.json + *.safetensors */
    MH_FORMAT_MLX = 3              /* mlx-community affine-quantized safetensors */
};

typedef struct mh_weights_v1 {
    uint32_t struct_size;
    uint32_t format;               /* enum mh_model_format */
    void *ctx;                     /* pass back to every function */

    /* Number of tensors, and the name of tensor `index` (borrowed, NUL-terminated) or NULL if out of range. */
    uint64_t (*tensor_count)(void *ctx);
    const char *(*tensor_name)(void *ctx, uint64_t index);

    /* Fills `out` (caller sets out->struct_size) with a read-only view of the named tensor. MH_ERR_NOT_FOUND if absent,
     * MH_ERR_UNSUPPORTED if its storage type has no mh_dtype. */
    int32_t (*get_tensor)(void *ctx, const char *name, mh_tensor *out, mh_status *st);

    /* Metadata by key. GGUF keys as in the file ("llama.block_count"); for safetensors models config.json's keys
     * flattened with dots ("rope_scaling.factor"). A sentence-transformers folder (modules.json) adds, from ABI 1.2:
     * "sentence_transformers.pooling.<key>" (its Pooling module's config.json, e.g. ".pooling_mode_mean_tokens"),
     * "sentence_transformers.normalize" (bool: a Normalize module follows), "sentence_transformers.modules" (array:
     * every module's type, in order; refuse a pipeline with a module you do not run) and
     * "sentence_transformers.max_seq_length" (sentence_bert_config.json). MH_ERR_NOT_FOUND if absent. */
    int32_t (*get_meta)(void *ctx, const char *key, mh_value *out, mh_status *st);

    /* Element `index` of an array-valued key, as a scalar mh_value. */
    int32_t (*get_meta_element)(void *ctx, const char *key, uint64_t index, mh_value *out, mh_status *st);
} mh_weights_v1;

/* ===============================================================================================================
 * 4. The plugin descriptor and the entry symbol
 * =============================================================================================================== */

enum mh_capability {
    MH_CAP_BATCHED_DECODE = 1u << 0,     /* decoder: one forward call may advance several sequences */
    MH_CAP_EMBEDDING_INPUT = 1u << 1,    /* decoder: accepts embeddings instead of token ids */
    MH_CAP_SEQ_TRUNCATE = 1u << 2,       /* decoder: sequence state can be cut back (prefix reuse) */
    MH_CAP_LOGITS_ALL = 1u << 3,         /* decoder: returns logits for every input position */
    MH_CAP_CONCURRENT_OBJECTS = 1u << 4, /* calls on different objects may overlap */
    MH_CAP_SEQ_COPY = 1u << 5,           /* decoder (ABI 1.1): seq_copy copies a prefix between sequences */
    MH_CAP_KV_F16 = 1u << 6,             /* decoder (ABI 1.3): model_open takes kv_cache_type MH_KV_F16 */
    MH_CAP_KV_BF16 = 1u << 7,            /* decoder (ABI 1.3): model_open takes kv_cache_type MH_KV_BF16 */
    MH_CAP_KV_Q8_0 = 1u << 8             /* decoder (ABI 1.3): model_open takes kv_cache_type MH_KV_Q8_0 */
};

/* What the host asks a plugin to run, for probe(). Strings are NUL-terminated and borrowed; empty when unknown. */
typedef struct mh_probe_query {
    uint32_t struct_size;
    uint32_t kind;                 /* enum mh_kind */
    const char *family;            /* GGUF general.architecture or Hugging Face model_type: "llama", "qwen2" */
    const char *architecture;      /* Hugging Face architectures[0]: "LlamaForCausalLM"; may be empty */
    const char *quantization;      /* canonical name of the dominant weight type: "q4_1", "f16", "mlx4" */
    uint32_t format;               /* enum mh_model_format */
    uint32_t reserved;
} mh_probe_query;

typedef struct mh_plugin_v1 {
    uint32_t struct_size;
    uint16_t abi_major;            /* MH_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor_built;      /* MH_ABI_MINOR of the header it was built with */
    uint16_t abi_minor_required;   /* oldest host minor whose fields it uses */
    uint16_t kind;                 /* enum mh_kind */
    uint32_t reserved;

    const char *id;                /* reverse-DNS, equal to the manifest's: "org.modelhost.llama" */
    const char *version;           /* semantic version, equal to the manifest's */
    const char *runtime_tag;       /* "c" or "swift-6.3": plugins with different Swift runtimes never share a worker */
    const char *build_info;        /* free text: compiler, kernel variants */
    uint64_t capabilities;         /* enum mh_capability bits */

    /* Can this plugin run `query` on this machine? Writes a score: 0 = cannot, higher = better. Pure: no allocation
     * that outlives the call, no threads, no files. [load-thread] */
    int32_t (*probe)(const mh_host_v1 *host, const mh_probe_query *query, int32_t *score, mh_status *st);

    /* Creates the plugin-wide context (thread pools, tables). Called at most once per process. [load-thread] */
    int32_t (*init)(const mh_host_v1 *host, void **plugin_ctx, mh_status *st);

    /* Destroys what init created and joins every thread the plugin started. Objects created from the context are
     * destroyed before. [load-thread] */
    void (*shutdown)(void *plugin_ctx);

    /* The kind interface by id ("mh.text_decoder.v1", "mh.vision_encoder.v1", "mh.image_preprocessor.v1"), or NULL for
     * an id the plugin does not implement; never crashes on an unknown id. The returned table is static and lives
     * until exit. [any-thread] */
    const void *(*get_interface)(void *plugin_ctx, const char *iid);
} mh_plugin_v1;

/* The one exported symbol for ABI major 1. Fills *out with a static descriptor that lives until exit. Cheap,
 * idempotent and thread-safe: no threads, no I/O, no ISA-specific code. Returns MH_ERR_INCOMPATIBLE (with a message)
 * if host->abi_major is not 1 or host->abi_minor is below what the plugin requires. [load-thread] */
typedef int32_t (*mh_plugin_entry_v1_fn)(const mh_host_v1 *host, const mh_plugin_v1 **out, mh_status *st);
#define MH_PLUGIN_ENTRY_V1_SYMBOL "mh_plugin_entry_v1"

/* ===============================================================================================================
 * 5. What every kind shares: interface ids (each kind's header defines its table), the model descriptor
 * =============================================================================================================== */

#define MH_IID_TEXT_DECODER_V1 "mh.text_decoder.v1"
#define MH_IID_VISION_ENCODER_V1 "mh.vision_encoder.v1"
#define MH_IID_IMAGE_PREPROCESSOR_V1 "mh.image_preprocessor.v1"
#define MH_IID_TEXT_ENCODER_V1 "mh.text_encoder.v1"           /* ABI 1.2 */

/* How a decoder stores its sequences' keys and values (ABI 1.3). F32 keeps them as computed; F16 and BF16 halve the
 * cache's memory and the bytes attention reads per position, rounding each stored value to nearest (ties to even);
 * Q8_0 quantizes each block of 32 values as llama.cpp's Q8_0 does (scale = max |x| / 127).
 * A plugin declares each type beyond F32 it implements with its capability bit (MH_CAP_KV_F16, MH_CAP_KV_BF16); the
 * host never asks for one the plugin did not declare. */
enum mh_kv_cache_type {
    MH_KV_F32 = 0,                 /* the default, and what a desc without the field means */
    MH_KV_F16 = 1,                 /* IEEE binary16 */
    MH_KV_BF16 = 2,                /* bfloat16: the upper half of a float */
    MH_KV_Q8_0 = 3                 /* blocks of 32 values of one head and position: signed bytes and one scale */
};

/* What a model object is opened from. */
typedef struct mh_model_desc {
    uint32_t struct_size;
    uint32_t reserved;
    const mh_weights_v1 *weights;  /* borrowed; valid until the model is closed */
    const char *path;              /* the model file or directory, for messages only (never re-open it) */
    uint32_t max_sequences;        /* upper bound on live sequences the host will create */
    uint32_t max_context;          /* upper bound on tokens per sequence (0 = the model's trained context) */
    uint64_t cancel_token;         /* for long loads */
    /* ---- ABI 1.3: read only when MH_HAS_FIELD(desc, mh_model_desc, kv_cache_type); absent means MH_KV_F32. ---- */
    uint32_t kv_cache_type;        /* enum mh_kv_cache_type (decoders; other kinds ignore it). A decoder refuses a
                                    * type it does not implement with MH_ERR_UNSUPPORTED, naming the type. */
    uint32_t reserved2;
} mh_model_desc;

/* ===============================================================================================================
 * 6. Layout fences. These offsets are frozen for ABI 1.0: if one fails, you changed the ABI. Each kind's header
 *    fences its own structs with MH_FENCE_SIZE.
 * =============================================================================================================== */
#if defined(__cplusplus)
#define MH_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define MH_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

MH_STATIC_ASSERT(sizeof(void *) == 8, "ModelHost plugins are 64-bit only");
/* Each struct's 1.0 fields sit where 1.0 put them, its 1.0 size is MH_*_SIZE_1_0, and later minors only append. */
#define MH_FENCE_SIZE(type, last_field, size_1_0) \
    MH_STATIC_ASSERT(offsetof(type, last_field) + sizeof(((type *)0)->last_field) <= (size_1_0) && \
                     offsetof(type, last_field) + sizeof(((type *)0)->last_field) + 8 > (size_1_0) && \
                     sizeof(type) >= (size_1_0), #type " 1.0 size")

MH_STATIC_ASSERT(offsetof(mh_status, message) == 8, "mh_status 1.0 layout");
MH_FENCE_SIZE(mh_status, message, MH_STATUS_SIZE_1_0);
MH_STATIC_ASSERT(offsetof(mh_tensor, shape) == 16 && offsetof(mh_tensor, stride_bytes) == 80 &&
                 offsetof(mh_tensor, data) == 144, "mh_tensor 1.0 layout");
MH_FENCE_SIZE(mh_tensor, device_id, MH_TENSOR_SIZE_1_0);
MH_STATIC_ASSERT(offsetof(mh_value, str) == 32, "mh_value 1.0 layout");
MH_FENCE_SIZE(mh_value, reserved, MH_VALUE_SIZE_1_0);
MH_FENCE_SIZE(mh_hw_info, reserved, MH_HW_INFO_SIZE_1_0);
MH_STATIC_ASSERT(offsetof(mh_host_v1, host_ctx) == 8 && offsetof(mh_host_v1, log) == 16 &&
                 offsetof(mh_host_v1, hw) == 56, "mh_host_v1 1.0 layout");
MH_FENCE_SIZE(mh_host_v1, hw, MH_HOST_V1_SIZE_1_0);
MH_STATIC_ASSERT(offsetof(mh_weights_v1, tensor_count) == 16, "mh_weights_v1 1.0 layout");
MH_FENCE_SIZE(mh_weights_v1, get_meta_element, MH_WEIGHTS_V1_SIZE_1_0);
MH_STATIC_ASSERT(offsetof(mh_probe_query, family) == 8, "mh_probe_query 1.0 layout");
MH_FENCE_SIZE(mh_probe_query, reserved, MH_PROBE_QUERY_SIZE_1_0);
MH_STATIC_ASSERT(offsetof(mh_plugin_v1, id) == 16 && offsetof(mh_plugin_v1, capabilities) == 48 &&
                 offsetof(mh_plugin_v1, probe) == 56, "mh_plugin_v1 1.0 layout");
MH_FENCE_SIZE(mh_plugin_v1, get_interface, MH_PLUGIN_V1_SIZE_1_0);
MH_FENCE_SIZE(mh_model_desc, cancel_token, MH_MODEL_DESC_SIZE_1_0);

#ifdef __cplusplus
} /* extern "C" */
#endif
#endif /* MODELHOST_COMMON_H */
