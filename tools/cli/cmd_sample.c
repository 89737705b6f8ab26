/* `sdc sigmas`: prints the sigma schedule a sampler would walk (one line per
 * sigma: index, sigma, model timestep), for checking schedules against other
 * programs. `sdc noise`: prints the first values of the initial noise an RNG
 * draws for a seed (one per line, %.9g), for checking seeds against torch /
 * A1111. Both list the valid names in --help. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "sample/rng.h"
#include "sample/sampler.h"
#include "sample/schedule.h"

static int parse_rule(const char *s, sdc_img2img_rule *out) {
    if (!strcmp(s, "diffusers")) *out = SDC_IMG2IMG_DIFFUSERS;
    else if (!strcmp(s, "a1111")) *out = SDC_IMG2IMG_A1111;
    else if (!strcmp(s, "comfy")) *out = SDC_IMG2IMG_COMFY;
    else return -1;
    return 0;
}

int sdc_cmd_sigmas(int argc, char **argv) {
    const char *sched_name = NULL, *sampler_name = "euler", *rule_name = "diffusers";
    int steps = 20;
    float strength = 1.0f;
    const sdc_arg args[] = {
        {"--scheduler", NULL, SDC_ARG_STRING, &sched_name, 0, 0, "scheduler (default: the sampler's default)", "NAME"},
        {"--sampler", NULL, SDC_ARG_STRING, &sampler_name, 0, 0, "sampler (default euler)", "NAME"},
        {"--steps", NULL, SDC_ARG_INT, &steps, 1, 10000, "sampling steps (default 20)", "N"},
        {"--strength", NULL, SDC_ARG_FLOAT, &strength, 0.0001, 1, "img2img strength (default 1)", "S"},
        {"--img2img-rule", NULL, SDC_ARG_STRING, &rule_name, 0, 0, "diffusers | a1111 | comfy (default diffusers)",
         "RULE"},
    };
    char extra[1024];
    snprintf(extra, sizeof extra, "samplers: %s\nschedulers: %s\n", sdc_sampler_names(), sdc_scheduler_names());
    int rc = sdc_args_parse(argc, argv, args, (int)(sizeof args / sizeof args[0]), "usage: sdc sigmas [options]",
                            extra, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : 2;
    sdc_error err = {0};
    sdc_sampler_kind k;
    sdc_scheduler sched;
    int has = 0;
    sdc_img2img_rule rule;
    if (sdc_sampler_from_name(sampler_name, &k, &sched, &has, &err) != SDC_OK) goto usage_fail;
    if (!has) sched = sdc_sampler_default_scheduler(k);
    if (sched_name && sdc_scheduler_from_name(sched_name, &sched, &err) != SDC_OK) goto usage_fail;
    if (parse_rule(rule_name, &rule)) {
        fprintf(stderr, "sdc sigmas: unknown --img2img-rule '%s' (diffusers, a1111, comfy)\n", rule_name);
        return 2;
    }
    sdc_noise_schedule ns;
    sdc_sched sc;
    sdc_sched_opts o;
    sdc_sched_opts_default(&o);
    o.discard_penultimate = sdc_sampler_discards_penultimate(k);
    if (sdc_noise_schedule_init(&ns, 0.00085, 0.012, 1000, &err) != SDC_OK ||
        sdc_sched_build_img2img(&sc, &ns, sched, steps, strength, rule, &o, &err) != SDC_OK)
        goto usage_fail;
    printf("# sampler %s, scheduler %s, %d steps, initial noise scale %.9g\n", sdc_sampler_name(k),
           sdc_scheduler_name(sched), sc.steps, sc.init_noise_scale);
    for (int i = 0; i <= sc.steps; i++) printf("%d %.9g %.9g\n", i, sc.sigmas[i], sc.timesteps[i]);
    sdc_sched_free(&sc);
    return 0;
usage_fail:
    fprintf(stderr, "sdc sigmas: %s\n", sdc_error_msg(&err));
    return 2;
}

int sdc_cmd_noise(int argc, char **argv) {
    const char *rng_name = "cpu";
    long long seed = 0;
    int count = 8, total = 0;
    const sdc_arg args[] = {
        {"--rng", NULL, SDC_ARG_STRING, &rng_name, 0, 0, "cpu | cpu-scalar | philox (default cpu)", "KIND"},
        {"--seed", NULL, SDC_ARG_INT64, &seed, 0, 9.2e18, "seed (default 0)", "N"},
        {"--count", NULL, SDC_ARG_INT, &count, 1, 1 << 24, "values to print (default 8)", "N"},
        {"--size", NULL, SDC_ARG_INT, &total, 0, 1 << 24,
         "size of the draw, e.g. 4*64*64 for a 512x512 latent (default: --count)", "N"},
    };
    int rc = sdc_args_parse(argc, argv, args, (int)(sizeof args / sizeof args[0]), "usage: sdc noise [options]",
                            "Prints the first values of torch.randn(size) for the seed.\n", NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : 2;
    sdc_rng_kind kind;
    if (sdc_rng_kind_from_name(rng_name, &kind)) {
        fprintf(stderr, "sdc noise: unknown --rng '%s' (cpu, cpu-scalar, philox)\n", rng_name);
        return 2;
    }
    if (total < count) total = count;
    float *v = malloc((size_t)total * sizeof(float));
    if (!v) {
        fprintf(stderr, "sdc noise: out of memory\n");
        return 1;
    }
    sdc_rng r;
    sdc_rng_init(&r, kind, (uint64_t)seed);
    sdc_rng_randn(&r, v, (size_t)total);
    for (int i = 0; i < count; i++) printf("%.9g\n", v[i]);
    free(v);
    return 0;
}
