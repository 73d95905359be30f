/*
 * loop.c - the event loop: ready queue, timers, epoll, cross-thread calls.
 *
 * Invariants:
 *   - A loop is touched only by its own thread, except xqueue/xsignalled
 *     (call_soon_threadsafe), which any thread may use under xlock.
 *   - One iteration runs exactly the entries that were ready when it began;
 *     whatever they make ready runs in the next iteration, after a poll,
 *     so a task that keeps yielding cannot starve I/O or timers.  The one
 *     exception is the direct hand-off (task.c): when a parking or
 *     yielding task leaves exactly one other task runnable and nothing
 *     else in the batch, it switches to it at once, which is the order
 *     the loop would have run them in; at most TS_HANDOFF_BUDGET times
 *     per iteration, so timers, I/O and cross-thread calls still come
 *     every few microseconds.  A yield hands off (or skips the loop) only
 *     while no descriptor or ring operation is armed: with I/O pending,
 *     each sleep(0) lets the loop poll, as asyncio's does.
 *   - The loop only sleeps in epoll when nothing is ready, and never longer
 *     than the earliest timer.  With nothing ready and no descriptor armed,
 *     it skips the poll entirely: at ~1 us a system call here, polling on
 *     every iteration would triple the cost of a task switch.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "loop_impl.h"
#include "net_impl.h"
#include "tracepoints.h"

TS_TLS ts_loop *ts__tls_loop;
TS_TLS uint64_t ts__tls_loop_id;   /* its id: objcheck's fast path (internal.h) */
TS_TLS ts_task *ts__tls_task;

static _Atomic uint64_t next_loop_id = 1;

/* An entry of the cross-thread queue. */
struct xcall {
    ts__cb cb;
    ts_callback fn;
    void *arg;
};

/* A call_soon/call_later handle.  refs: one for the loop while scheduled,
 * one for the user if they asked for the handle. */
struct ts_handle {
    ts__cb cb;
    ts__timer timer;
    ts_loop *loop;
    ts_callback fn;
    void *arg;
    int refs;
    bool cancelled;
    bool ran;
};

ts_loop *ts_loop_current(void) { return ts__tls_loop; }
uint64_t ts_loop_id(const ts_loop *l) { return l->id; }
int ts_loop_is_running(const ts_loop *l) { return l->running; }

int ts__wrong_thread(const char *what) {
    ts_site site = {"(caller)", what, 0};
    ts__diag_site(TS_DIAG_WRONG_THREAD,
                  "loop call from a thread that does not own the loop", &site);
    return TS_EWRONGLOOP;
}

int64_t ts__now(ts_loop *l) {
    if (!l->now_valid) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        l->now = (int64_t)ts.tv_sec * TS_NSEC + ts.tv_nsec;
        l->now_valid = true;
    }
    return l->now;
}

/* The public clock is always fresh (as asyncio's loop.time()); only the
 * loop's own timer bookkeeping uses the per-iteration cache. */
double ts_loop_time(ts_loop *l) {
    if (!l)
        return NAN;
    l->now_valid = false;
    return (double)ts__now(l) / 1e9;
}

void ts__ready_push(ts_loop *l, ts__cb *cb) { ts__list_push_back(&l->ready, &cb->node); }

static size_t env_stack_size(void) {
    const char *s = getenv("TASKSCOPE_STACK_SIZE");
    if (!s || !*s)
        return TS_DEFAULT_STACK;
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (*end == 'k' || *end == 'K')
        v *= 1024;
    else if (*end == 'm' || *end == 'M')
        v *= 1024 * 1024;
    if (v < 16384 || v > (1ull << 30))
        return TS_DEFAULT_STACK;
    return (size_t)v;
}

