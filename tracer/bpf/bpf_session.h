/*
 * bpf_session.h - a tracing session fed by the BPF collector instead of
 * the shared-memory reader: what `taskscope run --bpf` and `taskscope
 * attach --bpf` drive.  It embeds a ts_session (reader NULL) so the
 * CLI's recording and reporting code, which reads s.model, s.store,
 * s.pid, s.child and s.events, works on it unchanged.
 *
 * Events go to the model and, when s.store is set, to the recording,
 * exactly as ts_session_poll sends the ring's.
 */
#ifndef TS_BPF_SESSION_H
#define TS_BPF_SESSION_H

#include <signal.h>

#include "collector.h"
#include "session.h"

typedef struct ts_bpf_session {
    ts_session s;         /* s.reader stays NULL */
    ts_bpf *bpf;
} ts_bpf_session;

/* Trace running process pid.  Errors as ts_bpf_open. */
int ts_bpf_session_attach(ts_bpf_session *bs, int pid, const ts_bpf_opts *o, char *err,
                          size_t len);

/* Start argv (argv[0] searched in PATH) on whatever taskscope library it
 * links, traced from its first event: the library is resolved with ldd,
 * the probes attached to the gated child, then the child released.  On
 * error no child is left running. */
int ts_bpf_session_spawn(ts_bpf_session *bs, char *const argv[], const ts_bpf_opts *o,
                         char *err, size_t len);

/* Deliver what arrived (waiting up to timeout_ms); events or -errno. */
int ts_bpf_session_poll(ts_bpf_session *bs, int timeout_ms);

/* Poll until *stop, the process is gone (then drain; returns 1), or
 * duration_ms passed (<0: no limit; returns 0). */
int ts_bpf_session_run(ts_bpf_session *bs, volatile sig_atomic_t *stop, int duration_ms);

/* Detach and free the model (the store is the caller's to close first). */
void ts_bpf_session_close(ts_bpf_session *bs);

#endif
