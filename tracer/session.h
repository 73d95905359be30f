/*
 * session.h - one tracing session: a reader draining a live process into
 * the model and (optionally) a recording, until the process exits, a
 * time limit passes or the user interrupts.  Shared by `taskscope run`,
 * `attach`, the live reports and the TUI.
 */
#ifndef TS_TRACER_SESSION_H
#define TS_TRACER_SESSION_H

#include <signal.h>
#include <stdint.h>

#include "model.h"
#include "reader.h"
#include "store.h"

/* Called for every event after the model and the recording have it (the
 * TUI keeps each task's latest events this way). */
typedef void (*ts_session_tap)(const ts_reader_event *ev, void *arg);

typedef struct ts_session {
    ts_reader *reader;
    tm_model *model;
    ts_store *store;      /* NULL: no recording; a followed child's session
                           * shares its root's (events tagged with pid) */
    int pid;
    int child;            /* pid is our child: watched with waitid */
    uint64_t events;
    int attached;         /* live reader (else flight-recorder snapshot) */
    ts_session_tap tap;   /* optional */
    uint64_t dump_asked_drops;  /* drop count when we last asked for a dump */
    uint64_t dump_asked_ms;
    uint64_t analyzed_ms;       /* when the model was last analyzed (recording) */
    int corrupt_reports;  /* corruption messages printed */
    struct ts_follow *follow; /* forked children followed (follow.h), or NULL */
    void *tap_arg;
    int killed_by;        /* once the process is gone: the fatal signal its
                           * crash handler reported, 0 if none */
    int urgent;           /* this poll brought a blocked loop: commit now */
    int stopped;          /* a wait for the state dump found the process
                           * stopped (SIGSTOP, a debugger): its loops
                           * cannot answer, so it did not wait */
} ts_session;

/* Open pid's segment; wait up to wait_ms for it to appear (a process just
 * started may not have created it yet; child_pid > 0 is watched so a child
 * that exits early ends the wait).  Attach as the live reader, falling
 * back to a passive snapshot when another reader holds the process. */
int ts_session_open(ts_session *s, int pid, int child_pid, int wait_ms, char *err, size_t len);
/* Drain once; returns the number of events or a negative error. */
int ts_session_poll(ts_session *s);
/* The same, handing each event to fn instead of the model and store
 * directly (a caller that rewrites events first, then feeds them on);
 * keepalive, drop accounting and resync dumps are done as for
 * ts_session_poll. */
int ts_session_poll_with(ts_session *s, ts_reader_fn fn, void *arg);
/* Poll until the state dump arrived (or timeout_ms).  While a loop is
 * blocked no dump comes: the wait ends at the watchdog's report of the
 * episode and the stack it sends after it. */
void ts_session_wait_dump(ts_session *s, int timeout_ms);
/* The same; need_stack 0 ends a blocked loop's wait at the watchdog's
 * report, without its stack (for a report that prints none: ps, pstree). */
void ts_session_wait_dump_for(ts_session *s, int timeout_ms, int need_stack);
/* Poll until *stop is set, the process is gone, or duration_ms passed
 * (<0: no limit).  Returns 1 if the process went away. */
int ts_session_run(ts_session *s, volatile sig_atomic_t *stop, int duration_ms);
void ts_session_close(ts_session *s);

/* A tm_retire_fn (arg: the ts_session) that writes the retired task's
 * end into the session's recording, if any, as a task_done of state
 * TM_REC_LOST; ts_session_open installs it on its model. */
void ts_session_record_lost(uint64_t task, uint64_t ns, void *arg);

/* Replay a recording into a fresh model that keeps every task, with the
 * warnings the live model recorded merged in (see
 * tm_model_merge_warning). */
int ts_session_load(tm_model **out, const char *path, char *err, size_t len);
/* The same for one process of the recording (pid 0: every event, as
 * above; see ts_store_processes for the pids a recording holds): its
 * events, drops and warnings only, so that two processes' tasks never
 * mix in one model.  keep_all 0 lets the model evict finished tasks as
 * the live one does (memory stays bounded: ~50,000 tasks), for reports
 * that need only counts, groups and warnings (stats, blocked): the
 * model's totals and statistics groups still cover every task. */
int ts_session_load_pid(tm_model **out, const char *path, int pid, int keep_all, char *err,
                        size_t len);
/* The same into a model the caller made (and frees, even on error), so
 * that it can set the model up first: a report streamed from the whole
 * recording has the model hand it every task it evicts
 * (tm_model_on_evict, report_sql.c). */
int ts_session_load_into(tm_model *m, const char *path, int pid, char *err, size_t len);

#endif
