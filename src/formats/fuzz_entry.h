/* Entry points shared by the libFuzzer targets (fuzz/) and the corpus
 * regression test (tests/unit/test_formats_fuzz_seeds.c): each parses
 * untrusted bytes the way sdc does and, when they parse, touches every
 * tensor byte and converts small float tensors, so a fuzzer finds bugs in
 * what a load does, not only in the header parser. Each returns 0 when the
 * input loaded, 1 when it was refused with an error message; anything
 * else (a crash, a sanitizer report, a refusal without a message) is a bug. */
#ifndef SDC_FORMATS_FUZZ_ENTRY_H
#define SDC_FORMATS_FUZZ_ENTRY_H

#include <stddef.h>
#include <stdint.h>

int sdc_fuzz_safetensors(const uint8_t *data, size_t size);
int sdc_fuzz_gguf(const uint8_t *data, size_t size);
int sdc_fuzz_pickle(const uint8_t *data, size_t size);
int sdc_fuzz_zip(const uint8_t *data, size_t size); /* a whole PyTorch zip checkpoint */

#endif
