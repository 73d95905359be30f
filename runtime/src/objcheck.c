/*
 * objcheck.c - telling misuse of a loop-bound object (lock, group, ...)
 * apart: a use after it was freed, a use after its loop was closed, and a
 * call from a thread that does not run its loop.  Only the slow path of
 * ts__obj_check lives here; the fast path is one compare more than the
 * thread check it replaces.
 *
 * Invariants:
 *   - A loop id is in the live set from ts_loop_new until ts_loop_close
 *     (loop.c tells us); ids are never reused, so "not in the set" means
 *     closed, even if a new loop now sits at the old address.
 *   - The debug runtime does not give a freed object's memory back at
 *     once: it keeps the last QUARANTINE of them, marked freed, so a stale
 *     pointer finds the mark (and the creation site) instead of someone
 *     else's object.  The release runtime frees at once; there a use after
 *     free is undefined, as in any C library, and only a use after the
 *     loop closed is caught for sure.
 *   - Both sets are process-wide and guarded by one mutex, taken only on
 *     loop creation and close, object free (debug) and misuse.
 */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *live_loops;
static size_t nlive_loops, live_loops_cap;

void ts__loop_alive_set(uint64_t id, bool alive) {
    pthread_mutex_lock(&lock);
    if (alive) {
        if (nlive_loops == live_loops_cap) {
            size_t cap = live_loops_cap ? live_loops_cap * 2 : 8;
            uint64_t *a = realloc(live_loops, cap * sizeof *a);
            if (!a) {
                /* Unknown loops count as alive: misuse then reads as a
                 * wrong-thread call, never a false "closed". */
                pthread_mutex_unlock(&lock);
                return;
            }
            live_loops = a;
            live_loops_cap = cap;
        }
        live_loops[nlive_loops++] = id;
    } else {
        for (size_t i = 0; i < nlive_loops; i++) {
            if (live_loops[i] == id) {
                live_loops[i] = live_loops[--nlive_loops];
                break;
            }
        }
        if (nlive_loops == 0) {
            free(live_loops);
            live_loops = NULL;
            live_loops_cap = 0;
        }
    }
    pthread_mutex_unlock(&lock);
}

static bool loop_alive(uint64_t id) {
    bool alive = false;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nlive_loops && !alive; i++)
        alive = live_loops[i] == id;
    pthread_mutex_unlock(&lock);
    return alive;
}

bool ts__obj_orphaned(const ts__obj *o) {
    return o->magic == TS__OBJ_LIVE && o->loop_id != ts__tls_loop_id && !loop_alive(o->loop_id);
}

void ts__obj_init(ts__obj *o, ts_loop *loop, const char *kind,
                  const ts_site *created) {
    o->magic = TS__OBJ_LIVE;
    o->loop = loop;
    o->loop_id = loop ? ts_loop_id(loop) : 0;
    o->kind = kind;
    o->created = created;
    o->freed = NULL;
    o->name = NULL;
}

int ts__obj_misuse(const ts__obj *o, const char *what, const ts_site *site) {
    ts_site call = {NULL, what, 0};
    const char *why = NULL;
    if (o->magic != TS__OBJ_LIVE)
        why = "it was freed";
    else if (!loop_alive(o->loop_id))
        why = "its loop was closed";
    if (!why)
        return ts__wrong_thread(what);
    char msg[96];
    bool known = o->magic == TS__OBJ_LIVE || o->magic == TS__OBJ_FREED;
    snprintf(msg, sizeof msg, "%s used after %s", known && o->kind ? o->kind : "object", why);
    ts_diag d = {
        .kind = TS_DIAG_USE_AFTER_FREE,
        .what = "object used after free/close",
        .site = known ? o->created : NULL,
        .err = TS_EFREED,
        .message = msg,
        .call_site = site ? site : &call,
        .released_site = o->magic == TS__OBJ_FREED ? o->freed : NULL,
    };
    ts__diag_report(&d);
    return TS_EFREED;
}

#ifdef TS_DEBUG_RUNTIME
enum { QUARANTINE = 1024 };
static void *quarantine[QUARANTINE];
static size_t quarantine_next;
#endif

void ts__obj_free(ts__obj *o, const ts_site *site) {
    o->magic = TS__OBJ_FREED;
    o->freed = site;
    free(o->name); /* (a quarantined object keeps only kind and sites) */
    o->name = NULL;
#ifdef TS_DEBUG_RUNTIME
    pthread_mutex_lock(&lock);
    void *old = quarantine[quarantine_next];
    quarantine[quarantine_next] = o;
    quarantine_next = (quarantine_next + 1) % QUARANTINE;
    pthread_mutex_unlock(&lock);
    free(old);
#else
    free(o);
#endif
}
