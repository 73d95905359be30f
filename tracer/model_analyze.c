/*
 * model_analyze.c - tm_model_analyze (see model.h): tasks that can never
 * finish, and why.  Runs over the model as it stands; each finding
 * becomes a warning once.
 *
 * The wait-for graph has one edge out of each suspended task: to the one
 * task that can wake it.  Some edges are certain (an awaited task, a
 * lock's holder, a one-permit semaphore's holder); others are inferred
 * from history (the task that last set an event, put into a queue,
 * notified a condition; a future's creator; the only other live task of
 * the loop).  A cycle of certain edges is a deadlock at once; one that
 * leans on an inferred edge is reported only after every member has
 * waited TM_STUCK_NS, and its text says it is inferred.
 */
#include <stdio.h>
#include <string.h>

#include "model_impl.h"

typedef struct edge {
    uint64_t to;        /* the task that can wake it, 0 none known */
    int inferred;       /* 0 certain, 1 a guess from history */
    const char *why;    /* for an inferred edge: "last set it", ... */
} edge;

static int live(const tm_task *t) { return t && t->state < TM_DONE; }

static int can_wake_itself(uint32_t kind) {
    /* sleep, yield, fd, executor: a timer, the kernel or a thread will
     * wake it without any task's help */
    return kind == 3 || kind == 4 || kind == 13 || kind == 14;
}

/* The only live task of t's loop, other than t, not waiting on the same
 * object: then nothing else of the loop could wake t. */
static uint64_t sole_other(const tm_model *m, const tm_task *t) {
    uint64_t found = 0;
    for (size_t i = 0; i < m->ntasks; i++) {
        const tm_task *o = m->tasks[i];
        if (!live(o) || o == t || o->loop != t->loop ||
            (o->state == TM_SUSPENDED && o->wait_obj == t->wait_obj))
            continue;
        if (found)
            return 0;
        found = o->id;
    }
    return found;
}

/* A hint is usable if it names a live task other than the waiter. */
static int usable(const tm_model *m, const tm_task *t, uint64_t id) {
    return id && id != t->id && live(tm_model_task(m, id));
}

static edge waker_of(const tm_model *m, const tm_task *t) {
    edge e = {0, 0, ""};
    if (!t || t->state != TM_SUSPENDED)
        return e;
    const tm_resource *r = tm_model_resource(m, t->wait_obj);
    switch (t->wait_kind) {
    case 1: /* task */
        e.to = t->wait_obj;
        return e;
    case 5: /* lock: its holder, unless stale (the runtime refuses a
             * holder's own re-acquire, so a self-edge is old data) */
        if (r && r->holder != t->id)
            e.to = r->holder;
        return e;
    case 8: /* semaphore: the holder of its one permit is certain; of
             * several, the last taker is a guess */
        if (r && r->held && r->holder != t->id) {
            e.to = r->holder;
            e.inferred = r->capacity != 1;
            e.why = "last took a permit";
        }
        return e;
    case 2: case 6: case 7: case 10: case 11: case 12: break;
    default: return e;
    }
    e.inferred = 1;
    uint64_t hint = 0;
    if (r) {
        switch (t->wait_kind) {
        case 6: hint = r->signaller, e.why = "last set it"; break;
        case 7: hint = r->signaller, e.why = "last notified it"; break;
        case 10: hint = r->signaller, e.why = "last put into it"; break;
        case 11: case 12: hint = r->holder, e.why = "last took from it"; break;
        default: break;
        }
        if (!usable(m, t, hint))
            hint = r->creator, e.why = "created it";
    }
    if (!usable(m, t, hint))
        hint = sole_other(m, t), e.why = "is the only other task of its loop";
    e.to = usable(m, t, hint) ? hint : 0;
    return e;
}

/* "#3 left" */
static size_t put_task(const tm_model *m, char *buf, size_t len, uint64_t id) {
    const tm_task *t = tm_model_task(m, id);
    return (size_t)snprintf(buf, len, "#%llu %s", (unsigned long long)id,
                            t ? tm_task_name(m, t) : "?");
}

#define APPEND(...)                                                          \
    do {                                                                     \
        if (len < sizeof text)                                               \
            len += (size_t)snprintf(text + len, sizeof text - len, __VA_ARGS__); \
    } while (0)

/* A cycle through start: spell it, "#3 left → lock "B" (x.c:9) → #4
 * right → lock "A" (x.c:8) → #3 left", warn once and mark its members. */
