/* mmap-based file access (see mapfile.h). */
#include "base/mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

sdc_status sdc_mapfile_open(sdc_mapfile *m, const char *path, sdc_error *err) {
    m->data = NULL;
    m->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sdc_error_set(err, SDC_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sdc_error_set(err, SDC_ERR_IO, "'%s' is not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return sdc_error_set(err, SDC_ERR_IO, "cannot map '%s': %s", path, strerror(errno));
        }
        m->data = p;
        m->size = (size_t)st.st_size;
    }
    close(fd);
    return SDC_OK;
}

void sdc_mapfile_close(sdc_mapfile *m) {
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

void sdc_mapfile_release(const void *p, size_t n) {
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || !p) return;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t b = ((uintptr_t)p + n) & ~((uintptr_t)page - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

sdc_status sdc_read_file(const char *path, size_t max_size, char **out, size_t *size, sdc_error *err) {
    *out = NULL;
    if (size) *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return sdc_error_set(err, SDC_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) goto oom;
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n > max_size) {
            free(buf);
            fclose(f);
            return sdc_error_set(err, SDC_ERR_FORMAT, "'%s' is larger than %zu bytes", path, max_size);
        }
        if (got == 0) break;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) goto oom;
            buf = nb;
            cap *= 2;
        }
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return sdc_error_set(err, SDC_ERR_IO, "cannot read '%s'", path);
    }
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    if (size) *size = n;
    return SDC_OK;
oom:
    free(buf);
    fclose(f);
    return sdc_error_set(err, SDC_ERR_OOM, "out of memory reading '%s'", path);
}
