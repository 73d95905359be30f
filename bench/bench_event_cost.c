/*
 * bench_event_cost.c - what one trace event costs the thread that emits
 * it, in ns, measured on the debug runtime's writer itself.
 *
 * Figures (one JSON line each, see bench_util.h; all "anchor":null):
 *   event_cost             ts__ring_reserve + ts__ring_commit of one
 *                          task_resume record (24 bytes) in a tight loop,
 *                          on a ring with no reader: the flight recorder,
 *                          which is how the debug runtime runs by default.
 *   event_cost_tracepoint  the same event through ts__tr_task_resume, the
 *                          function the core's trace point calls (it adds
 *                          the lookup of the thread's ring).
 *   event_cost_reader      reserve + commit as in event_cost, with a live
 *                          reader (tracer/reader.h, attached) draining the
 *                          ring from another thread while it is written.
 *                          The writer goes in bursts of half a ring and
 *                          waits (untimed) between bursts until the reader
 *                          has caught up: a writer flat out outruns any
 *                          reader, and a live reader is never overwritten,
 *                          so the runtime would drop - and a dropped event
 *                          costs less than a recorded one.  The line
 *                          carries "events" (attempted) and "dropped", so
 *                          a figure made cheap by drops would show it.
 *   event_clock            the timestamp alone: ts__ticks (runtime/src/trace/
 *                          clock.h, rdtsc on x86-64) in the same loop.  Every
 *                          record not stamped with its predecessor's time
 *                          reads it, so it is event_cost's floor on this
 *                          machine (rdtsc is microcoded: ~25 cycles).
 * The end-to-end cost (debug minus release over a whole workload) is
 * measured by bench_debug (event_cost_sleep0, event_cost_pingpong).
 *
 * Every figure is ns per attempted event, the best of N repetitions, in
 * the emitting thread's CPU time (CLOCK_THREAD_CPUTIME_ID): on a shared
 * 2-core VM a thread that runs flat out for 100 ms is preempted for much
 * of it, and wall-clock time would measure the machine's other load (the
 * line's "wall_ns" field has the wall-clock figure of the same run).  The
 * program links the debug runtime's static library to reach its internals
 * (runtime/src/trace/ring.h); it starts no loop, so the only ring in its
 * segment is the one this thread writes (plus the watchdog's, idle).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

#include "bench_util.h"
#include "reader.h"
#include "trace/trace.h"

typedef struct run {
    ts__ring *ring;
    long n;          /* events per repetition */
    int tracepoint;  /* through ts__tr_task_resume instead of the ring calls */
    int clock_only;  /* only the timestamp each record reads */
    long burst;      /* 0, or events per burst, waiting for the reader after each */
} run;

typedef struct sample {
    double ns;       /* thread CPU time per attempted event */
    double wall_ns;  /* wall-clock time per attempted event */
    uint64_t dropped;
} sample;

static int64_t cpu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The loop under test.  The task id changes every time so the store is not
 * a constant; the compiler cannot drop the record (it lives in the shared
 * segment, written through a pointer from another translation unit). */
static void emit_direct(ts__ring *r, long n)
{
    for (long i = 0; i < n; i++) {
        ts_ev_task_resume *e = ts__ring_reserve(r, TS_EV_task_resume, sizeof *e);
        if (!e)
            continue;
        e->task = (uint64_t)i;
        ts__ring_commit(r, sizeof *e);
    }
}

static void emit_tracepoint(long n)
{
    /* A task record as the trace point sees it: an id, and a loop with no
     * block-detection slot. */
    static struct ts_loop loop;
    struct ts_task t;
    memset(&t, 0, sizeof t);
    t.loop = &loop;
    for (long i = 0; i < n; i++) {
        t.id = (uint64_t)i;
        ts__tr_task_resume(&t);
    }
}

/* Kept so that the reads are not optimised away (rdtsc is volatile
 * anyway; the sum also makes each read's result used). */
static uint64_t clock_sink;

