/*
 * taskscope/sync.h - synchronisation between tasks of one loop: Lock,
 * Event, Condition, Semaphore, BoundedSemaphore, Barrier.
 *
 * These are asyncio's primitives: they coordinate tasks on one loop and are
 * not thread-safe.  Each belongs to the loop of the thread that created it.
 * Waiters are served strictly first come, first served: a release hands the
 * lock (or permit) to the task that has waited longest, so no newcomer can
 * overtake it.  A waiter that is cancelled while it waits leaves the queue
 * and gets -ECANCELED.  One cancelled after the lock or permit was handed
 * to it (woken, not yet running) keeps it: the call returns 0 and the
 * cancellation arrives at the task's next suspension, so nothing is ever
 * lost or handed back.  Freeing a primitive wakes its waiters with
 * TS_ESHUTDOWN (TS_EBROKEN for a barrier).
 */
#ifndef TASKSCOPE_SYNC_H
#define TASKSCOPE_SYNC_H

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Lock ---------------------------------------------------------------*/
/*
 * Names (every primitive below has the same three calls): a name says
 * what the object is for, so that `taskscope ps`, warnings and the
 * recording read lock "cache" (cache.c:12) instead of an address.
 *   ts_X_new_named(..., name)  - ts_X_new and a name in one call (NULL,
 *                                errno ENOMEM, if the name cannot be kept)
 *   ts_X_set_name(x, name)     - copy name (cut at 127 bytes; NULL clears
 *                                it); 0, -EINVAL for NULL x, -ENOMEM,
 *                                TS_EFREED or TS_EWRONGLOOP as any call on
 *                                x.  Never suspends; only for diagnostics.
 *   ts_X_get_name(x)           - the name (borrowed, valid until the next
 *                                set_name or free), NULL if none.
 * The debug runtime traces the name (event resource_name); the release
 * runtime fires the USDT probe resource_name(obj, name).
 */
typedef struct ts_lock ts_lock;
/* ts_lock_new - a lock of the calling thread's loop; the call site is
 * kept for diagnostics.  NULL on ENOMEM / ESRCH (no loop). */
#define ts_lock_new() ts_lock_new_at(TS_HERE)
ts_lock *ts_lock_new_at(const ts_site *site);
ts_lock *(ts_lock_new)(void);
#define ts_lock_new_named(name) ts_lock_new_named_at((name), TS_HERE)
ts_lock *ts_lock_new_named_at(const char *name, const ts_site *site);
int ts_lock_set_name(ts_lock *l, const char *name);
const char *ts_lock_get_name(const ts_lock *l);
/* ts_lock_free - free the lock; its waiters get TS_ESHUTDOWN. */
#define ts_lock_free(l) ts_lock_free_at((l), TS_HERE)
void ts_lock_free_at(ts_lock *l, const ts_site *site);
void (ts_lock_free)(ts_lock *l);
/*
 * ts_lock_acquire - suspends while the lock is held.  Returns 0 (the
 * caller holds the lock), -ECANCELED (it does not), TS_ENOTASK.
 * A task acquiring a lock it already holds gets -EDEADLK at once, in both
 * runtimes (asyncio would wait forever; the owner is known, so this costs
 * a compare on the contended path only), and the debug runtime reports it
 * (TS_DIAG_LOCK_REACQUIRED, with the lock's creation site and the call).
 * A lock used after ts_lock_free, or after its loop closed, gives
 * TS_EFREED (every lock call) and a TS_DIAG_USE_AFTER_FREE report naming
 * where it was created; the debug runtime recognises a freed lock for the
 * next 1024 object frees, the release runtime only a closed loop.
 */
#define ts_lock_acquire(l) ts_lock_acquire_at((l), TS_HERE)
int ts_lock_acquire_at(ts_lock *l, const ts_site *site);
/* Returns 0, or -EPERM if the lock is not held (any task may release a
 * held lock, as in asyncio).  Never suspends. */
int ts_lock_release(ts_lock *l);
int ts_lock_locked(const ts_lock *l);
/* The task holding the lock (borrowed), or NULL. */
ts_task *ts_lock_owner(const ts_lock *l);

/* ---- Event --------------------------------------------------------------*/
typedef struct ts_event ts_event;
/* The call site is kept for diagnostics; used after ts_event_free or
 * after its loop closed, ts_event_wait returns TS_EFREED (set, clear and
 * free do nothing), reported as for a lock. */
