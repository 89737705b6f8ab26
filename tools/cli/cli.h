/* Shared declarations of the sdc CLI. Exit codes: 0 success, 1 runtime
 * failure (I/O, bad model file), 2 bad usage or invalid arguments. */
#ifndef SDC_CLI_H
#define SDC_CLI_H

typedef struct sdc_cli_command {
    const char *name, *help;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} sdc_cli_command;

#define SDC_VERSION "0.1.0"

int sdc_cmd_version(int argc, char **argv);
int sdc_cmd_generate(int argc, char **argv);
int sdc_cmd_compare(int argc, char **argv);
int sdc_cmd_encode_text(int argc, char **argv);
int sdc_cmd_tokenize(int argc, char **argv);
int sdc_cmd_preprocess(int argc, char **argv);
int sdc_cmd_sigmas(int argc, char **argv);
int sdc_cmd_noise(int argc, char **argv);
int sdc_cmd_info(int argc, char **argv);
int sdc_cmd_convert(int argc, char **argv);
int sdc_cmd_make_model(int argc, char **argv);
int sdc_cmd_serve(int argc, char **argv);

#endif
