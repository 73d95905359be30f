/*
 * follow.h - following the forked children of a traced process: each
 * child that runs the debug runtime is read by a session of its own and
 * recorded to a recording of its own, named after the parent's with the
 * child's pid before the extension (run.db -> run.12345.db).  A child's
 * own children are followed the same way.
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

typedef struct ts_follow ts_follow;

/* 1 unless TASKSCOPE_FOLLOW_FORKS=0 or TASKSCOPE_NO_FOLLOW=1. */
int ts_follow_wanted(void);

/* Follow the children of root_pid, recording each next to out (NULL:
 * read them without recording).  NULL if out of memory. */
ts_follow *ts_follow_new(int root_pid, const char *out);

/* Look for new children (now and then), drain every child session, and
 * finish the recordings of children that are gone. */
void ts_follow_poll(ts_follow *f);

/* Drain and finish every child recording, say on stderr what was
 * recorded where, and free f.  Children still running are recorded as
 * cut short.  NULL is fine. */
void ts_follow_finish(ts_follow *f);

#endif
