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
 * The whole decode path is covered: the segment header, the rings, the
 * intern tables, and every delivered event applied to a tracer model (the
 * state dumps' reconciliation, placeholders, blocked episodes), then the
 * model's analysis and lookups, as `taskscope` does live.
 *
 * The contract under test: any input yields an error or events, never a
 * crash, a hang, a leak or an out-of-bounds read (run under ASan/UBSan),
 * and never a task the model holds with an id the reader should have
 * refused (>= 2^48).  The input is copied to fresh memory of its exact
 * size so that ASan sees any read past its end.
 *
 * CI runs the libFuzzer build for a minute (meson test fuzz_reader_60s,
 * built with clang whatever the project's compiler; tracer/meson.build).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "reader.h"

struct sink {
    const ts_reader *rd;
    tm_model *m;
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
    tm_model_apply(s->m, ev->rec, ev->ns, ev->tid);
}

/* What the reports read of a model, and the promise that no task came
 * from a record the reader should have refused. */
static void walk_model(tm_model *m, struct sink *s) {
    tm_model_analyze(m);
    char buf[128];
    for (size_t i = 0; i < tm_model_task_count(m); i++) {
        const tm_task *t = tm_model_task_at(m, i);
        if (!t)
            continue;
        if (t->id >= (UINT64_C(1) << 48))
            __builtin_trap(); /* a phantom task */
        s->sum += strlen(tm_task_name(m, t)) + strlen(tm_task_state_name(t));
        s->sum += strlen(tm_model_site_text(m, t->site, buf, sizeof buf));
        uint64_t b, sc, id;
        tm_task_times(m, t, &b, &sc, &id);
        s->sum += b + sc + id;
    }
    for (size_t i = 0; i < tm_model_blocked_count(m); i++) {
        uint32_t depth;
        const tm_blocked *bl = tm_model_blocked_at(m, i);
        const uint64_t *pcs = tm_model_stack(m, bl->stack, &depth);
        for (uint32_t k = 0; k < depth; k++)
            s->sum += pcs[k];
    }
    for (size_t i = 0; i < tm_model_warning_count(m); i++)
        s->sum += strlen(tm_model_warning_at(m, i)->text);
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
    tm_model *m = tm_model_new();
    if (m && ts_reader_open_buffer(&rd, copy, size, err, sizeof err) == 0) {
        struct sink s = {rd, m, 0};
        ts_reader_poll(rd, consume, &s);
        ts_reader_poll(rd, consume, &s); /* nothing new: the steady path */
        walk_model(m, &s);
        char report[256];
        ts_reader_corruption(rd, report, sizeof report);
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
    tm_model_free(m);
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
