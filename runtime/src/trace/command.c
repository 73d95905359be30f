/*
 * command.c - the command channel of the debug runtime: `taskscope
 * cancel PID TASK` asks, through the segment (ts_seg_command in
 * trace_format.h), and the loop that owns the task cancels it on its own
 * thread, between steps, as if a task of its own had called
 * ts_task_cancel.  A blocked loop does so when its step returns; an idle
 * one is woken by the watchdog.
 *
 * Invariants:
 *   - Nothing read from the segment is used in place: the request is
 *     copied into private memory, then checked (op, lengths, the loop,
 *     the task on that loop's own list, the requester's uid).
 *   - Each request is answered at most once: done is private, advanced
 *     with a CAS by the loop that answers, so two loops never act on the
 *     same request; the segment's done_seq is only a copy for readers.
 *   - Requests are looked at no more often than every COMMAND_GAP_NS per
 *     process, so a reader that keeps bumping seq costs the program a
 *     bounded number of task-list walks a second.
 *   - The answer (a cancel_request event: who asked, and what came of it)
 *     is written before the cancellation's own task_cancel, so a reader
 *     can name the canceller.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace.h"

#define COMMAND_GAP_NS 20000000ull /* 20 ms */

static _Atomic uint64_t done;          /* the last seq answered (private) */
static _Atomic uint64_t next_look_ns;

/* The uid owning process pid, or -1 if there is none. */
static long owner_uid(uint32_t pid) {
    char path[32];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%u", pid);
    return pid && stat(path, &st) == 0 ? (long)st.st_uid : -1;
}

static ts_task *find_task(ts_loop *l, uint64_t id) {
    ts__list_foreach(it, &l->tasks) {
        ts_task *t = ts__container_of(it, ts_task, all);
        if (t->id == id)
            return t;
    }
    return NULL;
}

static void answer(ts_seg_header *h, uint64_t seq, int result) {
    ts_seg_command *c = &h->command;
    __atomic_store_n(&c->result, result, __ATOMIC_RELAXED);
    __atomic_store_n(&c->done_seq, seq, __ATOMIC_RELEASE);
    __atomic_store_n(&c->claim, 0, __ATOMIC_RELEASE);
}

static void record(const ts_seg_command *req, uint32_t uid, int result, const char *msg) {
    ts__ring *r = ts__ring_self();
    if (!r)
        return;
    uint32_t mid = msg && *msg ? ts__intern_dynamic(r, msg) : 0;
    ts_ev_cancel_request *e = ts__ring_reserve(r, TS_EV_cancel_request, sizeof *e);
    if (!e)
        return;
    e->task = req->task < (UINT64_C(1) << 48) ? req->task : 0;
    e->requester = req->pid;
    e->uid = uid;
    e->result = result;
    e->message = mid;
    ts__ring_commit(r, sizeof *e);
}

/* Act on request req (a private copy) for loop l: the result. */
static int apply(ts_loop *l, const ts_seg_command *req, uint32_t *uid_out) {
    long uid = owner_uid(req->pid);
    *uid_out = uid < 0 ? UINT32_MAX : (uint32_t)uid;
    if (req->op != TS_COMMAND_CANCEL || req->msg_len > TS_COMMAND_MSG_MAX)
        return -EINVAL;
    /* A requester that is gone (it gave up waiting while this loop was
     * blocked) still gets its request applied: it could write the
     * segment, so it had the right.  A live one of another user cannot
     * have written it but through a descriptor it was handed: refused. */
    if (uid > 0 && (uid_t)uid != getuid() && (uid_t)uid != geteuid())
        return -EPERM;
    ts_task *t = find_task(l, req->task);
    if (!t)
        return -ESRCH;
    if (t->state >= TS_TASK_DONE)
        return -EALREADY;
    char msg[TS_COMMAND_MSG_MAX + 1];
    memcpy(msg, req->msg, req->msg_len);
    msg[req->msg_len] = 0;
    record(req, *uid_out, 0, msg);
    int err = ts__task_cancel_by(t, msg[0] ? msg : NULL, NULL); /* 1: cancelled, as asyncio's True */
    return err < 0 ? err : 0;
}

void ts__tr_command_check(ts_loop *l, ts_seg_header *h) {
    ts_seg_command *c = &h->command;
    uint64_t seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
    uint64_t d = atomic_load_explicit(&done, memory_order_acquire);
    if (__builtin_expect(seq == d, 1))
        return;
    uint64_t now = ts__mono_ns();
    if (now < atomic_load_explicit(&next_look_ns, memory_order_relaxed))
        return;
    ts_seg_command req;
    memcpy(&req, (const void *)c, sizeof req); /* one private copy, then no more reads */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (req.seq != seq || req.loop != l->id)
        return; /* changing under us, or another loop's */
    atomic_store_explicit(&next_look_ns, now + COMMAND_GAP_NS, memory_order_relaxed);
    if (!atomic_compare_exchange_strong(&done, &d, seq))
        return; /* another loop took it */
    uint32_t uid;
    int result = apply(l, &req, &uid);
    if (result)
        record(&req, uid, result, NULL);
    ts__ring *r = ts__ring_self();
    if (r)
        ts__ring_publish(r);
    answer(h, seq, result);
}

/* The watchdog's part: wake the loop a pending request names (an idle
 * loop would not look until something else woke it), or answer -ESRCH
 * for a loop this process does not have. */
void ts__tr_command_watch(ts_seg_header *h) {
    ts_seg_command *c = &h->command;
    uint64_t seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
    uint64_t d = atomic_load_explicit(&done, memory_order_acquire);
    if (seq == d)
        return;
    static uint64_t woken; /* the request last woken for (watchdog thread only) */
    uint64_t loop = __atomic_load_n(&c->loop, __ATOMIC_RELAXED);
    if (woken == seq)
        return;
    if (ts__tr_wake_loop_id(loop)) {
        woken = seq;
        return;
    }
    if (atomic_compare_exchange_strong(&done, &d, seq))
        answer(h, seq, -ENOENT);
}
