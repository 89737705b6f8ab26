/* Declarative command-line options for sdc subcommands.
 *
 * A command lists its options in a table; sdc_args_parse fills the target
 * variables, rejects unknown options, bad numbers and out-of-range values
 * with a clear message (exit code 2 for the caller), and prints --help
 * generated from the table. Values: --name VALUE or --name=VALUE. */
#ifndef SDC_CLI_ARGS_H
#define SDC_CLI_ARGS_H

#include <stdbool.h>
#include <stdio.h>

typedef enum sdc_arg_type {
    SDC_ARG_FLAG,   /* bool, no value */
    SDC_ARG_STRING, /* const char * */
    SDC_ARG_INT,    /* int, within [min, max] */
    SDC_ARG_INT64,  /* long long, within [min, max] */
    SDC_ARG_FLOAT,  /* float, within [min, max] */
    SDC_ARG_LIST    /* repeatable string: appends to a sdc_arg_list */
} sdc_arg_type;

typedef struct sdc_arg_list {
    const char *items[32];
    int n;
} sdc_arg_list;

typedef struct sdc_arg {
    const char *name;  /* "--steps" */
    const char *alias; /* "-s" or NULL */
    sdc_arg_type type;
    void *target;
    double min, max; /* numeric range (ignored when min == max == 0) */
    const char *help;  /* "sampling steps (default 20)" */
    const char *metavar;
} sdc_arg;

/* Parses argv[1..argc) (argv[0] is the command name). Positional arguments
 * are stored into positional[] (up to max_pos; *n_pos set). Returns 0 on
 * success, 1 when --help was printed (caller exits 0), 2 on a usage error
 * (message printed to stderr). */
int sdc_args_parse(int argc, char **argv, const sdc_arg *args, int n_args, const char *usage, const char *extra_help,
                   const char **positional, int max_pos, int *n_pos);

void sdc_args_help(FILE *f, const sdc_arg *args, int n_args, const char *usage, const char *extra_help);

#endif