static void read_clock(long n)
{
    uint64_t sum = 0;
    for (long i = 0; i < n; i++)
        sum += ts__ticks();
    clock_sink += sum;
}

/* Publish, then wait until the reader's tail has reached the head.
 * Returns 0, or -ETIMEDOUT if the reader stopped reading. */
static int wait_for_reader(ts__ring *r)
{
    ts__ring_publish(r);
    for (int i = 0; i < 100000; i++) {
        if (__atomic_load_n(&r->hdr->tail, __ATOMIC_ACQUIRE) >= r->pos)
            return 0;
        struct timespec us20 = {0, 20000};
        nanosleep(&us20, NULL);
    }
    return -ETIMEDOUT;
}

static sample measure(const run *u)
{
    uint64_t d0 = u->ring->dropped_total;
    int64_t cpu = 0, wall = 0;
    for (long done = 0, step; done < u->n; done += step) {
        step = u->burst && u->burst < u->n - done ? u->burst : u->n - done;
        if (u->burst && wait_for_reader(u->ring) != 0)
            return (sample){-ETIMEDOUT, 0, 0};
        int64_t c0 = cpu_now_ns(), w0 = bench_now_ns();
        if (u->clock_only)
            read_clock(step);
        else if (u->tracepoint)
            emit_tracepoint(step);
        else
            emit_direct(u->ring, step);
        wall += bench_now_ns() - w0;
        cpu += cpu_now_ns() - c0;
    }
    ts__ring_publish(u->ring);
    return (sample){(double)cpu / (double)u->n, (double)wall / (double)u->n,
                    u->ring->dropped_total - d0};
}

/* One figure line; with a reader, also the events attempted, the events
 * dropped, and what the reader spent per event it delivered. */
static void emit_line(const char *figure, const sample *best, int reps, long events,
                      double reader_ns)
{
    printf("{\"figure\":\"%s\",\"source\":\"taskscope\",\"value\":%.6g,"
           "\"unit\":\"ns/event\",\"better\":\"lower\",\"stat\":\"best of %d, thread CPU time\","
           "\"wall_ns\":%.4g",
           figure, best->ns, reps, best->wall_ns);
    if (reader_ns >= 0)
        printf(",\"events\":%ld,\"dropped\":%llu,\"reader_cpu_ns_per_event\":%.4g", events,
               (unsigned long long)best->dropped, reader_ns);
    printf("}\n");
    fflush(stdout);
}

/* Warm up, then o->reps samples; the best goes to *best.  Returns 0, or
 * -1 after printing the figure's error line. */
static int repeat(const bench_opts *o, const char *figure, const run *u, sample *best)
{
    measure(u); /* warm: touch every page of the ring once */
    for (int i = 0; i < o->reps; i++) {
        sample s = measure(u);
        if (s.ns < 0) {
            bench_emit_error(figure, "taskscope", "ns/event", 0, "the reader stopped reading");
            return -1;
        }
        fprintf(stderr, "%s rep %d: %.3f ns/event (wall %.3f), %llu of %ld dropped\n", figure,
                i + 1, s.ns, s.wall_ns, (unsigned long long)s.dropped, u->n);
        if (i == 0 || s.ns < best->ns)
            *best = s;
    }
    return 0;
}

static void figure(const bench_opts *o, const char *name, const run *u)
{
    sample best = {0};
    if (repeat(o, name, u, &best) == 0)
        emit_line(name, &best, o->reps, u->n, -1);
}

/* ---- the live reader ------------------------------------------------------------- */

typedef struct drain {
    pthread_t thread;
    ts_reader *rd;
    atomic_int stop;
    ts_reader_stats stats;
    int64_t cpu_ns;      /* the reader thread's CPU time, all told */
} drain;

/* Poll back to back while there is data; nap 50 us when a poll finds
 * nothing, which also keeps the heartbeat far fresher than the runtime's
 * two-second limit. */
