/*
 * bpf_session.h - a tracing session fed by the BPF collector: what
 * `taskscope run/attach --bpf`, the live reports with --bpf
 * (`ps/pstree/blocked/stats --bpf PID`) and `top --bpf` drive.  It embeds
 * a ts_session so the CLI's recording and reporting code, which reads
 * s.model, s.store, s.pid, s.child, s.events and s.tap, works on it
 * unchanged.
 *
 * Two shapes, chosen by what the target runs:
 *   - the release runtime: every event comes from the collector; on
 *     attach the loops are asked for a state dump (statedump.c), so tasks
 *     that existed before are listed with their names and states;
 *   - the debug runtime: tasks, futures and sync events come from its
 *     shared-memory ring (s.reader, cheap, with its own state dump) and
 *     only the blocking system calls from BPF (the syscalls class).  Both
 *     feed the one model and recording; the ring's string, site and stack
 *     ids are made even and the collector's odd, so they never collide
 *     (ts_bpf_even_ids).  No task event arrives twice.
 *
 * Events go to the model, then the recording (s.store), then s.tap.
 */
#ifndef TS_BPF_SESSION_H
#define TS_BPF_SESSION_H

#include <signal.h>

#include "collector.h"
#include "session.h"

typedef struct ts_bpf_session {
    ts_session s;         /* s.reader: the debug runtime's ring, or NULL */
    ts_bpf *bpf;
    uint64_t dumps;       /* dump_end records the collector delivered */
    unsigned char *copy;  /* a ring record being rewritten (even ids) */
    uint32_t next_text;   /* string ids of diagnostics' full texts, made
                           * here, counting down from the model's top */
} ts_bpf_session;

/* Trace running process pid; with the debug runtime, beside its ring.
 * o->dump is set by the session itself for a release-runtime target.
 * Errors as ts_bpf_open, and the ring's (ts_session_open). */
int ts_bpf_session_attach(ts_bpf_session *bs, int pid, const ts_bpf_opts *o, char *err,
                          size_t len);

/* Start argv (argv[0] searched in PATH) on whatever taskscope library it
 * links, traced from its first event: the library is resolved with ldd,
 * the probes attached to the gated child, then the child released (and,
 * for the debug runtime, its ring opened).  On error no child is left
 * running. */
int ts_bpf_session_spawn(ts_bpf_session *bs, char *const argv[], const ts_bpf_opts *o,
                         char *err, size_t len);

/* 1 if the ring of the debug runtime feeds the session beside BPF. */
int ts_bpf_session_beside_ring(const ts_bpf_session *bs);

/* Deliver what arrived (waiting up to timeout_ms); events or -errno. */
int ts_bpf_session_poll(ts_bpf_session *bs, int timeout_ms);

/* Poll until the state dump is in (every woken loop answered, or the
 * ring's dump is done) or timeout_ms passed; an unanswered request is
 * repeated once.  Returns 1 if a dump arrived. */
int ts_bpf_session_wait_dump(ts_bpf_session *bs, int timeout_ms);

/* 1 once the process is gone (exited or a zombie). */
int ts_bpf_session_gone(const ts_bpf_session *bs);

/* Poll until *stop, the process is gone (then drain; returns 1), or
 * duration_ms passed (<0: no limit; returns 0). */
int ts_bpf_session_run(ts_bpf_session *bs, volatile sig_atomic_t *stop, int duration_ms);

/* Detach and free the model (the store is the caller's to close first). */
void ts_bpf_session_close(ts_bpf_session *bs);

#endif
