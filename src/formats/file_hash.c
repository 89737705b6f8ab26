/* Cached SHA-256 of files (see file_hash.h), with OpenSSL's libcrypto. */
#include "formats/file_hash.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/mapfile.h"

static void cache_path(char *buf, size_t size) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg) snprintf(buf, size, "%s/sdc", xdg);
    else if (home && *home) snprintf(buf, size, "%s/.cache/sdc", home);
    else buf[0] = '\0';
}

/* the cached digest of (path, size, mtime), if any */
static int cache_lookup(const char *file, long long size, long long mtime, char hex[65]) {
    char dir[PATH_MAX], path[PATH_MAX + 16], line[PATH_MAX + 128];
    cache_path(dir, sizeof dir);
    if (!dir[0]) return 0;
    snprintf(path, sizeof path, "%s/hashes.tsv", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        long long s, t;
        char h[65];
        int off = 0;
        if (sscanf(line, "%lld\t%lld\t%64[0-9a-f]\t%n", &s, &t, h, &off) != 3 || off == 0) continue;
        line[strcspn(line, "\n")] = '\0';
        if (s == size && t == mtime && strcmp(line + off, file) == 0) {
            memcpy(hex, h, 65);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

static void cache_store(const char *file, long long size, long long mtime, const char hex[65]) {
    char dir[PATH_MAX], path[PATH_MAX + 16];
    cache_path(dir, sizeof dir);
    if (!dir[0] || strchr(file, '\n')) return;
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash) {
        *slash = '\0';
        mkdir(parent, 0755);
    }
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/hashes.tsv", dir);
    FILE *f = fopen(path, "a");
    if (!f) return;
    fprintf(f, "%lld\t%lld\t%s\t%s\n", size, mtime, hex, file);
    fclose(f);
}

int sdc_file_sha256_cached(const char *path, char hex[65]) {
    struct stat st;
    char real[PATH_MAX];
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || !realpath(path, real)) return 0;
    long long mtime = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    return cache_lookup(real, (long long)st.st_size, mtime, hex);
}

sdc_status sdc_file_sha256(const char *path, int use_cache, char hex[65], sdc_error *err) {
    struct stat st;
    char real[PATH_MAX];
    if (stat(path, &st) != 0 || !realpath(path, real))
        return sdc_error_set(err, SDC_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "'%s' is not a file", path);
    long long size = (long long)st.st_size, mtime = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    if (use_cache && cache_lookup(real, size, mtime, hex)) return SDC_OK;
    sdc_mapfile m;
    sdc_status s = sdc_mapfile_open(&m, path, err);
    if (s) return s;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    int ok = EVP_Digest(m.data ? m.data : (const unsigned char *)"", m.size, md, &len, EVP_sha256(), NULL);
    /* the pages were read once: let them go */
    sdc_mapfile_release(m.data, m.size);
    sdc_mapfile_close(&m);
    if (!ok || len != 32) return sdc_error_set(err, SDC_ERR_INTERNAL, "SHA-256 failed");
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    if (use_cache) cache_store(real, size, mtime, hex);
    return SDC_OK;
}
