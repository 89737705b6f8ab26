/* Shared set-up for the workflow and server tests: a temporary models
 * folder holding links to the shared tiny SD 1.5 model (+ its .yaml) and
 * the CLIP vocabulary, plus input / output / temp folders. */
#ifndef SDC_TEST_WORKFLOW_COMMON_H
#define SDC_TEST_WORKFLOW_COMMON_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

/* Writes a ControlNet for the tiny model (test_workflow.c); 0 on success. */
int sdc_test_write_controlnet(const char *path);

typedef struct wf_dirs {
    char models[PATH_MAX], input[PATH_MAX], output[PATH_MAX], temp[PATH_MAX];
} wf_dirs;

/* links shared/rel into dir under the same base name; 0 on success */
static inline int wf_link_shared(const char *rel, const char *dir) {
    char real[PATH_MAX], link[PATH_MAX * 2];
    if (!realpath(sdc_test_shared(rel), real)) return -1;
    const char *base = strrchr(rel, '/');
    snprintf(link, sizeof link, "%s/%s", dir, base ? base + 1 : rel);
    if (access(link, F_OK) == 0) return 0;
    return symlink(real, link);
}

/* Creates the folders once per run (under the test tmp dir); 0 when the
 * shared model is available. */
static inline int wf_setup(wf_dirs *d) {
    snprintf(d->models, sizeof d->models, "%s", sdc_test_tmp("wf_models"));
    snprintf(d->input, sizeof d->input, "%s", sdc_test_tmp("wf_input"));
    snprintf(d->output, sizeof d->output, "%s", sdc_test_tmp("wf_output"));
    snprintf(d->temp, sizeof d->temp, "%s", sdc_test_tmp("wf_temp"));
    mkdir(d->models, 0755), mkdir(d->input, 0755), mkdir(d->output, 0755), mkdir(d->temp, 0755);
    if (wf_link_shared("reference/model/sd15-random-tiny.safetensors", d->models)) return -1;
    if (wf_link_shared("reference/model/sd15-random-tiny.yaml", d->models)) return -1;
    if (wf_link_shared("clip/bpe_simple_vocab_16e6.txt.gz", d->models)) return -1;
    return 0;
}

#endif