static void *drain_main(void *arg)
{
    drain *d = arg;
    while (!atomic_load(&d->stop)) {
        int n = ts_reader_poll(d->rd, NULL, NULL);
        if (n < 0)
            break;
        if (n == 0) {
            struct timespec nap = {0, 50000};
            nanosleep(&nap, NULL);
        }
    }
    ts_reader_poll(d->rd, NULL, NULL);
    ts_reader_get_stats(d->rd, &d->stats);
    d->cpu_ns = cpu_now_ns();
    return NULL;
}

/* Attach a reader to our own segment and wait until the producer has
 * noticed it (it looks at each publish).  Returns 0 or a negative code
 * with the reason in why. */
static int start_drain(drain *d, ts__ring *r, char *why, size_t len)
{
    int err = ts_reader_open_pid(&d->rd, (int)getpid(), why, len);
    if (err)
        return err;
    err = ts_reader_attach(d->rd);
    if (err) {
        snprintf(why, len, "attach: %s", ts_reader_error(d->rd));
        ts_reader_close(d->rd);
        return err;
    }
    atomic_init(&d->stop, 0);
    err = -pthread_create(&d->thread, NULL, drain_main, d);
    if (err) {
        snprintf(why, len, "cannot start the reader thread");
        ts_reader_close(d->rd);
        return err;
    }
    for (int i = 0; i < 2000 && !r->reader_live; i++) {
        ts__ring_publish(r);
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    if (!r->reader_live) {
        snprintf(why, len, "the runtime never saw the reader");
        atomic_store(&d->stop, 1);
        pthread_join(d->thread, NULL);
        ts_reader_close(d->rd);
        return -ETIMEDOUT;
    }
    return 0;
}

static void stop_drain(drain *d)
{
    atomic_store(&d->stop, 1);
    pthread_join(d->thread, NULL);
    fprintf(stderr, "reader: %llu events delivered in %llu polls, %llu dropped by the ring, "
            "%.3f s CPU\n", (unsigned long long)d->stats.events,
            (unsigned long long)d->stats.polls, (unsigned long long)d->stats.dropped_total,
            (double)d->cpu_ns / 1e9);
    ts_reader_close(d->rd);
}

int main(int argc, char **argv)
{
    bench_opts o;
    if (bench_parse(argc, argv, &o))
        return 2;
    const char *unit = "ns/event";
    ts__ring *r = ts__ring_thread_start(TS_ROLE_OTHER, "event_cost");
    if (!r) {
        const char *why = "no trace ring (TASKSCOPE_TRACE=off, or no shared memory)";
        bench_emit_error("event_cost", "taskscope", unit, 0, why);
        bench_emit_error("event_cost_tracepoint", "taskscope", unit, 0, why);
        bench_emit_error("event_cost_reader", "taskscope", unit, 0, why);
        return 1;
    }
    run u = {.ring = r, .n = bench_pick(&o, 5000000, 20000000)};
    if (r->reader_live) {
        /* Someone attached already: the flight-recorder figures would be
         * the reader's. */
        bench_emit_error("event_cost", "taskscope", unit, 0, "a reader is attached");
        return 1;
    }
    figure(&o, "event_cost", &u);
    u.tracepoint = 1;
    figure(&o, "event_cost_tracepoint", &u);
    u.tracepoint = 0;
    u.clock_only = 1;
    figure(&o, "event_clock", &u);
    u.clock_only = 0;

    drain d = {0};
    char why[256] = "";
    int err = start_drain(&d, r, why, sizeof why);
    if (err) {
        fprintf(stderr, "bench_event_cost: reader: %s\n", why);
        bench_emit_error("event_cost_reader", "taskscope", unit, 0, "could not attach a reader");
        return 1;
    }
    u.burst = (long)(ts__seg()->ring_size / 2 / sizeof(ts_ev_task_resume));
    sample best = {0};
    err = repeat(&o, "event_cost_reader", &u, &best);
    stop_drain(&d);
    if (err)
        return 1;
    double per = d.stats.events ? (double)d.cpu_ns / (double)d.stats.events : 0;
    emit_line("event_cost_reader", &best, o.reps, u.n, per);
    return 0;
}