#define ts_event_new() ts_event_new_at(TS_HERE)
ts_event *ts_event_new_at(const ts_site *site);
ts_event *(ts_event_new)(void);
#define ts_event_new_named(name) ts_event_new_named_at((name), TS_HERE)
ts_event *ts_event_new_named_at(const char *name, const ts_site *site);
int ts_event_set_name(ts_event *e, const char *name);
const char *ts_event_get_name(const ts_event *e);
void ts_event_free(ts_event *e);
void ts_event_set(ts_event *e);           /* wakes every waiter */
void ts_event_clear(ts_event *e);
int ts_event_is_set(const ts_event *e);
/* Returns 0 once the event is set (at once if it is), or -ECANCELED. */
#define ts_event_wait(e) ts_event_wait_at((e), TS_HERE)
int ts_event_wait_at(ts_event *e, const ts_site *site);

/* ---- Condition ----------------------------------------------------------*/
typedef struct ts_condition ts_condition;
/* lock: the lock to use, or NULL for a new one owned by the condition.
 * The call site is kept for diagnostics.  A condition used after
 * ts_condition_free, or after its loop closed, gives TS_EFREED (every
 * call that returns an error; free does nothing) and is reported as for a
 * lock. */
#define ts_condition_new(lock) ts_condition_new_at((lock), TS_HERE)
ts_condition *ts_condition_new_at(ts_lock *lock, const ts_site *site);
ts_condition *(ts_condition_new)(ts_lock *lock);
#define ts_condition_new_named(lock, name) ts_condition_new_named_at((lock), (name), TS_HERE)
ts_condition *ts_condition_new_named_at(ts_lock *lock, const char *name, const ts_site *site);
int ts_condition_set_name(ts_condition *c, const char *name);
const char *ts_condition_get_name(const ts_condition *c);
#define ts_condition_free(c) ts_condition_free_at((c), TS_HERE)
void ts_condition_free_at(ts_condition *c, const ts_site *site);
void (ts_condition_free)(ts_condition *c);
#define ts_condition_acquire(c) ts_condition_acquire_at((c), TS_HERE)
int ts_condition_acquire_at(ts_condition *c, const ts_site *site);
int ts_condition_release(ts_condition *c);
/*
 * ts_condition_wait - release the lock, suspend until notified, reacquire
 * the lock.  The lock is held again when it returns, whatever it returns
 * (as asyncio): 0, or -ECANCELED.  -EPERM if the lock was not held.
 */
#define ts_condition_wait(c) ts_condition_wait_at((c), TS_HERE)
int ts_condition_wait_at(ts_condition *c, const ts_site *site);
/*
 * ts_condition_wait_for - wait until pred(arg) returns non-zero: checked
 * first, then after each wake, with the lock held.  Returns pred's value
 * (as asyncio returns the predicate's result), so a predicate should
 * return a positive value for true; or an error of ts_condition_wait
 * (-ECANCELED with the lock held again).  As asyncio, a predicate that is
 * already true returns at once, without checking that the caller holds
 * the lock; -EPERM comes only when it would have to wait without it.
 */
#define ts_condition_wait_for(c, pred, arg) ts_condition_wait_for_at((c), (pred), (arg), TS_HERE)
int ts_condition_wait_for_at(ts_condition *c, int (*pred)(void *), void *arg,
                             const ts_site *site);
/* Wake up to n waiters / all waiters.  -EPERM if the lock is not held. */
int ts_condition_notify(ts_condition *c, size_t n);
int ts_condition_notify_all(ts_condition *c);

/* ---- Semaphore and BoundedSemaphore --------------------------------------*/
typedef struct ts_semaphore ts_semaphore;
/* A semaphore with value permits (value >= 0).  NULL with errno EINVAL for
 * a negative value (asyncio's ValueError), ENOMEM, ESRCH (no loop).  The
 * call site is kept for diagnostics.  A semaphore used after
 * ts_semaphore_free, or after its loop closed, gives TS_EFREED (acquire,
 * release; locked and value read 0 after a free) and is reported as for a
 * lock. */
