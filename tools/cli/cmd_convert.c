/* `sdc convert IN OUT [--type T]`: rewrites any model sdc opens (single
 * file, shard index, diffusers folder; safetensors / .ckpt / GGUF) as one
 * safetensors or GGUF file under canonical names (formats/convert.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "base/util.h"
#include "cli.h"
#include "formats/convert.h"

int sdc_cmd_convert(int argc, char **argv) {
    const char *type = NULL;
    bool overwrite = false;
    const sdc_arg args[] = {
        {"--type", NULL, SDC_ARG_STRING, &type, 0, 0, "f32, f16, bf16, or (GGUF) q8_0, q5_1, q5_0, q4_1, q4_0 (default: keep)", "T"},
        {"--overwrite", NULL, SDC_ARG_FLAG, &overwrite, 0, 0, "replace OUT if it exists", NULL},
    };
    const char *pos[2];
    int n_pos = 0;
    int rc = sdc_args_parse(argc, argv, args, (int)SDC_ARRAY_LEN(args), "usage: sdc convert IN OUT [--type T] [--overwrite]",
                            "IN: .safetensors, .ckpt/.pt/.pth/.bin, .gguf, *.safetensors.index.json or a diffusers\n"
                            "folder. OUT: .safetensors or .gguf. Quantized types apply to matrices whose rows are\n"
                            "multiples of 32; other matrices become f16, vectors f32.\n",
                            pos, 2, &n_pos);
    if (rc) return rc == 1 ? 0 : 2;
    if (n_pos != 2) {
        fprintf(stderr, "sdc convert: give IN and OUT (see sdc convert --help)\n");
        return 2;
    }
    int t = type ? sdc_dtype_from_name(type) : -1;
    if (type && (t < 0 || (!sdc_dtype_is_float((sdc_dtype)t) && sdc_dtype_block_elems((sdc_dtype)t) == 1) || t == SDC_DTYPE_F64)) {
        fprintf(stderr, "sdc convert: unknown --type '%s'\n", type);
        return 2;
    }
    sdc_error err = {0};
    sdc_model_files *m = NULL;
    sdc_convert_opts o = {t, overwrite};
    double t0 = sdc_time_now();
    sdc_status st = sdc_model_files_open(pos[0], &m, &err);
    if (!st) st = sdc_convert_model(m, pos[1], &o, &err);
    if (st) {
        fprintf(stderr, "sdc convert: %s\n", sdc_error_msg(&err));
        sdc_model_files_close(m);
        return st == SDC_ERR_INVALID_ARG ? 2 : 1;
    }
    printf("wrote %s: %zu tensors, %.2f s\n", pos[1], sdc_model_files_count(m), sdc_time_now() - t0);
    sdc_model_files_close(m);
    return 0;
}
