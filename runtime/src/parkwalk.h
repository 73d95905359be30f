/*
 * parkwalk.h - the call stack of a parked task, walked in-process along
 * the frame-pointer chain inside the task's own stack.  Shared by the
 * debug runtime's ring dump (trace/taskstack.c) and the release
 * runtime's BPF state dump (statedump.c), so `taskscope where` shows the
 * same frames on both.
 */
#ifndef TS_PARKWALK_H
#define TS_PARKWALK_H

#include <stdbool.h>
#include <stdint.h>

#include "loop_impl.h"

/* The flags of a walk, as the task_stack event carries them. */
enum {
    TS_PARKWALK_TRUNCATED = 1, /* the chain went on past max */
    TS_PARKWALK_BAD_FP = 2,    /* the chain left the task's stack */
    TS_PARKWALK_NO_WALK = 4,   /* this build cannot walk (ucontext backend) */
};

/* Has t a parked context to walk?  Started, not done, not the running
 * task, with a stack of its own. */
bool ts__park_walkable(const ts_task *t);

/* Walk parked task t's frames, innermost first, into pcs (at most max);
 * its flags into *flags.  Returns the number of addresses.  Reads only
 * inside t's own stack and ends in at most size/16 steps, whatever the
 * stack holds. */
int ts__park_walk(const ts_task *t, uint64_t *pcs, int max, uint32_t *flags);

#endif
