/* The workflow fuzz corpus (fuzz/corpus/workflow) as a regression suite:
 * every seed, and every prefix of it, goes through the libFuzzer target's
 * entry point under ASan/UBSan (sdc_fuzz_workflow aborts on a refusal
 * without ComfyUI's error object or a graph whose order is not upstream
 * first). Seeds named ok-* must validate (they need no model files); the
 * others must be refused. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mapfile.h"
#include "harness.h"
#include "server/fuzz_entry.h"

TEST(workflow_fuzz_seed_corpus) {
    DIR *d = opendir("fuzz/corpus/workflow");
    REQUIRE_MSG(d, "no fuzz/corpus/workflow");
    struct dirent *e;
    int files = 0, accepted = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[1024], *data;
        size_t n;
        sdc_error err = {0};
        snprintf(path, sizeof path, "fuzz/corpus/workflow/%s", e->d_name);
        if (sdc_read_file(path, 1u << 20, &data, &n, &err) != SDC_OK) {
            CHECK_MSG(0, "%s", sdc_error_msg(&err));
            continue;
        }
        int ok = strncmp(e->d_name, "ok-", 3) == 0, r = sdc_fuzz_workflow((const uint8_t *)data, n);
        CHECK_MSG(r == (ok ? 0 : 1), "%s: %s", path, r ? "refused" : "accepted");
        accepted += r == 0;
        for (size_t k = 0; k < n; k += 1 + n / 64) sdc_fuzz_workflow((const uint8_t *)data, k);
        free(data);
        files++;
    }
    closedir(d);
    CHECK_MSG(files >= 8 && accepted >= 2, "%d seeds, %d accepted", files, accepted);
}