#define ts_semaphore_new(value) ts_semaphore_new_at((value), TS_HERE)
ts_semaphore *ts_semaphore_new_at(int value, const ts_site *site);
ts_semaphore *(ts_semaphore_new)(int value);
/* A bounded semaphore: releasing above the initial value is an error. */
#define ts_bounded_semaphore_new(value) ts_bounded_semaphore_new_at((value), TS_HERE)
ts_semaphore *ts_bounded_semaphore_new_at(int value, const ts_site *site);
ts_semaphore *(ts_bounded_semaphore_new)(int value);
#define ts_semaphore_new_named(value, name) ts_semaphore_new_named_at((value), (name), TS_HERE)
ts_semaphore *ts_semaphore_new_named_at(int value, const char *name, const ts_site *site);
#define ts_bounded_semaphore_new_named(value, name) \
    ts_bounded_semaphore_new_named_at((value), (name), TS_HERE)
ts_semaphore *ts_bounded_semaphore_new_named_at(int value, const char *name,
                                                const ts_site *site);
int ts_semaphore_set_name(ts_semaphore *s, const char *name);
const char *ts_semaphore_get_name(const ts_semaphore *s);
#define ts_semaphore_free(s) ts_semaphore_free_at((s), TS_HERE)
void ts_semaphore_free_at(ts_semaphore *s, const ts_site *site);
void (ts_semaphore_free)(ts_semaphore *s);
#define ts_semaphore_acquire(s) ts_semaphore_acquire_at((s), TS_HERE)
int ts_semaphore_acquire_at(ts_semaphore *s, const ts_site *site);
/* Returns 0, or -EOVERFLOW when a bounded semaphore is released too often
 * (asyncio's ValueError).  Never suspends. */
int ts_semaphore_release(ts_semaphore *s);
/* 1 if acquire would wait: no free permit, or tasks queued or handed a
 * permit and not run yet (asyncio's fairness: a task that releases and
 * at once re-acquires queues behind the one its release woke). */
int ts_semaphore_locked(const ts_semaphore *s);
unsigned ts_semaphore_value(const ts_semaphore *s);

/* ---- Barrier -------------------------------------------------------------*/
typedef struct ts_barrier ts_barrier;
/* parties >= 1; NULL with errno EINVAL for 0 or a negative count (asyncio's
 * ValueError), ENOMEM, ESRCH (no loop).  The call site is kept for
 * diagnostics.  A barrier used after ts_barrier_free, or after its loop
 * closed, gives TS_EFREED from ts_barrier_wait (reset, abort and free do
 * nothing; the readers give 0 after a free) and is reported as for a lock. */
#define ts_barrier_new(parties) ts_barrier_new_at((parties), TS_HERE)
ts_barrier *ts_barrier_new_at(int parties, const ts_site *site);
ts_barrier *(ts_barrier_new)(int parties);
#define ts_barrier_new_named(parties, name) ts_barrier_new_named_at((parties), (name), TS_HERE)
ts_barrier *ts_barrier_new_named_at(int parties, const char *name, const ts_site *site);
int ts_barrier_set_name(ts_barrier *b, const char *name);
const char *ts_barrier_get_name(const ts_barrier *b);
#define ts_barrier_free(b) ts_barrier_free_at((b), TS_HERE)
void ts_barrier_free_at(ts_barrier *b, const ts_site *site);
void (ts_barrier_free)(ts_barrier *b);
/*
 * ts_barrier_wait - suspend until `parties` tasks are waiting, then release
 * them all.  *index (may be NULL) gets 0..parties-1, as asyncio.  Returns
 * 0, TS_EBROKEN if the barrier is or becomes broken (reset or abort while
 * waiting), -ECANCELED (which breaks the barrier for the others of its
 * round, as threading.Barrier does; asyncio's only lowers the count).
 */
#define ts_barrier_wait(b, index) ts_barrier_wait_at((b), (index), TS_HERE)
int ts_barrier_wait_at(ts_barrier *b, unsigned *index, const ts_site *site);
void ts_barrier_reset(ts_barrier *b);   /* waiters get TS_EBROKEN; reusable */
void ts_barrier_abort(ts_barrier *b);   /* broken until reset */
unsigned ts_barrier_parties(const ts_barrier *b);
unsigned ts_barrier_n_waiting(const ts_barrier *b);
int ts_barrier_broken(const ts_barrier *b);

#ifdef __cplusplus
}
#endif
#endif
