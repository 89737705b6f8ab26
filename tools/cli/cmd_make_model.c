/* `sdc make-model`: writes a random-weight checkpoint with the real key
 * names and shapes of a model family (formats/make_model.h), e.g. for
 * benchmarks and tests that need full-size weights nobody has to download. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "base/util.h"
#include "cli.h"
#include "formats/make_model.h"

int sdc_cmd_make_model(int argc, char **argv) {
    const char *family = "sd15", *size = "tiny", *dtype = "f16", *out = NULL;
    long long seed = 0;
    int threads = 0;
    bool overwrite = false;
    const sdc_arg args[] = {
        {"--family", NULL, SDC_ARG_STRING, &family, 0, 0, "sd15 (default), sd2, sdxl or taesd", "NAME"},
        {"--size", NULL, SDC_ARG_STRING, &size, 0, 0, "tiny (default; sd15 tiny = the shared reference model's shapes) or full", "SIZE"},
        {"--seed", NULL, SDC_ARG_INT64, &seed, 0, 9.2e18, "seed of the weights (default 0)", "N"},
        {"--dtype", NULL, SDC_ARG_STRING, &dtype, 0, 0, "f16 (default), f32 or bf16", "TYPE"},
        {"--out", "-o", SDC_ARG_STRING, &out, 0, 0, "output .safetensors (or .gguf) file", "FILE"},
        {"--overwrite", NULL, SDC_ARG_FLAG, &overwrite, 0, 0, "replace FILE if it exists", NULL},
        {"--threads", "-t", SDC_ARG_INT, &threads, 0, 4096, "threads (default: all CPUs)", "N"},
    };
    int n_pos = 0;
    int rc = sdc_args_parse(argc, argv, args, (int)SDC_ARRAY_LEN(args), "usage: sdc make-model --out FILE [options]",
                            "Writes a checkpoint of random weights with the real names and shapes (sd15 full:\n"
                            "1.07 B parameters, 2.1 GB in f16), deterministic for a seed.\n",
                            NULL, 0, &n_pos);
    if (rc) return rc == 1 ? 0 : 2;
    if (!out) {
        fprintf(stderr, "sdc make-model: --out FILE is required\n");
        return 2;
    }
    int t = sdc_dtype_from_name(dtype);
    if (t != SDC_DTYPE_F32 && t != SDC_DTYPE_F16 && t != SDC_DTYPE_BF16) {
        fprintf(stderr, "sdc make-model: --dtype must be f16, f32 or bf16, not '%s'\n", dtype);
        return 2;
    }
    sdc_make_model_opts o = {family, size, (uint64_t)seed, (sdc_dtype)t, overwrite, threads};
    sdc_error err = {0};
    int64_t params = 0;
    double t0 = sdc_time_now();
    sdc_status st = sdc_make_model(out, &o, &params, &err);
    if (st) {
        fprintf(stderr, "sdc make-model: %s\n", sdc_error_msg(&err));
        return st == SDC_ERR_INVALID_ARG ? 2 : 1;
    }
    printf("wrote %s: %s %s, %lld parameters (%s), seed %lld, %.2f s\n", out, family, size, (long long)params,
           sdc_dtype_name((sdc_dtype)t), seed, sdc_time_now() - t0);
    return 0;
}
