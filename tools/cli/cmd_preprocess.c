/* `sdc preprocess KIND [options] IN OUT`: runs a model-free ControlNet
 * preprocessor (canny, scribble, scribble --xdog) on an image file and
 * writes the single-channel 0/255 map as PNG. The output file appears
 * whole or not at all; an existing OUT is kept unless --overwrite.
 * Exit codes: 0 ok, 2 bad usage / unreadable input / OUT exists, 1 other
 * failures (e.g. a write error). */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "image/image_io.h"
#include "image/preprocess.h"

static void preprocess_usage(FILE *f) {
    fprintf(f,
            "usage: sdc preprocess KIND [options] IN OUT\n"
            "Makes a ControlNet control image (gray PNG, edges/strokes white on black).\n"
            "IN: PNG, JPEG or WebP (alpha is composited on white).\n\n"
            "preprocessors:\n"
            "  canny [--low L] [--high H]    OpenCV Canny edges (defaults 100, 200)\n"
            "  scribble [--threshold T]      dark strokes of a drawing -> white lines\n"
            "                                (pixels with min(R,G,B) < T, default 127)\n"
            "  scribble --xdog [--threshold T]\n"
            "                                sketch lines from a photo (XDoG, default 32)\n\n"
            "options for all:\n"
            "  --overwrite                   replace OUT if it exists\n");
}

typedef struct pre_opts {
    float low, high;
    int threshold;
    bool xdog, overwrite;
    const char *in, *out;
} pre_opts;

/* Parses the options of one kind; returns -1 to go on, else an exit code. */
static int parse_opts(const char *kind, int argc, char **argv, pre_opts *o) {
    sdc_arg canny_args[] = {
        {"--low", NULL, SDC_ARG_FLOAT, &o->low, 0, 1e6, "low hysteresis threshold (default 100)", "L"},
        {"--high", NULL, SDC_ARG_FLOAT, &o->high, 0, 1e6, "high hysteresis threshold (default 200)", "H"},
        {"--overwrite", NULL, SDC_ARG_FLAG, &o->overwrite, 0, 0, "replace OUT if it exists", NULL},
    };
    sdc_arg scribble_args[] = {
        {"--xdog", NULL, SDC_ARG_FLAG, &o->xdog, 0, 0, "sketch lines from a photo (XDoG)", NULL},
        {"--threshold", NULL, SDC_ARG_INT, &o->threshold, 0, 256,
         "stroke threshold (default 127; with --xdog 32, at most 255)", "T"},
        {"--overwrite", NULL, SDC_ARG_FLAG, &o->overwrite, 0, 0, "replace OUT if it exists", NULL},
    };
    int is_canny = strcmp(kind, "canny") == 0;
    const sdc_arg *args = is_canny ? canny_args : scribble_args;
    int n_args = 3; /* both tables */
    char usage[96];
    snprintf(usage, sizeof usage, "sdc preprocess %s [options] IN OUT", kind);
    const char *pos[2];
    int n_pos = 0;
    int rc = sdc_args_parse(argc, argv, args, n_args, usage, NULL, pos, 2, &n_pos);
    if (rc == 1) return 0;
    if (rc != 0) return 2;
    if (n_pos != 2) {
        fprintf(stderr, "sdc preprocess %s: expected IN and OUT (see --help)\n", kind);
        return 2;
    }
    o->in = pos[0];
    o->out = pos[1];
    return -1;
}

int sdc_cmd_preprocess(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        preprocess_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *kind = argv[1];
    if (strcmp(kind, "canny") != 0 && strcmp(kind, "scribble") != 0) {
        fprintf(stderr, "sdc preprocess: unknown preprocessor '%s'\n", kind);
        preprocess_usage(stderr);
        return 2;
    }
    pre_opts o = {SDC_CANNY_LOW_DEFAULT, SDC_CANNY_HIGH_DEFAULT, -1, false, false, NULL, NULL};
    int rc = parse_opts(kind, argc - 1, argv + 1, &o);
    if (rc >= 0) return rc;
    if (o.xdog && o.threshold > 255) {
        fprintf(stderr, "sdc preprocess scribble: --threshold for --xdog must be 0..255\n");
        return 2;
    }
    sdc_error err;
    sdc_error_clear(&err);
    sdc_image in = {0}, out = {0};
    if (sdc_image_load(o.in, &in, NULL, &err) != SDC_OK) {
        fprintf(stderr, "sdc preprocess: %s\n", sdc_error_msg(&err));
        return 2;
    }
    sdc_status st;
    if (strcmp(kind, "canny") == 0) st = sdc_canny(&in, o.low, o.high, &out, &err);
    else if (o.xdog) st = sdc_scribble_xdog(&in, o.threshold < 0 ? SDC_XDOG_THRESHOLD_DEFAULT : o.threshold, &out, &err);
    else st = sdc_scribble_threshold(&in, o.threshold < 0 ? SDC_SCRIBBLE_THRESHOLD_DEFAULT : o.threshold, &out, &err);
    if (st == SDC_OK) st = sdc_image_save_png(o.out, &out, NULL, o.overwrite ? SDC_WRITE_OVERWRITE : 0, &err);
    sdc_image_free(&in);
    sdc_image_free(&out);
    if (st == SDC_OK) return 0;
    fprintf(stderr, "sdc preprocess %s: %s\n", kind, sdc_error_msg(&err));
    return st == SDC_ERR_INVALID_ARG || strstr(sdc_error_msg(&err), "exists") ? 2 : 1;
}
