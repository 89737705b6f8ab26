/* Fuzz entry points (see fuzz_entry.h). */
#include "formats/fuzz_entry.h"

#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "formats/torch_ckpt.h"
#include "formats/weight_file.h"
#include "formats/zip.h"

/* Reads every byte of every tensor and converts the small float ones. */
static unsigned touch(const sdc_weight_file *f) {
    unsigned sum = 0;
    float buf[4096];
    for (size_t i = 0; i < f->count; i++) {
        const sdc_weight_info *w = &f->tensors[i];
        for (size_t b = 0; b < w->nbytes; b++) sum += ((const unsigned char *)w->data)[b];
        int convertible = sdc_dtype_is_float(w->dtype) || sdc_dtype_block_elems(w->dtype) > 1;
        sdc_error err = {0};
        if (convertible && (size_t)sdc_weight_numel(w) <= 4096) sdc_weight_convert(w, SDC_DTYPE_F32, buf, sizeof buf, &err);
    }
    return sum;
}

typedef sdc_status (*parse_fn)(sdc_weight_file *, const unsigned char *, size_t, sdc_error *);

static int run(parse_fn parse, const uint8_t *data, size_t size) {
    sdc_error err = {0};
    sdc_weight_file *f = sdc_weight_file_new("fuzz", &err);
    if (!f) return 1;
    sdc_status st = parse(f, data, size, &err);
    volatile unsigned sink = st == SDC_OK ? touch(f) : 0;
    (void)sink;
    sdc_weight_file_close(f);
    if (st != SDC_OK && err.msg[0] == '\0') abort(); /* a refusal must say why */
    return st == SDC_OK ? 0 : 1;
}

int sdc_fuzz_safetensors(const uint8_t *data, size_t size) { return run(sdc_safetensors_parse, data, size); }
int sdc_fuzz_gguf(const uint8_t *data, size_t size) { return run(sdc_gguf_parse, data, size); }

int sdc_fuzz_pickle(const uint8_t *data, size_t size) {
    sdc_error err = {0};
    sdc_status st = sdc_torch_check_pickle(data, size, &err);
    if (st != SDC_OK && err.msg[0] == '\0') abort();
    return st == SDC_OK ? 0 : 1;
}

int sdc_fuzz_zip(const uint8_t *data, size_t size) {
    /* the archive layer alone: every entry read back (inflated ones checked) */
    sdc_zip z;
    sdc_error err = {0};
    if (sdc_zip_open(&z, data, size, &err) == SDC_OK) {
        for (size_t i = 0; i < z.n; i++) {
            const unsigned char *p;
            void *owned = NULL;
            sdc_error e2 = {0};
            if (z.entries[i].size <= (1u << 24) && sdc_zip_read(&z, &z.entries[i], &p, &owned, &e2) == SDC_OK) free(owned);
        }
        sdc_zip_close(&z);
    } else if (err.msg[0] == '\0') {
        abort();
    }
    /* and the whole checkpoint loader */
    return run(sdc_torch_parse, data, size);
}
