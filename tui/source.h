/*
 * source.h - where the TUI's model comes from: a live process (attached
 * or launched by us, recorded while watched), a recording replayed with a
 * time cursor, or a model handed over as is (the benchmark).
 *
 * Whatever the mode, src->model is the one thing the views read, and
 * src->gen changes whenever the model did, so views can cache work
 * between refreshes.  Only this layer feeds the model; the views never
 * call tm_model_apply.
 */
#ifndef TS_TUI_SOURCE_H
#define TS_TUI_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "cancel.h"
#include "model.h"
#include "recent.h"
#include "session.h"
#include "watch.h"

typedef enum tui_mode { TUI_LIVE, TUI_REPLAY, TUI_STATIC } tui_mode;

typedef struct tui_log tui_log;   /* replay.c: a recording's events in memory */

typedef struct tui_src {
    tui_mode mode;
    tm_model *model;
    tui_recent *recent;
    tui_recent *res_recent;   /* the same, by resource (made on first use) */
    tui_watch watch;          /* HDR histograms of the task a detail shows */
    uint64_t t0;              /* first event's time: "+1.2s" counts from it */
    uint64_t gen;             /* bumped whenever the model changed */
    uint64_t analyzed_ns;     /* wall or trace time of the last analysis */

    /* what the header says */
    int pid;
    char exe[256];
    char version[32];
    char path[512];           /* the recording written (live) or read (replay) */
    char status[192];         /* "running", "exited: status 0", ... */
    double events_per_s;

    /* live */
    ts_session sess;
    int have_sess;
    struct ts_bpf_session *bpf; /* top --bpf: this feeds the model (its own
                                 * session: see tui_live_session) */
    int child;                /* pid we launched, 0 when attached */
    int finished;             /* the process is gone and the recording closed */
    char log_path[512];       /* where a launched program's output goes */
    struct tui_procs *procs;  /* `top -- PROGRAM`: its forked children,
                               * followed (live.c), or NULL */
    uint64_t rate_events, rate_wall_ns;
    uint64_t stack_asked_ns;  /* wall time of the last dump asked for stacks */

    /* replay */
    tui_log *log;
    uint64_t t_end;           /* last event's time */
    uint64_t cursor;          /* events up to this time are applied */
    uint64_t log_events, applied;
    uint64_t meta_dropped;    /* drops the recording's session table counts */
    int playing;
    double speed;
    uint64_t play_wall_ns;
} tui_src;

/* Every event the model gets also goes here: recent history by task and
 * by resource, and the watched task's histograms. */
void tui_src_note(tui_src *s, const ts_ev_header *rec, uint64_t ns);
/* Make task the watched one (see watch.h) and bring its histograms up to
 * date: a replay counts from the recording's start to the cursor, a live
 * source from now on when the task changes. */
void tui_src_watch(tui_src *s, uint64_t task);
/* replay.c: rebuild the watch from the first event to the cursor. */
void tui_replay_rewatch(tui_src *s);

/* Wall clock (CLOCK_MONOTONIC, the clock events are stamped with). */
uint64_t tui_wall_ns(void);

/* Live: attach to pid, or launch argv (argv[0] looked up in PATH) on the
 * debug runtime with its output sent to log_path.  record: recording
 * path, NULL for none.  err receives a sentence on failure. */
int tui_src_attach(tui_src *s, int pid, const char *record, char *err, size_t len);
int tui_src_launch(tui_src *s, char **argv, const char *record, const char *log_path,
                   char *err, size_t len);
/* Live through the BPF collector (`top --bpf PID`, root): a process on
 * the release runtime (its loops dump their live tasks first), or on the
 * debug runtime (its ring, plus blocking system calls from BPF).  events:
 * --bpf-events' list, NULL for all.  -ENOTSUP in a build without the
 * collector. */
int tui_src_attach_bpf(tui_src *s, int pid, const char *record, const char *events, char *err,
                       size_t len);
/* Start argv under the BPF collector (`top --bpf -- PROGRAM`, root): on
 * the release runtime, or the debug runtime's ring beside BPF; its output
 * goes to log_path, as tui_src_launch's. */
int tui_src_launch_bpf(tui_src *s, char **argv, const char *record, const char *log_path,
                       const char *events, char *err, size_t len);
/* `top -- PROGRAM` follows the children the program forks (unless
 * --no-follow): they are recorded with it, and shown one process at a
 * time.  Show the next process (the program, then each child being
 * read, in the order found, then the program again); 0 if there is no
 * other process to show.  The header's pid and executable are the shown
 * process's; a child that exits while shown gives way to the program. */
int tui_src_next_process(tui_src *s);

/* Replay: load path into memory and put the cursor at its end, paused. */
int tui_src_replay(tui_src *s, const char *path, char *err, size_t len);
/* Replay events handed over one by one instead of read from a file (the
 * benchmark): begin (label shows as the path), add each event (in time
 * order; 0 or -ENOMEM), finish (cursor at the end, as tui_src_replay). */
int tui_replay_begin(tui_src *s, const char *label);
int tui_replay_add(tui_src *s, const ts_ev_header *rec, uint64_t ns, uint32_t tid);
void tui_replay_finish(tui_src *s);
/* What the replay's model checkpoints hold, in bytes (at most a fixed
 * budget), and how many there are, *every events apart. */
size_t tui_replay_checkpoint_bytes(const tui_src *s);
size_t tui_replay_checkpoints(const tui_src *s, uint64_t *every);
/* Between begin and finish (tests): the checkpoints' memory budget and
 * their least spacing in events, instead of 256 MB and 100k events. */
void tui_replay_checkpoint_limits(tui_src *s, size_t budget, uint64_t min_every);
/* A fixed model (not owned) with nothing feeding it. */
void tui_src_static(tui_src *s, tm_model *m);

/* Bring the model up to date: drain a live process, or move the replay
 * cursor while playing.  Returns 1 if the model changed. */
int tui_src_tick(tui_src *s);
/* "Now" for the views: wall time live, the cursor in a replay. */
uint64_t tui_src_now(const tui_src *s);
/* Stop: a launched program is interrupted, recordings are closed. */
void tui_src_close(tui_src *s);

/* Replay controls (no-ops in other modes).  seek clamps t to the
 * recording; next_warning moves to the next event that raised a warning
 * and returns 0, or -ENOENT if there is none after the cursor. */
void tui_replay_seek(tui_src *s, uint64_t t);
int tui_replay_next_warning(tui_src *s);
void tui_replay_play(tui_src *s, int playing);

/* Live (live.c): ask the shown process to cancel task, as `taskscope
 * cancel` does (tracer/cancel.h); the answer comes later, polled with
 * tui_src_cancel_result while ticks go on.  0, or a negative errno with
 * why set to the rest of a sentence after "task #N NAME": -ENOTSUP in a
 * replay or once the process is gone, or with a followed child shown. */
int tui_src_cancel(tui_src *s, uint64_t task, ts_cancel_req *req, char *why, size_t len);
int tui_src_cancel_result(tui_src *s, const ts_cancel_req *req, int *result);
/* Live: a detail view shows a parked task whose stack is missing or older
 * than its last run: ask the process for a state dump, which walks the
 * parked tasks' stacks (at most every 5 s: a dump lists every task). */
void tui_src_want_stacks(tui_src *s);

/* live.c / replay.c internals used by source.c */
int tui_live_tick(tui_src *s);
void tui_live_close(tui_src *s);
int tui_replay_tick(tui_src *s);
void tui_replay_close(tui_src *s);

#endif
