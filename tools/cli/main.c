/* The `sdc` command: dispatches to subcommands (one file each, cmd_*.c). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const sdc_cli_command k_commands[] = {
    {"generate", "make images: txt2img, img2img, inpaint, outpaint", sdc_cmd_generate},
    {"encode-text", "write a prompt's text conditioning as a tensor", sdc_cmd_encode_text},
    {"compare", "compare tensors or stage dumps with a reference", sdc_cmd_compare},
    {"version", "print version and CPU features", sdc_cmd_version},
    {"tokenize", "print the CLIP token ids of a text", sdc_cmd_tokenize},
    {"preprocess", "make a ControlNet control image (canny, scribble)", sdc_cmd_preprocess},
    {"sigmas", "print a sampler's sigma schedule and timesteps", sdc_cmd_sigmas},
    {"noise", "print the noise an RNG draws for a seed (torch cpu, A1111 philox)", sdc_cmd_noise},
    {"info", "describe a model file or folder (format, family, components, shapes)", sdc_cmd_info},
    {"convert", "convert a model to safetensors or GGUF (f16, q8_0, ...)", sdc_cmd_convert},
    {"make-model", "write a random-weight model with real names and shapes", sdc_cmd_make_model},
    {"serve", "HTTP server: A1111 and ComfyUI APIs, web UI", sdc_cmd_serve},
};

static void usage(FILE *f) {
    fprintf(f, "usage: sdc COMMAND [options]   (sdc COMMAND --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
        fprintf(f, "  %-14s %s\n", k_commands[i].name, k_commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
        if (strcmp(argv[1], k_commands[i].name) == 0) return k_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "sdc: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
