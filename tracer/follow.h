/*
 * follow.h - following the forked children of a traced process: each
 * child that runs the debug runtime is read by a session of its own, and
 * its events go into the traced process's recording, tagged with its pid
 * (one recording, one writer: the children's sessions are polled on the
 * root session's thread and feed the root's store; the process table
 * says who forked whom and how each ended).  A child's own children are
 * followed the same way.
 *
 * Children are found through /proc/PID/task/TID/children of every
 * process followed, at most every FOLLOW_SCAN_MS.  A child started by a
 * followed process waits for its reader when TASKSCOPE_FOLLOW_FORKS=1 is
 * in its environment (ts_exec_on_debug_runtime puts it there unless it
 * is already set): a short child is then not over before it is found.
 * `taskscope run --no-follow` (TASKSCOPE_NO_FOLLOW=1), or
 * TASKSCOPE_FOLLOW_FORKS=0 in taskscope's own environment, turns both
 * sides off (ts_follow_wanted).
 */
#ifndef TS_TRACER_FOLLOW_H
#define TS_TRACER_FOLLOW_H

#include <stddef.h>

#include "model.h"
#include "reader.h"

typedef struct ts_follow ts_follow;

/* 1 unless TASKSCOPE_FOLLOW_FORKS=0 or TASKSCOPE_NO_FOLLOW=1. */
int ts_follow_wanted(void);

/* Follow the children of root_pid, recording them into store (NULL:
 * read them without recording).  NULL if out of memory. */
struct ts_store;
ts_follow *ts_follow_new(int root_pid, struct ts_store *store);

/* Look for new children (now and then), drain every child session, and
 * finish the recordings of children that are gone. */
void ts_follow_poll(ts_follow *f);

/* Say nothing on stderr (a TUI draws on the terminal). */
void ts_follow_set_quiet(ts_follow *f);

/* Called for every event of every child, after its model and the
 * recording have it (the TUI keeps each task's recent events). */
typedef void (*ts_follow_tap_fn)(int pid, const ts_reader_event *ev, void *arg);
void ts_follow_set_tap(ts_follow *f, ts_follow_tap_fn fn, void *arg);

/* The children being read now (found, tracing, not yet gone), in the
 * order found: up to cap pids into pids; returns how many there are. */
size_t ts_follow_children(const ts_follow *f, int *pids, size_t cap);
/* The live model of child pid (with who forked it and its executable),
 * or NULL if it is not being read.  Valid until the next ts_follow_poll
 * or ts_follow_finish, which free the models of children that are gone. */
tm_model *ts_follow_model(const ts_follow *f, int pid, int *parent, char *exe, size_t len);

/* Drain every child session, give each child's process row its final
 * status, say on stderr what was recorded, and free f (the store stays
 * open: its owner closes it after this).  Children still running are
 * recorded as cut short.  NULL is fine. */
void ts_follow_finish(ts_follow *f);

#endif