int ts_loop_new(ts_loop **out) {
    if (ts__tls_loop)
        return -EBUSY;
    ts_loop *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->epfd < 0 || l->evfd < 0) {
        int err = -errno;
        if (l->epfd >= 0)
            close(l->epfd);
        if (l->evfd >= 0)
            close(l->evfd);
        free(l);
        return err;
    }
    /* Edge-triggered, tagged: a tracer's wakeup write (statedump.c) that no
     * xsignalled flag drains wakes the loop once instead of spinning it. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET,
                             .data.u64 = (uint64_t)TS_LOOP_EVFD_TAG * 0x100000001ull};
    ev.data.fd = l->evfd; /* the other half keeps the tag */
    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &ev);
    l->id = atomic_fetch_add(&next_loop_id, 1);
    ts__loop_alive_set(l->id, true);   /* objcheck.c: closed vs foreign */
    l->thread = pthread_self();
    ts__list_init(&l->ready);
    ts__list_init(&l->batch);
    ts__list_init(&l->tasks);
    ts__list_init(&l->xqueue);
    ts__list_init(&l->timeouts);
    pthread_mutex_init(&l->xlock, NULL);
    l->default_stack = ts__stack_round(env_stack_size());
    l->pool_cap = 4096;
    ts__tls_loop = l;
    ts__tls_loop_id = l->id;
    ts__overflow_thread_init(l);
    TS_TRACE_LOOP_CREATE(l);
    *out = l;
    return 0;
}

/* Move cross-thread calls into the ready queue.
 *
 * Order matters, and pairs with ts_call_soon_threadsafe (which pushes and
 * then, if it flips xsignalled from 0 to 1, writes the eventfd, all under
 * xlock): drain the eventfd first, then clear the flag, then take the
 * queue.  A call pushed before the clear is taken below; one pushed after
 * it finds the flag clear and writes the eventfd again, so the next poll
 * wakes.  (Clearing before draining the eventfd could swallow that write
 * and leave the flag set with nobody to wake the loop: a lost wakeup.) */
static void drain_xqueue(ts_loop *l) {
    if (!atomic_load_explicit(&l->xsignalled, memory_order_relaxed))
        return;
    uint64_t v;
    ssize_t r = read(l->evfd, &v, sizeof v);
    (void)r;
    atomic_store(&l->xsignalled, 0);
    pthread_mutex_lock(&l->xlock);
    ts__list_splice(&l->ready, &l->xqueue);
    pthread_mutex_unlock(&l->xlock);
}

/* Wait up to timeout_ns (-1: no limit) in epoll and dispatch what came. */
static inline void epoll_collect(ts_loop *l, int64_t timeout_ns) {
    struct epoll_event evs[64];
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / TS_NSEC;
        ts.tv_nsec = timeout_ns % TS_NSEC;
        tsp = &ts;
    }
    /* epoll_pwait2 (Linux 5.11) takes a nanosecond timeout; where it is
     * missing (older kernels, valgrind) fall back to milliseconds, once. */
    static _Atomic int no_pwait2;
    int n = -1;
    if (!atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
        n = epoll_pwait2(l->epfd, evs, 64, tsp, NULL);
        if (n < 0 && errno == ENOSYS)
            atomic_store(&no_pwait2, 1);
    }
    if (atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
        int ms = timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000);
        n = epoll_wait(l->epfd, evs, 64, ms);
    }
    l->now_valid = false;
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        if (fd == l->evfd)
            continue; /* drained by poll_io through the flag */
        ts__fd_dispatch(l, fd, evs[i].events);
    }
}

static void poll_io(ts_loop *l, int64_t timeout_ns) {
    /* A ring that defers its task work is where the loop waits (uring.c);
     * the epoll set is then read, without waiting, only when the ring
     * says it has events. */
    int ring = ts__uring_wait(l, timeout_ns);
    if (ring != 0)
        epoll_collect(l, ring > 0 ? 0 : timeout_ns);
    l->now_valid = false;
    drain_xqueue(l);
}

/* One iteration; see the invariants at the top.  The poll comes first (as
 * in asyncio's _run_once), so that the caller's stop condition is checked
 * right after the ready batch and a loop whose work is done never blocks. */
