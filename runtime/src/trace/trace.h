/*
 * trace.h - the debug runtime's trace layer, as the core sees it.
 *
 * The core calls these through the TS_TRACE_* macros of tracepoints.h,
 * which compile to nothing in the release build.  Every function here is
 * cheap when no ring is attached and never blocks, allocates on the hot
 * path, or fails visibly: an event that cannot be recorded is dropped
 * and counted.
 */
#ifndef TS_TRACE_TRACE_H
#define TS_TRACE_TRACE_H

#include "../loop_impl.h"
#include "ring.h"

int ts__trace_init(void);
int ts__trace_set_ring_size(size_t bytes);
uint64_t ts__trace_block_threshold_ns(void);
uint64_t ts__trace_slow_step_ns(void);
void ts__watchdog_start(void);
void ts__watchdog_after_fork(void);
/* fork.c: register the atfork handler (once); is this process a forked
 * child of the one that loaded the runtime? */
void ts__fork_watch(void);
bool ts__trace_forked(void);
bool ts__trace_followed(void);
/* emit.c, for fork.c: forget the parent's loop slots; re-register the
 * forking thread's loop (running: the task inside which fork was called,
 * or NULL) in the child's own segment. */
void ts__tr_loops_after_fork(void);
void ts__tr_loop_rejoin(ts_loop *l, ts_task *running);
void ts__watchdog_stop(void);
/* crash.c: the fatal-signal handler that writes a crash snapshot. */
void ts__crash_install(void);

/* Strings and sites: the id to use in an event, emitting the STRING/SITE
 * record the first time.  0 for NULL.  A static string is one whose
 * address will always hold the same text (a literal, __func__); anything
 * else is interned by content. */
uint32_t ts__intern_static(ts__ring *r, const char *s);
uint32_t ts__intern_dynamic(ts__ring *r, const char *s);
uint32_t ts__intern_site(ts__ring *r, const ts_site *site);
/* Write the STRING record of string id str and the SITE record (with its
 * strings) of site id site into r again, if interned (0: none). */
void ts__intern_emit_again(ts__ring *r, uint32_t str, uint32_t site);
/* Re-emit every interned string and site into r (state dump). */
void ts__intern_replay(ts__ring *r);
/* The crash handler's view (no waiting, no allocation): freeze the tables
 * if nobody holds them; then ids of what is already interned (0 if not)
 * and the replay, without locking; thaw. */
bool ts__intern_try_freeze(void);
void ts__intern_thaw(void);
uint32_t ts__intern_peek(const char *s);
uint32_t ts__intern_peek_site(const ts_site *site);
void ts__intern_replay_frozen(ts__ring *r);
/* Write the calling thread's loop's state (as a state dump) into scratch
 * ring s, with the tables frozen (crash.c). */
void ts__tr_crash_dump(ts__ring *s);
/* The calling thread's live locks and queues, as dump records (emit.c;
 * reads only the thread's own table: safe in its signal handler). */
void ts__tr_dump_resources(ts__ring *r);

/* State dump additions (issue 15): a parked task's stack (taskstack.c;
 * budget counts down the stacks one dump may still hold) and the user
 * fields of a task (notes.c). */
unsigned ts__tr_dump_stack_budget(void);
void ts__tr_dump_task_stack(ts__ring *r, ts_task *t, unsigned *budget);
void ts__tr_dump_task_fields(ts__ring *r, ts_task *t);
void ts__tr_dump_modules(ts__ring *r);
/* notes.c: forget a freed task's fields. */
void ts__tr_notes_task_free(ts_task *t);

/* command.c: a loop iteration looks for a request for it; the watchdog
 * wakes the loop a request names (emit.c: ts__tr_wake_loop_id, false if
 * this process has no such loop). */
void ts__tr_command_check(ts_loop *l, ts_seg_header *h);
void ts__tr_command_watch(ts_seg_header *h);
bool ts__tr_wake_loop_id(uint64_t loop);

/* Events. */
void ts__tr_thread_start(ts__ring *r, uint32_t role, const char *name);
void ts__tr_thread_exit(ts__ring *r);
void ts__tr_loop_create(ts_loop *l);
void ts__tr_loop_close(ts_loop *l);
void ts__tr_iteration(ts_loop *l);          /* start of a loop iteration */
/* Watchdog: wake every loop that owes the attached reader a state dump
 * (an idle loop sleeps in epoll and would otherwise never write it). */
void ts__tr_wake_loops_for_dump(void);
void ts__tr_before_poll(ts_loop *l);        /* the thread may sleep now */
/* Watchdog: the name and spawn-site ids of task `task` if it is the one
 * running on the loop of block-detection slot `slot` (emit.c). */
bool ts__tr_running_task_ids(uint32_t slot, uint64_t task, uint32_t *name, uint32_t *site);
void ts__tr_step_begin(ts_loop *l, ts_task *t);
void ts__tr_step_end(ts_loop *l, ts_task *t);
void ts__tr_task_create(ts_task *t);
void ts__tr_task_resume(ts_task *t);
void ts__tr_task_suspend(ts_task *t, int kind, const void *obj, const ts_site *site);
void ts__tr_task_wake(ts_task *t, int status);
void ts__tr_task_cancel(ts_task *t, const char *msg, uint64_t by);
void ts__tr_task_done(ts_task *t);
void ts__tr_task_free(ts_task *t);
void ts__tr_future_create(const void *f, const ts_site *site);
void ts__tr_future_done(const void *f, int err);
void ts__tr_resource_create(const void *obj, int kind, unsigned capacity, const ts_site *site);
void ts__tr_resource_free(const void *obj);
void ts__tr_resource_name(const void *obj, const char *name);
/* fdinfo.c: what fd is (how: TS_FD_*; path: a file's, NULL for a socket,
 * whose addresses are asked of the kernel; to, tolen: the address a
 * connect in progress goes to, which the kernel does not give yet).
 * Once per fd life (twice for a connect that waits). */
void ts__tr_fd_info(int fd, int how, const char *path, const void *to, unsigned tolen);
/* fdinfo.c: fd's fd_info again, into r (a state dump), from how the
 * runtime last described it; nothing if it never did or it is closed. */
void ts__tr_dump_fd(ts__ring *r, int fd);
void ts__tr_resource_acquired(const void *obj, const ts_task *t);
void ts__tr_resource_release(const void *obj, const ts_task *t);
void ts__tr_queue_depth(const void *q, size_t depth);
/* The same, sharing the timestamp of the record just written by the same
 * runtime call (tracepoints.h, TS_TRACE_*_NEXT). */
void ts__tr_resource_acquired_next(const void *obj, const ts_task *t);
void ts__tr_resource_release_next(const void *obj, const ts_task *t);
void ts__tr_queue_depth_next(const void *q, size_t depth);
void ts__tr_job_submit(const void *job, const ts_task *t);
void ts__tr_job_start(const void *job);
void ts__tr_job_done(const void *job);
void ts__tr_diag(const ts_diag *d);

/* The id of what a task waits on, as events carry it. */
uint64_t ts__tr_object_id(int kind, const void *obj);

#endif
