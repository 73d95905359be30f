/*
 * fuzz_reader.c - feeds arbitrary bytes to the reader as a segment image.
 *
 * Built two ways from this one file:
 *   - with clang, as a libFuzzer target (fuzz_reader), in a clang build
 *     (CC=clang meson setup ... -Db_sanitize=address,undefined):
 *       fuzz_reader -max_len=32768 NEW tracer/fuzz_corpus
 *     then fold what it found back in:
 *       fuzz_reader -merge=1 tracer/fuzz_corpus NEW
 *   - with -DTS_FUZZ_REPLAY and any compiler, as a replay driver
 *     (fuzz_reader_replay FILE|DIR...) that runs every input of the corpus
 *     once; a meson test runs it over tracer/fuzz_corpus, so inputs that
 *     once crashed (or that cover much) stay checked with gcc too.
 *
 * The contract under test: any input yields an error or events, never a
 * crash, a hang, a leak or an out-of-bounds read (run under ASan/UBSan).
 * The input is copied to fresh memory of its exact size so that ASan sees
 * any read past its end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reader.h"

struct sink {
    const ts_reader *rd;
    uint64_t sum;
};

/* Touch everything an event exposes, as a consumer would. */
static void consume(const ts_reader_event *ev, void *arg) {
    struct sink *s = arg;
    char line[512];
    const unsigned char *p = (const unsigned char *)ev->rec;
    for (uint16_t i = 0; i < ev->size; i++)
        s->sum += p[i];
    s->sum += (uint64_t)ts_reader_format(s->rd, ev, line, sizeof line);
    if (ev->type == TS_EV_site) {
        const char *file, *func;
        uint32_t line_no;
        if (ts_reader_site(s->rd, ((const ts_ev_site *)ev->rec)->id, &file, &func, &line_no) == 0)
            s->sum += line_no + (file ? strlen(file) : 0) + (func ? strlen(func) : 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    ts_reader *rd;
    char err[256];
    if (ts_reader_open_buffer(&rd, copy, size, err, sizeof err) == 0) {
        struct sink s = {rd, 0};
        ts_reader_poll(rd, consume, &s);
        ts_reader_poll(rd, consume, &s); /* nothing new: the steady path */
        ts_reader_stats st;
        ts_reader_get_stats(rd, &st);
        for (unsigned i = 0; i < TS_MAX_RINGS; i++) {
            ts_reader_ring ri;
            if (ts_reader_get_ring(rd, i, &ri) == 0)
                s.sum += ri.head;
        }
        if (s.sum == 42)
            fputc(0, stderr); /* keep the work observable */
        ts_reader_close(rd);
    }
    free(copy);
    return 0;
}

#ifdef TS_FUZZ_REPLAY
#include <dirent.h>
#include <sys/stat.h>

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            unsigned char *b = realloc(buf, cap *= 2);
            if (!b)
                free(buf);
            buf = b;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", path);
        return 1;
    }
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

static int run_path(const char *path, int *count) {
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (*count)++;
        return run_file(path);
    }
    DIR *d = opendir(path);
    if (!d) {
        perror(path);
        return 1;
    }
    int err = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        err |= run_path(sub, count);
    }
    closedir(d);
    return err;
}

int main(int argc, char **argv) {
    int err = 0, count = 0;
    for (int i = 1; i < argc; i++)
        err |= run_path(argv[i], &count);
    printf("replayed %d inputs\n", count);
    return err || count == 0;
}
#endif