static inline __attribute__((always_inline)) void run_once(ts_loop *l) {
    TS_TRACE_ITERATION(l);
    int64_t timeout;
    if (!ts__list_empty(&l->ready) || l->stopping)
        timeout = 0;
    else if (l->nheap > 0) {
        l->now_valid = false;
        int64_t d = l->heap[0].when - ts__now(l);
        timeout = d < 0 ? 0 : d;
    } else
        timeout = -1;
    if (timeout != 0 || l->nfds_armed > 0) {
        if (timeout != 0) {
            TS_TRACE_BEFORE_POLL(l);
            if (l->nfree_tasks > TS_TASK_RECORDS_KEPT_IDLE) {
                /* about to wait: the records a burst left can go */
                ts__task_records_trim(l, TS_TASK_RECORDS_KEPT_IDLE);
                l->live_tasks_peak = l->nlive_tasks;
            }
        }
        poll_io(l, timeout);
    }
    else
        drain_xqueue(l); /* nothing the kernel could add but this flag */

    l->now_valid = false;
    if (l->nheap > 0)
        ts__timers_run(l, ts__now(l));

    l->handoff_left = TS_HANDOFF_BUDGET;
    ts__list_splice(&l->batch, &l->ready);
    ts__node *n;
    while ((n = ts__list_pop_front(&l->batch))) {
        ts__cb *cb = ts__container_of(n, ts__cb, node);
        if (cb->fn == ts__task_step) {
            ts__task_step(cb); /* traces itself, with its task */
        } else {
            TS_TRACE_STEP_BEGIN(l, NULL);
            cb->fn(cb);
            TS_TRACE_STEP_END(l, NULL);
        }
    }
}

static int run_until(ts_loop *l, ts_task *t) {
    if (ts__check_thread(l, "ts_loop_run"))
        return TS_EWRONGLOOP;
    if (l->running)
        return -EBUSY;
    l->running = true;
    /* As asyncio, a stop() made before the run is kept: the loop runs one
     * iteration (what was already scheduled) and returns. */
    while (!(t && t->state >= TS_TASK_DONE)) {
        run_once(l);
        if (l->stopping)
            break;
    }
    l->running = false;
    l->stopping = false;
    return 0;
}

int ts_loop_run_forever(ts_loop *l) { return run_until(l, NULL); }

void ts_loop_stop(ts_loop *l) {
    if (l)
        l->stopping = true;
}

int ts_loop_run_until_complete(ts_loop *l, ts_task *t, void **result) {
    if (!t || !l)
        return -EINVAL;
    if (t->loop != l || ts__check_thread(l, "ts_loop_run_until_complete"))
        return TS_EWRONGLOOP;
    int err = run_until(l, t);
    if (err)
        return err;
    if (!ts_task_done(t))
        return TS_EINVALSTATE; /* stopped first; the handle stays the caller's */
    err = ts__task_outcome(t, result);
    ts_task_unref(t);
    return err;
}

static void free_handle_ref(ts_handle *h) {
    if (--h->refs == 0)
        free(h);
}

static void handle_run(ts__cb *cb) {
    ts_handle *h = ts__container_of(cb, ts_handle, cb);
    h->ran = true;
    h->fn(h->arg);
    free_handle_ref(h);
}

static void handle_timer_fired(ts__timer *t) {
    ts_handle *h = ts__container_of(t, ts_handle, timer);
    ts__ready_push(h->loop, &h->cb);
}

static int schedule(ts_loop *l, int64_t when, bool timed, ts_callback cb,
                    void *arg, ts_handle **out) {
    if (!l)
        l = ts__tls_loop;
    if (!l || !cb)
        return -EINVAL;
    if (ts__check_thread(l, "ts_call_soon"))
        return TS_EWRONGLOOP;
    ts_handle *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->loop = l;
    h->fn = cb;
    h->arg = arg;
    h->cb.fn = handle_run;
    h->refs = out ? 2 : 1;
    ts__timer_init(&h->timer, handle_timer_fired);
    if (timed)
        ts__timer_start(l, &h->timer, when);
    else
        ts__ready_push(l, &h->cb);
    if (out)
        *out = h;
    return 0;
}

int ts_call_soon(ts_loop *l, ts_callback cb, void *arg, ts_handle **out) {
    return schedule(l, 0, false, cb, arg, out);
}

