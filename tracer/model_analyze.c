/*
 * model_analyze.c - tm_model_analyze (see model.h): tasks that can never
 * finish.  Runs over the model as it stands; each finding becomes a
 * warning once.
 */
#include <stdio.h>
#include <string.h>

#include "model_impl.h"

/* A lock's holder that cannot be holding it: a task known to have ended,
 * or the waiter itself (the runtime fails a holder's second acquire with
 * -EDEADLK, so a waiter never holds what it waits for: the lock's owner
 * pointer is stale, a task that ended holding it and whose record the
 * waiter now reuses, as a state dump of the release runtime, which looks
 * the owner up by address, reports it).  No wait-for edge: never a cycle. */
static int dead_holder(const tm_model *m, const tm_task *waiter, const tm_resource *r) {
    if (!r->holder)
        return 0;
    if (r->holder == waiter->id)
        return 1;
    const tm_task *h = tm_model_task(m, r->holder);
    return h && h->state >= TM_DONE;
}

/* The one task a suspended task waits for, if the wait-for graph has an
 * edge out of it: the awaited task, or the holder of the lock. */
static uint64_t waits_for(const tm_model *m, const tm_task *t) {
    if (t->state != TM_SUSPENDED)
        return 0;
    if (t->wait_kind == 1 /* task */)
        return t->wait_obj;
    if (t->wait_kind == 5 /* lock */) {
        tm_resource *r = tm_model_resource(m, t->wait_obj);
        return r && !dead_holder(m, t, r) ? r->holder : 0;
    }
    return 0;
}

static int can_wake_itself(uint32_t kind) {
    /* sleep, yield, fd, executor: a timer, the kernel or a thread will
     * wake it without any task's help */
    return kind == 3 || kind == 4 || kind == 13 || kind == 14;
}

static int has_warning(const tm_model *m, tm_warning_kind k, uint64_t task) {
    const tm_task *t = tm_model_task(m, task);
    return t && (t->warnings & k);
}

size_t tm_model_analyze(tm_model *m) {
    size_t found = 0;
    /* 1. Cycles.  Each task has at most one out-edge, so following edges
     * from any task either ends or enters a cycle within n steps. */
    for (size_t i = 0; i < m->ntasks; i++) {
        tm_task *start = m->tasks[i];
        if (!start || start->state != TM_SUSPENDED || (start->warnings & TM_WARN_DEADLOCK))
            continue;
        tm_task *slow = start, *fast = start;
        int cyc = 0;
        for (size_t steps = 0; steps < m->ntasks + 1; steps++) {
            tm_task *n1 = fast ? tm_model_task(m, waits_for(m, fast)) : NULL;
            tm_task *n2 = n1 ? tm_model_task(m, waits_for(m, n1)) : NULL;
            slow = slow ? tm_model_task(m, waits_for(m, slow)) : NULL;
            fast = n2;
            if (!fast || !slow)
                break;
            if (fast == slow) {
                cyc = 1;
                break;
            }
        }
        if (!cyc)
            continue;
        /* slow is on the cycle: spell it out in one warning, "#3 right
         * wants a lock held by #2 left, which wants a lock held by #3
         * right", and mark every member.  A task leading into a cycle
         * already reported finds it marked. */
        if (slow->warnings & TM_WARN_DEADLOCK)
            continue;
        char text[240];
        size_t len = (size_t)snprintf(text, sizeof text, "deadlock: #%llu %s",
                                      (unsigned long long)slow->id,
                                      tm_model_string(m, slow->name));
        tm_task *c = slow;
        do {
            tm_task *next = tm_model_task(m, waits_for(m, c));
            if (!next)
                break;
            if (len < sizeof text)
                len += (size_t)snprintf(text + len, sizeof text - len, "%s %s #%llu %s",
                                        c == slow ? "" : ", which",
                                        c->wait_kind == 5 ? "wants a lock held by" : "awaits",
                                        (unsigned long long)next->id,
                                        tm_model_string(m, next->name));
            c = next;
        } while (c != slow);
        tm__add_warning(m, TM_WARN_DEADLOCK, m->now, slow->id,
                    slow->wait_kind == 5 ? slow->wait_obj : 0, text);
        found++;
        c = slow;
        do {
            c->warnings |= TM_WARN_DEADLOCK;
            c = tm_model_task(m, waits_for(m, c));
        } while (c && c != slow);
    }
    /* 1b. A lock whose holder is gone: nothing will ever release it. */
    for (size_t i = 0; i < m->ntasks; i++) {
        tm_task *t = m->tasks[i];
        if (!t || t->state != TM_SUSPENDED || t->wait_kind != 5 ||
            (t->warnings & (TM_WARN_STUCK | TM_WARN_DEADLOCK)))
            continue;
        tm_resource *r = tm_model_resource(m, t->wait_obj);
        if (!r || !dead_holder(m, t, r))
            continue;
        char text[240];
        snprintf(text, sizeof text,
                 "task #%llu %s waits on lock %#llx, whose holder is dead (it ended "
                 "holding the lock; nothing will release it)",
                 (unsigned long long)t->id, tm_model_string(m, t->name),
                 (unsigned long long)t->wait_obj);
        tm__add_warning(m, TM_WARN_STUCK, m->now, t->id, t->wait_obj, text);
        found++;
    }
    /* 2. Loops where nothing can make progress: no task ready or running,
     * and none waiting on a timer, fd or thread, for at least a second. */
    for (size_t li = 0; li < m->nloops; li++) {
        tm_loop *l = &m->loops[li];
        if (l->closed)
            continue;
        size_t live = 0, stuck = 0;
        for (size_t i = 0; i < m->ntasks; i++) {
            tm_task *t = m->tasks[i];
            if (!t || t->loop != l->id || t->state >= TM_DONE)
                continue;
            live++;
            if (t->state == TM_SUSPENDED && !can_wake_itself(t->wait_kind) &&
                m->now - t->state_since_ns >= 1000000000ull)
                stuck++;
        }
        if (!live || stuck != live)
            continue;
        for (size_t i = 0; i < m->ntasks; i++) {
            tm_task *t = m->tasks[i];
            if (!t || t->loop != l->id || t->state >= TM_DONE ||
                has_warning(m, TM_WARN_STUCK, t->id) || has_warning(m, TM_WARN_DEADLOCK, t->id))
                continue;
            char text[240];
            /* task ids read as "#12", resources by their address */
            snprintf(text, sizeof text,
                     t->wait_kind == 1 ? "task #%llu %s waits on %s #%llu, but every task of "
                                         "loop %llu is waiting and no timer, fd or thread can "
                                         "wake any of them"
                                       : "task #%llu %s waits on %s %#llx, but every task of "
                                         "loop %llu is waiting and no timer, fd or thread can "
                                         "wake any of them",
                     (unsigned long long)t->id, tm_model_string(m, t->name),
                     tm_wait_kind_name(t->wait_kind), (unsigned long long)t->wait_obj,
                     (unsigned long long)l->id);
            tm__add_warning(m, TM_WARN_STUCK, m->now, t->id,
                        t->wait_kind == 1 ? 0 : t->wait_obj, text);
            found++;
        }
    }
    return found;
}
