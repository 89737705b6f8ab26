/* Restricted unpickler for PyTorch checkpoints.
 *
 * A pickle is a program for a small stack machine; Python's unpickler can
 * import and call anything, which is why loading an untrusted .ckpt with
 * torch.load can run code. This VM never calls anything: it understands
 * the opcodes of protocols 2..5 that build data (numbers, strings, bytes,
 * None/bools, tuples, lists, dicts, memo, framing) and a fixed allowlist of
 * globals, which it implements itself as data constructors:
 *   collections.OrderedDict                  -> dict
 *   torch._utils._rebuild_tensor / _v2       -> tensor descriptor
 *   torch._utils._rebuild_parameter(_with_state), torch._tensor._rebuild_from_type_v2
 *                                            -> the tensor they wrap
 *   torch.{Float,Half,BFloat16,Double,Long,Int,Short,Char,Byte,Bool}Storage
 *                                            -> storage type tags for persistent ids
 *   torch.Tensor, torch.nn.parameter.Parameter -> type tags
 *   numpy.core.multiarray.scalar, numpy.dtype, _codecs.encode
 *                                            -> opaque values (metadata only)
 * Every other global, and the opcodes that instantiate classes (INST, OBJ,
 * EXT*) or use out-of-band buffers, is refused with an error naming it.
 * Persistent ids ('storage', type, key, location, numel) become storage
 * references; resolving them against the archive is torch_ckpt.c's job.
 *
 * All objects live in one arena freed with the pickle, bounded by a
 * multiple of the input size, so hostile input cannot exhaust memory. */
#ifndef SDC_FORMATS_PICKLE_H
#define SDC_FORMATS_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "formats/weight_file.h"

typedef enum sdc_pk_kind {
    SDC_PK_NONE,
    SDC_PK_BOOL,    /* i */
    SDC_PK_INT,     /* i (integers beyond 64 bits become OPAQUE) */
    SDC_PK_FLOAT,   /* f */
    SDC_PK_STR,     /* s, len (UTF-8 as stored, NUL-terminated copy) */
    SDC_PK_BYTES,   /* s, len */
    SDC_PK_TUPLE,   /* items[n] */
    SDC_PK_LIST,    /* items[n] */
    SDC_PK_DICT,    /* items[n], n even: key, value, key, value... in insertion order */
    SDC_PK_GLOBAL,  /* global: one of the allowlisted names (a callable or a tag) */
    SDC_PK_STORAGE, /* dtype, s = storage key, numel */
    SDC_PK_TENSOR,  /* storage, offset, ndim, shape, stride (elements) */
    SDC_PK_OPAQUE   /* a value sdc keeps no content of */
} sdc_pk_kind;

typedef struct sdc_pk_obj sdc_pk_obj;
struct sdc_pk_obj {
    sdc_pk_kind kind;
    int global;           /* GLOBAL: index into the allowlist */
    int visited;          /* scratch flag for walkers (cycle guard) */
    int64_t i;
    double f;
    const char *s;
    size_t len;
    sdc_pk_obj **items;
    size_t n, cap;
    sdc_dtype dtype;      /* STORAGE */
    int64_t numel;        /* STORAGE */
    sdc_pk_obj *storage;  /* TENSOR */
    int64_t offset;       /* TENSOR: storage offset in elements */
    int ndim;             /* TENSOR */
    int64_t shape[SDC_WEIGHT_MAX_DIMS], stride[SDC_WEIGHT_MAX_DIMS];
};

typedef struct sdc_pickle sdc_pickle;

/* Runs the pickle in [data, data + len) up to STOP. */
sdc_status sdc_pickle_load(const unsigned char *data, size_t len, sdc_pickle **out, sdc_error *err);
/* The value the pickle produced (owned by p). */
sdc_pk_obj *sdc_pickle_root(const sdc_pickle *p);
void sdc_pickle_free(sdc_pickle *p);

/* Dict lookup by string key (first match), or NULL. Duplicate keys are
 * kept as stored (torch never writes them); loaders reject them. */
const sdc_pk_obj *sdc_pk_dict_get(const sdc_pk_obj *dict, const char *key);

#endif