int ts_call_later(ts_loop *l, double delay, ts_callback cb, void *arg,
                  ts_handle **out) {
    if (isnan(delay))
        return -EINVAL;
    if (!l)
        l = ts__tls_loop;
    if (!l)
        return -EINVAL;
    return schedule(l, ts__deadline_after(l, delay), true, cb, arg, out);
}

int ts_call_at(ts_loop *l, double when, ts_callback cb, void *arg,
               ts_handle **out) {
    if (isnan(when))
        return -EINVAL;
    int64_t w = when >= 9.2e9 ? INT64_MAX : when <= 0 ? 0 : (int64_t)(when * 1e9);
    return schedule(l, w, true, cb, arg, out);
}

int ts_handle_cancel(ts_handle *h) {
    if (!h || h->ran || h->cancelled)
        return 0;
    h->cancelled = true;
    if (ts__timer_active(&h->timer))
        ts__timer_stop(h->loop, &h->timer);
    else
        ts__list_remove(&h->cb.node);
    free_handle_ref(h); /* the loop's reference */
    return 1;
}

void ts_handle_release(ts_handle *h) {
    if (h)
        free_handle_ref(h);
}

static void xcall_run(ts__cb *cb) {
    struct xcall *x = ts__container_of(cb, struct xcall, cb);
    ts_callback fn = x->fn;
    void *arg = x->arg;
    free(x);
    fn(arg);
}

int ts_call_soon_threadsafe(ts_loop *l, ts_callback cb, void *arg) {
    if (!l || !cb)
        return -EINVAL;
    struct xcall *x = malloc(sizeof *x);
    if (!x)
        return -ENOMEM;
    x->cb.fn = xcall_run;
    x->fn = cb;
    x->arg = arg;
    pthread_mutex_lock(&l->xlock);
    if (l->closing) {
        pthread_mutex_unlock(&l->xlock);
        free(x);
        return -ESHUTDOWN;
    }
    ts__list_push_back(&l->xqueue, &x->cb.node);
    /* Written under the lock so close cannot free the loop between our
     * enqueue and the eventfd write. */
    if (!atomic_exchange(&l->xsignalled, 1)) {
        uint64_t one = 1;
        ssize_t r = write(l->evfd, &one, sizeof one);
        (void)r;
    }
    pthread_mutex_unlock(&l->xlock);
    return 0;
}

void ts__loop_set_default_executor(ts_loop *l, ts_executor *ex) { l->default_executor = ex; }
ts_executor *ts__loop_default_executor(ts_loop *l) { return l->default_executor; }

/* The loop gives up a handle it will never run.  Marked cancelled first,
 * so a caller still holding it can cancel (a no-op) and release it. */
static void drop_at_close(ts_handle *h) {
    h->cancelled = true;
    h->loop = NULL;
    free_handle_ref(h);
}

int ts_loop_close(ts_loop *l) {
    if (!l)
        return -EINVAL;
    if (ts__check_thread(l, "ts_loop_close"))
        return TS_EWRONGLOOP;
    if (l->running)
        return -EBUSY;
    /* Closing first: a worker finishing during the executor's shutdown
     * then gets -ESHUTDOWN from call_soon_threadsafe and frees its job
     * itself, instead of posting it into a queue nobody will run. */
    pthread_mutex_lock(&l->xlock);
    l->closing = true;
    pthread_mutex_unlock(&l->xlock);
    if (l->default_executor) {
        ts_executor_free(l->default_executor);
        l->default_executor = NULL;
    }
    /* Timers first: some live on the stacks of pending tasks, which
     * ts__task_finish_all unmaps. */
    while (l->nheap > 0) {
        ts__timer *t = l->heap[0].t;
        ts__timer_stop(l, t);
        if (t->fn == handle_timer_fired)
            drop_at_close(ts__container_of(t, ts_handle, timer));
    }
    ts__task_finish_all(l);
    ts__timeouts_close(l);
    /* Whatever is still queued is dropped: callbacks not run, handles of
     * cancelled-by-close calls freed. */
    drain_xqueue(l);
    atomic_store(&l->xsignalled, 1);
    drain_xqueue(l);
    ts__node *n;
    while ((n = ts__list_pop_front(&l->ready))) {
        ts__cb *cb = ts__container_of(n, ts__cb, node);
        if (cb->fn == handle_run)
            drop_at_close(ts__container_of(cb, ts_handle, cb));
        else if (cb->fn == xcall_run)
            free(ts__container_of(cb, struct xcall, cb));
    }
    for (size_t i = 0; i < l->npool; i++)
        ts__stack_free(&l->pool[i]);
    free(l->pool);
    free(l->heap);
    ts__fd_close(l);
    ts__task_records_free(l);
    ts__overflow_thread_fini(l);
    TS_TRACE_LOOP_CLOSE(l);
    close(l->epfd);
    close(l->evfd);
    pthread_mutex_destroy(&l->xlock);
    ts__loop_alive_set(l->id, false);
    if (ts__tls_loop == l) {
        ts__tls_loop = NULL;
        ts__tls_loop_id = 0;   /* ids start at 1 */
    }
    free(l);
    return 0;
}

