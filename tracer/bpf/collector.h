/*
 * collector.h - the BPF collector: trace a process that uses the RELEASE
 * taskscope library (no relink, no debug runtime) through the runtime's
 * USDT probes, and catch the system calls that block its loop threads.
 *
 * Events come out as the schema's records (ts_ev_header + fields, the
 * same stream the debug runtime's shared-memory ring gives), with their
 * CLOCK_MONOTONIC time and thread id, so tm_model_apply and
 * ts_store_event take them unchanged.
 *
 * The collector never takes the traced program down: its maps are
 * bounded, a full ring buffer drops and counts (delivered as `dropped`
 * records), and nothing it does can make the program fail.  Tracing
 * costs the program a uprobe trap per probe hit (see README.md for the
 * measured figures), so event classes can be chosen.
 *
 * Errors are negative errno-style codes with a sentence in err:
 *   -EPERM     not root (needs CAP_BPF and CAP_PERFMON, or root), or
 *              the kernel refused (lockdown)
 *   -ENOTSUP   the kernel lacks what is needed (no BTF, no BPF ring
 *              buffer, no uprobes)
 *   -ESRCH     no such process
 *   -ENOENT    the process does not use taskscope
 *   -ENODATA   its taskscope has no USDT probes (built without sys/sdt.h)
 *   -EINVAL    bad options
 * A ts_bpf is used by one thread at a time.
 */
#ifndef TS_BPF_COLLECTOR_H
#define TS_BPF_COLLECTOR_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "trace_format.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Event classes (--bpf-events=tasks,sync,...). */
enum ts_bpf_class {
    TS_BPF_TASKS = 1 << 0,    /* task and loop lifecycle, slow steps, diagnostics */
    TS_BPF_FUTURES = 1 << 1,  /* future create / done */
    TS_BPF_SYNC = 1 << 2,     /* locks, semaphores, events, conditions, queues */
    TS_BPF_JOBS = 1 << 3,     /* executor jobs */
    TS_BPF_SYSCALLS = 1 << 4, /* system calls that block a loop thread */
    TS_BPF_ALL = (1 << 5) - 1,
};

typedef struct ts_bpf_opts {
    unsigned events;      /* TS_BPF_* mask; 0 means TS_BPF_ALL */
    const char *library;  /* the file with the probes; NULL: found in /proc/PID/maps */
    double block_ms;      /* report syscalls at least this long; 0: 1 ms */
    double slow_ms;       /* report steps at least this long; 0: 100 ms */
    size_t ring_bytes;    /* BPF ring buffer size (power of 2); 0: 4 MiB */
    int dump;             /* ask the loops for a state dump of their live
                           * tasks (attach mid-run); the tasks class gets
                           * the records, the syscalls class learns which
                           * loop each task and thread belongs to */
    int dump_only;        /* with dump: load and attach the state dump's
                           * probes only (a report that prints the dump and
                           * detaches: every uprobe detached costs the
                           * exit an RCU grace period) */
    int beside_ring;      /* the debug runtime's ring gives the rest: the
                           * collector's string, site and stack ids are odd
                           * (see ts_bpf_even_ids) and no thread_start */
} ts_bpf_opts;

typedef struct ts_bpf_stats {
    uint64_t records;     /* raw records read from the ring buffer */
    uint64_t events;      /* schema records delivered */
    uint64_t dropped;     /* events lost because the ring buffer was full */
    uint64_t blocked;     /* blocked system calls reported */
    uint64_t bad;         /* raw records skipped as malformed */
    unsigned probes;      /* USDT probe sites attached */
} ts_bpf_stats;

typedef struct ts_bpf ts_bpf;

/* One schema record; rec is valid only during the call. */
typedef void (*ts_bpf_fn)(const ts_ev_header *rec, uint64_t ns, uint32_t tid, void *arg);

/* "tasks,sync" -> mask; "all" for everything.  -EINVAL with a sentence
 * naming the bad class. */
int ts_bpf_parse_events(const char *spec, unsigned *mask, char *err, size_t len);

/* Can this process use BPF tracing here?  0, or -EPERM/-ENOTSUP and why. */
int ts_bpf_available(char *err, size_t len);

/* Load the BPF programs and attach them to process pid. */
int ts_bpf_open(ts_bpf **out, int pid, const ts_bpf_opts *opts, char *err, size_t len);

/* Deliver what arrived, waiting up to timeout_ms (0: do not wait) for
 * the first record.  Returns the number of schema records delivered, or
 * a negative code if the ring buffer can no longer be read. */
int ts_bpf_poll(ts_bpf *b, int timeout_ms, ts_bpf_fn fn, void *arg);

/* Ask the loops for another state dump (opts.dump): an idle loop is
 * woken through its eventfd.  Returns the number of loops woken, 0 if
 * none was found (the dump still comes from a busy loop), or -errno. */
int ts_bpf_request_dump(ts_bpf *b);
/* Loops woken by the last request (0 without opts.dump). */
int ts_bpf_loops_woken(const ts_bpf *b);
/* The process is known to run its own program (a debug runtime's ring
 * beside the collector has appeared): its mappings are read now and from
 * then on kept fresh even while the collector itself receives nothing. */
void ts_bpf_note_running(ts_bpf *b);

/* With opts.beside_ring, the collector's records name strings, sites and
 * stacks by odd ids; the ring's records must then be rewritten to even
 * ones (id*2), so the two streams share one model and one recording.
 * This rewrites one ring record in place (it must be writable). */
void ts_bpf_even_ids(ts_ev_header *rec);

/* 1 while the process runs (and is not a zombie). */
int ts_bpf_alive(const ts_bpf *b);
int ts_bpf_pid(const ts_bpf *b);
/* The file the probes were attached to. */
const char *ts_bpf_library(const ts_bpf *b);

void ts_bpf_get_stats(const ts_bpf *b, ts_bpf_stats *out);

/* Detach and free.  NULL is fine. */
void ts_bpf_close(ts_bpf *b);

/* ---- starting a program under the collector (`taskscope run --bpf`) ------- */

/* Which library would `program` load (ldd, current environment)?  The
 * program itself if the runtime is linked in statically. */
int ts_bpf_resolve_library(const char *program, char *out, size_t len, char *err, size_t errlen);

/* Fork a child that will exec argv[0] (searched in PATH) once released.
 * *gate is the fd that releases it: ts_bpf_release(gate) after
 * ts_bpf_open, so not one event is missed; closing it without releasing
 * makes the child exit with status 127. */
int ts_bpf_spawn_gated(char *const argv[], int *pid, int *gate, char *err, size_t len);
int ts_bpf_release(int gate);

#ifdef __cplusplus
}
#endif
#endif