static int report_cycle(tm_model *m, tm_task *start) {
    int inferred = 0, all_old = 1;
    tm_task *c = start;
    do {
        edge e = waker_of(m, c);
        inferred |= e.inferred;
        all_old &= m->now - c->state_since_ns >= TM_STUCK_NS;
        c = tm_model_task(m, e.to);
    } while (c && c != start);
    if (!c || (inferred && !all_old))
        return 0;
    char text[sizeof ((tm_warning *)0)->text], res[200];
    size_t len = 0;
    APPEND("deadlock: ");
    if (len < sizeof text)
        len += put_task(m, text + len, sizeof text - len, start->id);
    c = start;
    do {
        edge e = waker_of(m, c);
        if (c->wait_kind == 1)
            APPEND(" → awaits → ");
        else
            APPEND(" → %s → ", tm_resource_text(m, c->wait_kind, c->wait_obj, res, sizeof res));
        if (len < sizeof text)
            len += put_task(m, text + len, sizeof text - len, e.to);
        if (e.inferred)
            APPEND(" (inferred: it %s)", e.why);
        c = tm_model_task(m, e.to);
    } while (c != start);
    if (inferred)
        APPEND("; inferred, not certain: nothing owns an event, queue, condition or "
               "future, so its waker is guessed from history");
    tm__add_warning(m, TM_WARN_DEADLOCK, m->now, start->id,
                    start->wait_kind == 1 ? 0 : start->wait_obj, text);
    c = start;
    do {
        c->warnings |= TM_WARN_DEADLOCK;
        c = tm_model_task(m, waker_of(m, c).to);
    } while (c && c != start);
    return 1;
}

/* 1. Cycles.  Each task has at most one out-edge, so following edges
 * from any task either ends or enters a cycle within n steps. */
static size_t find_cycles(tm_model *m) {
    size_t found = 0;
    for (size_t i = 0; i < m->ntasks; i++) {
        tm_task *start = m->tasks[i];
        if (!start || start->state != TM_SUSPENDED || (start->warnings & TM_WARN_DEADLOCK))
            continue;
        tm_task *slow = start, *fast = start;
        int cyc = 0;
        for (size_t steps = 0; steps < m->ntasks + 1; steps++) {
            tm_task *n1 = fast ? tm_model_task(m, waker_of(m, fast).to) : NULL;
            tm_task *n2 = n1 ? tm_model_task(m, waker_of(m, n1).to) : NULL;
            slow = slow ? tm_model_task(m, waker_of(m, slow).to) : NULL;
            fast = n2;
            if (!fast || !slow)
                break;
            if (fast == slow) {
                cyc = 1;
                break;
            }
        }
        /* slow is on the cycle; a task leading into a cycle already
         * reported finds it marked */
        if (cyc && !(slow->warnings & TM_WARN_DEADLOCK))
            found += (size_t)report_cycle(m, slow);
    }
    return found;
}

/* 2. A lock or semaphore held by a task that has finished: it can never
 * be released by its holder. */
static size_t find_dead_holders(tm_model *m) {
    size_t found = 0;
    for (size_t i = 0; i < m->ntasks; i++) {
        tm_task *t = m->tasks[i];
        if (!t || t->state != TM_SUSPENDED || (t->warnings & TM_WARN_DEAD_HOLDER) ||
            (t->wait_kind != 5 && t->wait_kind != 8))
            continue;
        const tm_resource *r = tm_model_resource(m, t->wait_obj);
        if (!r || !r->held || !r->holder)
            continue;
        /* (an unknown holder proves nothing: its records may be still to
         * come, or were dropped) */
        const tm_task *h = tm_model_task(m, r->holder);
        if (!h || (h->state < TM_DONE && h != t))
            continue;
        char res[200], text[400];
        const char *how = h == t ? "is itself (a stale holder: its earlier run ended)"
                        : h->state == TM_CANCELLED ? "was cancelled"
                        : h->state == TM_FAILED ? "failed" : "has finished";
        size_t len = (size_t)snprintf(text, sizeof text, "dead holder: ");
        len += put_task(m, text + len, sizeof text - len, t->id);
        snprintf(text + len, sizeof text - len, " waits for %s, %s by #%llu %s, which %s "
                 "without releasing it",
                 tm_resource_text(m, t->wait_kind, r->id, res, sizeof res),
                 t->wait_kind == 5 ? "held" : "a permit of it last taken",
                 (unsigned long long)r->holder, tm_task_name(m, h), how);
        tm__add_warning(m, TM_WARN_DEAD_HOLDER, m->now, t->id, r->id, text);
        found++;
    }
    return found;
}

/* 3. Per task, even while other tasks run: a future awaited for
 * TM_STUCK_NS whose creator has finished (nobody was seen to keep it),
 * and an event, queue or condition only the waiter has ever signalled. */