/* Stacks of the loop's default size are pooled (up to pool_cap); others
 * are mapped and unmapped per task.  The pooled cases are inline in
 * loop_impl.h. */
int ts__stack_get_slow(ts_loop *l, size_t size, ts__stack *out) {
    size = size ? ts__stack_round(size) : l->default_stack;
    if (size == l->default_stack && l->npool > 0) {
        *out = l->pool[--l->npool];
        return 0;
    }
    return ts__stack_alloc(out, size);
}

void ts__stack_put_slow(ts_loop *l, ts__stack *s) {
    if (s->size == l->default_stack && l->npool < l->pool_cap) {
        size_t cap = l->pool_alloc ? l->pool_alloc * 2 : 16;
        if (cap > l->pool_cap)
            cap = l->pool_cap;
        ts__stack *p = realloc(l->pool, cap * sizeof *p);
        if (p) {
            l->pool = p;
            l->pool_alloc = cap;
            l->pool[l->npool++] = *s;
            s->base = NULL;
            return;
        }
    }
    ts__stack_free(s);
    s->base = NULL;
}

/* ts_run: asyncio.run.  Like asyncio's _cancel_all_tasks, it cancels the
 * tasks unfinished at that moment and waits for those only: a task spawned
 * by their cleanup is left to ts_loop_close, which reports it pending. */
static void cancel_remaining(ts_loop *l) {
    size_t n = 0, cap = l->nunfinished;
    ts_task **left = cap ? malloc(cap * sizeof *left) : NULL;
    if (cap && !left)
        return;
    ts__list_foreach(it, &l->tasks) {
        ts_task *t = ts__container_of(it, ts_task, all);
        if (!ts_task_done(t) && n < cap)
            left[n++] = ts_task_ref(t);
    }
    for (size_t i = 0; i < n; i++)
        ts_task_cancel(left[i], NULL);
    for (size_t i = 0; i < n; i++) {
        while (!ts_task_done(left[i])) {
            l->running = true;
            run_once(l);
            l->running = false;
        }
    }
    for (size_t i = 0; i < n; i++)
        ts_task_unref(left[i]);
    free(left);
}

int ts_run_at(ts_task_fn main, void *arg, void **result, const ts_site *site) {
    ts_loop *l;
    int err = ts_loop_new(&l);
    if (err)
        return err;
    ts_spawn_opts opts = {.name = "main", .loop = l};
    ts_task *t = ts_spawn_at(&opts, main, arg, "main", site);
    if (!t) {
        ts_loop_close(l);
        return -ENOMEM;
    }
    err = ts_loop_run_until_complete(l, t, result);
    cancel_remaining(l);
    ts_loop_close(l);
    return err;
}


const char *ts_version(void) { return "0.1.0"; }

int ts_is_debug_runtime(void) {
#ifdef TS_DEBUG_RUNTIME
    return 1;
#else
    return 0;
#endif
}
