/*
 * bpf_session.c - see bpf_session.h.
 *
 * Invariants: the model and the store see the records in the order the
 * collector delivers them; a child started here is never left behind
 * gated (a failed attach closes the gate, and the child exits 127
 * without running anything) or unreaped when spawning fails.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bpf_session.h"

static uint64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void on_event(const ts_ev_header *rec, uint64_t ns, uint32_t tid, void *arg) {
    ts_session *s = arg;
    tm_model_apply(s->model, rec, ns, tid);
    if (s->store)
        ts_store_event(s->store, rec, ns, tid);
    s->events++;
}

static int start(ts_bpf_session *bs, int pid, int child) {
    memset(bs, 0, sizeof *bs);
    bs->s.pid = pid;
    bs->s.child = child;
    bs->s.attached = 1;
    bs->s.model = tm_model_new();
    return bs->s.model ? 0 : -ENOMEM;
}

int ts_bpf_session_attach(ts_bpf_session *bs, int pid, const ts_bpf_opts *o, char *err,
                          size_t len) {
    int rc = start(bs, pid, 0);
    if (rc)
        snprintf(err, len, "out of memory");
    else
        rc = ts_bpf_open(&bs->bpf, pid, o, err, len);
    if (rc)
        ts_bpf_session_close(bs);
    return rc;
}

int ts_bpf_session_spawn(ts_bpf_session *bs, char *const argv[], const ts_bpf_opts *o,
                         char *err, size_t len) {
    char lib[4096];
    int rc = ts_bpf_resolve_library(argv[0], lib, sizeof lib, err, len);
    if (rc)
        return rc;
    int pid, gate;
    rc = ts_bpf_spawn_gated(argv, &pid, &gate, err, len);
    if (rc)
        return rc;
    rc = start(bs, pid, pid);
    if (!rc) {
        ts_bpf_opts opts = o ? *o : (ts_bpf_opts){0};
        opts.library = lib;
        rc = ts_bpf_open(&bs->bpf, pid, &opts, err, len);
    } else {
        snprintf(err, len, "out of memory");
    }
    if (rc) {
        close(gate); /* the child exits 127 without running anything */
        waitpid(pid, NULL, 0);
        ts_bpf_session_close(bs);
        return rc;
    }
    rc = ts_bpf_release(gate);
    if (rc)
        snprintf(err, len, "could not start %s: %s", argv[0], strerror(-rc));
    return rc;
}

int ts_bpf_session_poll(ts_bpf_session *bs, int timeout_ms) {
    return ts_bpf_poll(bs->bpf, timeout_ms, on_event, &bs->s);
}

static int gone(const ts_bpf_session *bs) {
    if (bs->s.child > 0) {
        siginfo_t si = {0};
        if (waitid(P_PID, (id_t)bs->s.child, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid)
            return 1;
    }
    return !ts_bpf_alive(bs->bpf);
}

int ts_bpf_session_run(ts_bpf_session *bs, volatile sig_atomic_t *stop, int duration_ms) {
    uint64_t end = duration_ms >= 0 ? now_ms() + (uint64_t)duration_ms : UINT64_MAX;
    while (!(stop && *stop) && now_ms() < end) {
        ts_bpf_session_poll(bs, 50);
        if (gone(bs)) {
            while (ts_bpf_session_poll(bs, 0) > 0)
                ; /* what it did on the way out */
            return 1;
        }
    }
    return 0;
}

void ts_bpf_session_close(ts_bpf_session *bs) {
    ts_bpf_close(bs->bpf);
    tm_model_free(bs->s.model);
    bs->bpf = NULL;
    bs->s.model = NULL;
}
