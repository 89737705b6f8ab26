/* A1111 web UI API pieces shared by api_a1111.c (routes) and a1111_gen.c
 * (txt2img / img2img): A1111's sampler and scheduler names, and the
 * default checkpoint. Not a public header. */
#ifndef SDC_SERVER_A1111_H
#define SDC_SERVER_A1111_H

#include "sample/sampler.h"
#include "server/srv_internal.h"

typedef struct srv_a1111_sampler {
    const char *name;       /* "DPM++ 2M" */
    const char *aliases[3]; /* "k_dpmpp_2m", ... (NULL-terminated) */
    sdc_sampler_kind kind;
    const char *scheduler;  /* what "automatic" means for it ("karras", "uniform", ...) */
    const char *options;    /* A1111's options object as JSON text */
} srv_a1111_sampler;

typedef struct srv_a1111_scheduler {
    const char *name, *label;
    sdc_scheduler kind;
} srv_a1111_scheduler;

const srv_a1111_sampler *srv_a1111_samplers(int *n);
const srv_a1111_scheduler *srv_a1111_schedulers(int *n);

/* Resolves A1111 sampler + scheduler names ("automatic" or NULL: the
 * sampler's own). Writes the labels for the infotext. -1 with a message
 * in msg for unknown or unsupported names. */
int srv_a1111_resolve_sampler(const char *sampler, const char *scheduler, sdc_sampler_kind *kind, sdc_scheduler *sched,
                              char *sampler_label, char *sched_label, size_t label_size, char *msg, size_t msg_size);

/* The checkpoint A1111 requests use by default: the one set through
 * /options, else the first listed. Writes its listed name; -1 when the
 * models folder holds no checkpoint. */
int srv_a1111_default_checkpoint(sdc_server *s, char *name, size_t size);

/* POST /sdapi/v1/txt2img and /img2img. */
void srv_a1111_generate(srv_req *r, int img2img);

#endif
