/* Entry point shared by the libFuzzer target fuzz/fuzz_workflow.c and the
 * seed regression test (tests/unit/test_workflow_fuzz_seeds.c): client
 * bytes through the server's JSON reader and the graph validator, as
 * POST /prompt feeds them. */
#ifndef SDC_SERVER_FUZZ_ENTRY_H
#define SDC_SERVER_FUZZ_ENTRY_H

#include <stddef.h>
#include <stdint.h>

/* Parses data as JSON (bounded depth), takes its "prompt" member (or the
 * whole object) and validates it against the node table. Returns 0 when a
 * graph was built, 1 when refused (bad JSON or invalid graph; a refusal
 * must come with an error object, else this aborts). No files are read:
 * model and image lists are empty. */
int sdc_fuzz_workflow(const uint8_t *data, size_t size);

#endif
