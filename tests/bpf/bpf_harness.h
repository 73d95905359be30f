/*
 * bpf_harness.h - what the BPF collector's tests share: skipping (exit 77,
 * saying why) where this machine cannot run BPF, starting the target
 * program (tests/bpf/bpf_target.c, on the release library), and draining
 * a collector into a log of records and a model until the target exits.
 *
 * The log keeps a copy of every record, so tests can check the order of
 * the stream and not only the model's end state.  Temporary files go in
 * $TMPDIR, through ../tmpdir.h.
 */
#ifndef TS_TESTS_BPF_HARNESS_H
#define TS_TESTS_BPF_HARNESS_H

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "collector.h"
#include "model.h"
#include "symbolize.h"
#include "../tmpdir.h"

/* Exit 77 (meson's "skipped") when BPF cannot work here, saying why. */
static inline void skip_unless_bpf(void) {
    char why[256];
    if (ts_bpf_available(why, sizeof why)) {
        printf("SKIP: %s\n", why);
        exit(77);
    }
}

static inline const char *target_path(void) {
    const char *p = getenv("TSB_TARGET");
    return p && *p ? p : "./bpf_target";
}

typedef struct logrec {
    ts_ev_header *rec;
    uint64_t ns;
    uint32_t tid;
} logrec;

typedef struct evlog {
    logrec *v;
    size_t n, cap;
    tm_model *model;
} evlog;

static void log_event(const ts_ev_header *rec, uint64_t ns, uint32_t tid, void *arg) {
    evlog *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        assert_non_null(l->v);
    }
    ts_ev_header *copy = malloc(rec->size);
    assert_non_null(copy);
    memcpy(copy, rec, rec->size);
    l->v[l->n++] = (logrec){copy, ns, tid};
    tm_model_apply(l->model, rec, ns, tid);
}

static inline void log_init(evlog *l) {
    memset(l, 0, sizeof *l);
    l->model = tm_model_new();
    assert_non_null(l->model);
}

static inline void log_free(evlog *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].rec);
    free(l->v);
    tm_model_free(l->model);
}

static inline size_t log_count(const evlog *l, unsigned type) {
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += l->v[i].rec->type == type;
    return n;
}

static inline void sleep_ms(int ms) {
    struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
}

/* Drain b into l until pid exits; returns its wait status.  With
 * lazy, nothing is read before the exit (to make the ring overflow). */
static inline int drain_until_exit(ts_bpf *b, int pid, evlog *l, int lazy) {
    int status = -1;
    for (int i = 0; i < 60000; i++) {
        if (!lazy)
            assert_true(ts_bpf_poll(b, 10, log_event, l) >= 0);
        else
            sleep_ms(10);
        if (waitpid(pid, &status, WNOHANG) == pid)
            break;
    }
    while (ts_bpf_poll(b, 50, log_event, l) > 0)
        ;
    return status;
}

/* Start the target with --wait; returns its pid, *in is its stdin. */
static inline int start_waiting(const char *mode, const char *arg, FILE **in) {
    int to[2], from[2];
    assert_int_equal(pipe(to), 0);
    assert_int_equal(pipe(from), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[1]);
        close(from[0]);
        execl(target_path(), "bpf_target", "--wait", mode, arg, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    FILE *out = fdopen(from[0], "r");
    char line[32] = "";
    assert_non_null(fgets(line, sizeof line, out)); /* its libraries are loaded */
    assert_string_equal(line, "ready\n");
    fclose(out);
    *in = fdopen(to[1], "w");
    return pid;
}

static inline void go(FILE *in) {
    fputs("go\n", in);
    fclose(in);
}

/* The task of the model named name (the first one), or NULL. */
static inline tm_task *task_named(const tm_model *m, const char *name) {
    for (size_t i = 0; i < tm_model_task_count(m); i++) {
        tm_task *t = tm_model_task_at(m, i);
        if (t && !strcmp(tm_model_string(m, t->name), name))
            return t;
    }
    return NULL;
}

/* Does the symbolized stack contain a frame in function fn? */
static inline int stack_has(const tm_model *m, uint32_t stack, const char *fn, int verbose) {
    uint32_t depth;
    const uint64_t *pcs = tm_model_stack(m, stack, &depth);
    ts_symbolizer *sym = ts_symbolizer_new();
    if (!sym || !pcs)
        return 0;
    for (size_t i = 0; i < tm_model_module_count(m); i++) {
        const tm_module *mod = tm_model_module_at(m, i);
        ts_symbolizer_add_module(sym, mod->start, mod->end, mod->offset,
                                 tm_model_string(m, mod->path));
    }
    int found = 0;
    for (uint32_t i = 0; i < depth; i++) {
        ts_frame f;
        ts_symbolize(sym, pcs[i], i > 0, &f);
        if (verbose)
            fprintf(stderr, "  #%u %#llx %s %s:%d (%s)\n", i, (unsigned long long)pcs[i],
                    f.function, f.file, f.line, f.module);
        found |= !strcmp(f.function, fn);
    }
    ts_symbolizer_free(sym);
    return found;
}

#endif
