/* libFuzzer target: the ComfyUI workflow JSON validator (see
 * src/server/fuzz_entry.h). Seeds: fuzz/corpus/workflow. */
#include <stddef.h>
#include <stdint.h>

#include "server/fuzz_entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sdc_fuzz_workflow(data, size);
    return 0;
}
