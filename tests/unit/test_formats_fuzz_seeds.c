/* The formats fuzz corpora as a regression suite: every seed (and every
 * input a fuzzer once crashed on, saved as regress-*) goes through the same
 * entry points as the libFuzzer targets, under ASan/UBSan. Valid seeds must
 * load; the refused ones (evil.ckpt, protocol-0 pickles, regressions) must
 * be refused with a message — fuzz_entry.c aborts on a silent refusal. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mapfile.h"
#include "formats/fuzz_entry.h"
#include "harness.h"

typedef int (*entry_fn)(const uint8_t *, size_t);

static int expect_refusal(const char *name) {
    return strstr(name, "evil") || strstr(name, "protocol0") || strncmp(name, "regress-", 8) == 0;
}

static void run_corpus(const char *dir, entry_fn fn, int *files) {
    DIR *d = opendir(dir);
    if (!d) {
        CHECK_MSG(0, "no corpus folder %s", dir);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[1024], *data;
        size_t n;
        sdc_error err = {0};
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (sdc_read_file(path, 1u << 20, &data, &n, &err) != SDC_OK) {
            CHECK_MSG(0, "%s", sdc_error_msg(&err));
            continue;
        }
        int r = fn((const uint8_t *)data, n);
        int refused = expect_refusal(e->d_name);
        /* a regression input may be accepted (what crashed was the touch of a loaded tensor) */
        if (strncmp(e->d_name, "regress-", 8) != 0)
            CHECK_MSG(r == (refused ? 1 : 0), "%s: %s", path, r ? "refused" : "accepted");
        /* every prefix of the seed, too (cheap: seeds are small) */
        for (size_t k = 0; k < n; k += 1 + n / 64) fn((const uint8_t *)data, k);
        free(data);
        (*files)++;
    }
    closedir(d);
}

TEST(formats_fuzz_seed_corpora) {
    static const struct {
        const char *dir;
        entry_fn fn;
    } targets[] = {
        {"fuzz/corpus/safetensors", sdc_fuzz_safetensors},
        {"fuzz/corpus/gguf", sdc_fuzz_gguf},
        {"fuzz/corpus/pickle", sdc_fuzz_pickle},
        {"fuzz/corpus/zip", sdc_fuzz_zip},
    };
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        int files = 0;
        run_corpus(targets[i].dir, targets[i].fn, &files);
        CHECK_MSG(files >= 2, "%s: only %d seeds", targets[i].dir, files);
    }
}
