/* libFuzzer target for the PNG reader (src/image/png_io.c): decodes the
 * input with pixels + text and text only; whatever decodes must re-encode
 * and decode to the same pixels and text. Any crash, leak, sanitizer report
 * or abort is a bug. Build (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *     fuzz/fuzz_png.c src/image/png_io.c src/image/image.c src/tensor/tensor.c src/tensor/dtype.c \
 *     src/tensor/quant.c src/base/error.c src/base/util.c -lpng -lz -lm -o fuzz_png
 *   ./fuzz_png -max_len=65536 fuzz/corpus/png */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/png_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sdc_error e;
    sdc_error_clear(&e);
    sdc_image img;
    sdc_image_meta meta = {0}, only = {0};
    sdc_png_decode(data, size, SDC_PNG_TEXT, NULL, &only, &e);
    sdc_error_clear(&e);
    if (sdc_png_decode(data, size, SDC_PNG_PIXELS | SDC_PNG_TEXT, &img, &meta, &e) == SDC_OK) {
        uint8_t *buf = NULL;
        size_t n = 0;
        sdc_image_meta valid = {0};
        for (size_t i = 0; i < meta.count; i++) /* keys the writer accepts; values are UTF-8 by construction */
            if (strlen(meta.items[i].key) >= 1 && strlen(meta.items[i].key) <= 79 &&
                strspn(meta.items[i].key, " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
                                          "abcdefghijklmnopqrstuvwxyz{|}~") == strlen(meta.items[i].key))
                sdc_image_meta_add(&valid, meta.items[i].key, meta.items[i].value, &e);
        sdc_error_clear(&e);
        if (sdc_png_encode(&img, &valid, &buf, &n, &e) == SDC_OK) {
            sdc_image back;
            sdc_image_meta back_meta = {0};
            if (sdc_png_decode(buf, n, SDC_PNG_PIXELS | SDC_PNG_TEXT, &back, &back_meta, &e) != SDC_OK) abort();
            if (back.width != img.width || back.height != img.height || back.channels != img.channels ||
                memcmp(back.data, img.data, sdc_image_bytes(&img)) != 0 || back_meta.count != valid.count)
                abort();
            for (size_t i = 0; i < valid.count; i++)
                if (strcmp(back_meta.items[i].value, valid.items[i].value) != 0) abort();
            sdc_image_free(&back);
            sdc_image_meta_free(&back_meta);
            free(buf);
        }
        sdc_image_meta_free(&valid);
        sdc_image_free(&img);
    }
    sdc_image_meta_free(&meta);
    sdc_image_meta_free(&only);
    return 0;
}
