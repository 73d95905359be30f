/*
 * crash_dump.c - the state dump a crash snapshot carries: every task of
 * the crashing thread's loop, what it awaits and where, and the loop's
 * locks and queues, as the records of an ordinary state dump (emit.c),
 * so the tracer needs nothing new to read it.  The flight recorder alone
 * would miss every task whose last events it has overwritten (an idle
 * task of a busy program).  Each parked task's stack goes in too
 * (taskstack.c's walk reads memory inside the task's stack and nothing
 * else); the snapshot's copy of the maps symbolizes them.
 *
 * Runs in the fatal-signal handler (crash.c), so: no lock is waited for
 * and nothing is allocated.  Names and sites are looked up in the intern
 * tables frozen by the caller (an id never interned is written as 0);
 * records go to a scratch ring over a buffer set aside at start-up.  Only
 * the crashing thread's own loop is walked: other threads' task lists may
 * be changing under us.  The walk is bounded, so a list the crash left
 * inconsistent cannot keep us here.
 */
#include <sys/syscall.h>
#include <unistd.h>

#include "trace.h"

#define MAX_TASKS (1u << 20)

static void state_of(ts__ring *r, ts_task *t) {
    const void *obj = NULL;
    const ts_site *await_site = NULL;
    ts_wait_kind kind = ts_task_awaiting(t, &obj, &await_site);
    ts_ev_task_state *e = ts__ring_reserve(r, TS_EV_task_state, sizeof *e);
    if (!e)
        return;
    e->task = t->id;
    e->parent = t->parent_id;
    e->loop = t->loop->id;
    e->object = ts__tr_object_id(kind, obj);
    e->name = ts__intern_peek(t->name);
    e->site = ts__intern_peek_site(t->spawn_site);
    e->state = t->state;
    e->kind = kind;
    e->await_site = ts__intern_peek_site(await_site);
    e->requests = (uint32_t)t->cancel_requests;
    ts__ring_commit(r, sizeof *e);
}

void ts__tr_crash_dump(ts__ring *r) {
    ts_loop *l = ts__tls_loop;
    ts_ev_dump_begin *b = ts__ring_reserve(r, TS_EV_dump_begin, sizeof *b);
    if (b) {
        b->generation = 0;
        ts__ring_commit(r, sizeof *b);
    }
    ts__intern_replay_frozen(r);
    if (l) {
        ts_ev_loop_create *c = ts__ring_reserve(r, TS_EV_loop_create, sizeof *c);
        if (c) {
            c->loop = l->id;
            c->tid = (uint32_t)syscall(SYS_gettid);
            ts__ring_commit(r, sizeof *c);
        }
        uint32_t n = 0;
        unsigned stacks = ts__tr_dump_stack_budget(); /* taskstack.c: memory reads only */
        ts__list_foreach(it, &l->tasks) {
            if (++n > MAX_TASKS)
                break;
            ts_task *t = ts__container_of(it, ts_task, all);
            if (t->state < TS_TASK_DONE) {
                state_of(r, t);
                ts__tr_dump_task_stack(r, t, &stacks);
            }
        }
        ts__tr_dump_resources(r);
    }
    ts_ev_dump_end *e = ts__ring_reserve(r, TS_EV_dump_end, sizeof *e);
    if (e) {
        e->generation = 0;
        ts__ring_commit(r, sizeof *e);
    }
}
