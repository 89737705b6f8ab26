/* libFuzzer target: the safetensors parser (see src/formats/fuzz_entry.h). */
#include <stddef.h>
#include <stdint.h>

#include "formats/fuzz_entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sdc_fuzz_safetensors(data, size);
    return 0;
}