static size_t find_lonely_waits(tm_model *m) {
    size_t found = 0;
    for (size_t i = 0; i < m->ntasks; i++) {
        tm_task *t = m->tasks[i];
        if (!t || t->state != TM_SUSPENDED || m->now - t->state_since_ns < TM_STUCK_NS)
            continue;
        const tm_resource *r = tm_model_resource(m, t->wait_obj);
        if (!r)
            continue;
        char res[200], dur[16], text[400];
        /* the threshold, not the wait so far: the text must not change
         * with every look (a recording keeps the first) */
        tm_fmt_dur(dur, sizeof dur, TM_STUCK_NS);
        tm_resource_text(m, t->wait_kind, r->id, res, sizeof res);
        if (t->wait_kind == 2 && r->kind == TM_RES_FUTURE && r->creator &&
            r->creator != t->id && !(t->warnings & TM_WARN_ORPHAN_FUTURE)) {
            const tm_task *c = tm_model_task(m, r->creator);
            if (c && c->state < TM_DONE)
                continue;
            size_t len = (size_t)snprintf(text, sizeof text, "orphan future: ");
            len += put_task(m, text + len, sizeof text - len, t->id);
            snprintf(text + len, sizeof text - len,
                     " has awaited %s for over %s; its creator #%llu %s has %s and it was never "
                     "completed, so no task is known that will",
                     res, dur, (unsigned long long)r->creator, c ? tm_task_name(m, c) : "?",
                     c && c->state == TM_CANCELLED ? "been cancelled" : "finished");
            tm__add_warning(m, TM_WARN_ORPHAN_FUTURE, m->now, t->id, r->id, text);
            found++;
        } else if ((t->wait_kind == 6 || t->wait_kind == 7 || t->wait_kind == 10) &&
                   r->signaller == t->id && !r->other_signallers &&
                   !(t->warnings & (TM_WARN_SELF_WAKE | TM_WARN_DEADLOCK))) {
            size_t len = (size_t)snprintf(text, sizeof text, "self wake: ");
            len += put_task(m, text + len, sizeof text - len, t->id);
            snprintf(text + len, sizeof text - len,
                     " has waited over %s on %s, which only it has ever %s: it cannot do so while "
                     "it waits",
                     dur, res,
                     t->wait_kind == 6 ? "set" : t->wait_kind == 7 ? "notified" : "put into");
            tm__add_warning(m, TM_WARN_SELF_WAKE, m->now, t->id, r->id, text);
            found++;
        }
    }
    return found;
}

static int has_warning(const tm_model *m, tm_warning_kind k, uint64_t task) {
    const tm_task *t = tm_model_task(m, task);
    return t && (t->warnings & k);
}

/* 4. Loops where nothing can make progress: no task ready or running,
 * and none waiting on a timer, fd or thread, for TM_STUCK_NS. */
static size_t find_stuck_loops(tm_model *m) {
    size_t found = 0;
    for (size_t li = 0; li < m->nloops; li++) {
        tm_loop *l = &m->loops[li];
        if (l->closed)
            continue;
        size_t nlive = 0, stuck = 0;
        for (size_t i = 0; i < m->ntasks; i++) {
            tm_task *t = m->tasks[i];
            if (!t || t->loop != l->id || t->state >= TM_DONE)
                continue;
            nlive++;
            if (t->state == TM_SUSPENDED && !can_wake_itself(t->wait_kind) &&
                m->now - t->state_since_ns >= TM_STUCK_NS)
                stuck++;
        }
        if (!nlive || stuck != nlive)
            continue;
        for (size_t i = 0; i < m->ntasks; i++) {
            tm_task *t = m->tasks[i];
            /* (a task already explained by a sharper finding needs no
             * "every task is waiting" on top) */
            if (!t || t->loop != l->id || t->state >= TM_DONE ||
                has_warning(m, TM_WARN_STUCK | TM_WARN_DEADLOCK | TM_WARN_DEAD_HOLDER |
                                   TM_WARN_ORPHAN_FUTURE | TM_WARN_SELF_WAKE, t->id))
                continue;
            char text[400], what[200];
            if (t->wait_kind == 1)
                put_task(m, what, sizeof what, t->wait_obj);
            else
                tm_resource_text(m, t->wait_kind, t->wait_obj, what, sizeof what);
            size_t len = (size_t)snprintf(text, sizeof text, "task ");
            len += put_task(m, text + len, sizeof text - len, t->id);
            snprintf(text + len, sizeof text - len,
                     " waits on %s%s, but every task of loop %llu is waiting and no timer, fd "
                     "or thread can wake any of them",
                     t->wait_kind == 1 ? "task " : "", what, (unsigned long long)l->id);
            tm__add_warning(m, TM_WARN_STUCK, m->now, t->id,
                            t->wait_kind == 1 ? 0 : t->wait_obj, text);
            found++;
        }
    }
    return found;
}

size_t tm_model_analyze(tm_model *m) {
    size_t found = find_dead_holders(m);
    found += find_cycles(m);
    found += find_lonely_waits(m);
    found += find_stuck_loops(m);
    return found;
}
