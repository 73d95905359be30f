/*
 * watchdog.c - block detection: noticing a loop step that runs too long
 * *while it is still running*, and saying what the thread is doing.
 *
 * Each loop publishes a step counter (odd while a step runs) and the
 * step's start in its slot of the segment header.  This thread wakes at
 * the deadline of each step it saw running (see watchdog_main), and for
 * a step older than the threshold it reports, once per step:
 *   - which task runs (from the slot), with its name and spawn site
 *     written again into this thread's ring (the loop's own records of
 *     them may be unpublished while it is blocked),
 *   - the thread's scheduler state and system call, from
 *     /proc/self/task/TID/{stat,syscall}: busy on CPU ('R', "running")
 *     or blocked in which call,
 *   - the loop thread's stack, as raw addresses plus the executable
 *     mappings needed to symbolize them later (captured after the
 *     report is published, and sent as the stack record it names: the
 *     capture may take milliseconds, the detection should not).
 *
 * Capturing another thread's stack without disturbing it: a thread
 * blocked in a system call is never signalled (a signal would cut a
 * nanosleep or read short and change the program's behaviour); its user
 * stack pointer and pc come from /proc/.../syscall, and the stack words
 * are read with process_vm_readv on ourselves (a bad address gives an
 * error, not a fault) and scanned for return addresses: values inside an
 * executable mapping that follow a call instruction.  A thread busy on
 * the CPU is not in a system call, so a signal costs it nothing: its
 * handler walks the frame-pointer chain from the interrupted context,
 * bounded to the stack it is on.  When the step ends the loop thread
 * itself emits loop_unblocked with the total duration.
 */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "trace.h"

#define MAX_FRAMES 48
#define MAX_MODULES 128
#define SCAN_BYTES (32 * 1024)

struct module {
    uint64_t start, end, offset;
    char path[256];
};

static struct module modules[MAX_MODULES];
static int nmodules;

static pthread_t thread;
static int started;
static int running;          /* the thread exists and must be joined */
static _Atomic int stopping;

/* fork() copies the forking thread alone, and every lock as it was: a
 * lock this thread held at that moment stays held in the child for
 * ever.  glibc's malloc takes its locks around fork; the ASan allocator
 * of GCC 12's libasan does not.  A child forked while this thread was
 * in malloc or free (ts_call_soon_threadsafe's, fopen's, or the
 * sanitizer's own, setting a new thread up) found a size class locked:
 * its own watchdog, which fork.c starts in the child, hung in ASan's
 * thread setup before watching anything (tracer_fork: a child's 300 ms
 * block with a slow_step but no loop_blocked, and exit() waiting for
 * that thread).  So this thread holds `awake` whenever it does anything
 * but sleep, and a fork waits for it (atfork prepare): the child is
 * made while the watchdog sleeps, holding nothing.  A fork waits at
 * most one scan (a stack capture: milliseconds), and for a thread that
 * is still being set up (`starting`), a bounded while. */
static pthread_mutex_t awake = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int starting;
static int sample_signal;

/* Filled by the signal handler on the sampled thread. */
static volatile uint64_t sample_pcs[MAX_FRAMES];
static volatile int sample_depth;
static volatile int sample_done;

static void load_modules(void) {
    nmodules = 0;
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f) && nmodules < MAX_MODULES) {
        unsigned long long lo, hi, off;
        char perms[8], path[256] = "";
        if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %255[^\n]", &lo, &hi, perms, &off,
                   path) < 4)
            continue;
        if (perms[2] != 'x' || path[0] != '/')
            continue;
        struct module *m = &modules[nmodules++];
        m->start = lo;
        m->end = hi;
        m->offset = off;
        snprintf(m->path, sizeof m->path, "%s", path);
    }
    fclose(f);
}

static int in_module(uint64_t a) {
    for (int i = 0; i < nmodules; i++)
        if (a >= modules[i].start && a < modules[i].end)
            return 1;
    return 0;
}

/* Does the instruction before a end in a call?  (x86-64: call rel32 is
 * e8 + 4 bytes; indirect calls are ff /2 in 2..7 bytes.) */
static int after_call(uint64_t a) {
#if defined(__x86_64__)
    unsigned char b[8];
    struct iovec local = {b, sizeof b}, remote = {(void *)(uintptr_t)(a - 8), sizeof b};
    if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != (ssize_t)sizeof b)
        return 0;
    if (b[3] == 0xe8)
        return 1;
    for (int len = 2; len <= 7; len++) {
        unsigned char op = b[8 - len], modrm = b[8 - len + 1];
        if (op == 0xff && ((modrm >> 3) & 7) == 2)
            return 1;
    }
    return 0;
#else
    (void)a;
    return 1;
#endif
}

static int scan_stack(uint64_t sp, uint64_t pc, uint64_t *pcs) {
    int n = 0;
    pcs[n++] = pc;
    static uint64_t words[SCAN_BYTES / 8];
    struct iovec local = {words, sizeof words}, remote = {(void *)(uintptr_t)sp, sizeof words};
    ssize_t got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    if (got <= 0) {
        /* Maybe the read ran off the end of the stack mapping: retry short. */
        remote.iov_len = local.iov_len = 4096 - (sp & 4095);
        got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    }
    for (ssize_t i = 0; i < got / 8 && n < MAX_FRAMES; i++)
        if (in_module(words[i]) && after_call(words[i]))
            pcs[n++] = words[i];
    return n;
}

static void on_sample(int sig, siginfo_t *si, void *uctx) {
    (void)sig, (void)si;
    int n = 0;
#if defined(__x86_64__)
    mcontext_t *mc = &((ucontext_t *)uctx)->uc_mcontext;
    uint64_t pc = (uint64_t)mc->gregs[REG_RIP];
    uint64_t fp = (uint64_t)mc->gregs[REG_RBP];
    uint64_t sp = (uint64_t)mc->gregs[REG_RSP];
    sample_pcs[n++] = pc;
    /* Walk saved frame pointers while they stay within 8 MiB above sp,
     * strictly increasing and aligned: anything else ends the walk. */
    while (n < MAX_FRAMES && fp >= sp && fp < sp + (8u << 20) && !(fp & 7)) {
        uint64_t *frame = (uint64_t *)(uintptr_t)fp;
        uint64_t next = frame[0], ret = frame[1];
        if (!ret)
            break;
        sample_pcs[n++] = ret;
        if (next <= fp)
            break;
        fp = next;
    }
#elif defined(__aarch64__)
    mcontext_t *mc = &((ucontext_t *)uctx)->uc_mcontext;
    sample_pcs[n++] = mc->pc;
    uint64_t fp = mc->regs[29], sp = mc->sp;
    while (n < MAX_FRAMES && fp >= sp && fp < sp + (8u << 20) && !(fp & 7)) {
        uint64_t *frame = (uint64_t *)(uintptr_t)fp;
        if (!frame[1])
            break;
        sample_pcs[n++] = frame[1];
        if (frame[0] <= fp)
            break;
        fp = frame[0];
    }
#else
    (void)uctx;
#endif
    sample_depth = n;
    __atomic_store_n(&sample_done, 1, __ATOMIC_RELEASE);
}

static int sample_running(uint32_t tid, uint64_t *pcs) {
    __atomic_store_n(&sample_done, 0, __ATOMIC_RELEASE);
    if (syscall(SYS_tgkill, getpid(), tid, sample_signal) != 0)
        return 0;
    for (int i = 0; i < 100 && !__atomic_load_n(&sample_done, __ATOMIC_ACQUIRE); i++) {
        struct timespec d = {0, 500000};
        nanosleep(&d, NULL);
    }
    if (!__atomic_load_n(&sample_done, __ATOMIC_ACQUIRE))
        return 0;
    int n = sample_depth;
    for (int i = 0; i < n; i++)
        pcs[i] = sample_pcs[i];
    return n;
}

static int read_file(const char *path, char *buf, size_t len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = 0;
    return (int)n;
}

static char thread_state(uint32_t tid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%u/stat", tid);
    if (read_file(path, buf, sizeof buf) <= 0)
        return '?';
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : '?';
}

static uint32_t next_stack_id = 1;

static void emit_modules(ts__ring *r) {
    for (int i = 0; i < nmodules; i++) {
        uint32_t path = ts__intern_dynamic(r, modules[i].path);
        ts_ev_module *e = ts__ring_reserve(r, TS_EV_module, sizeof *e);
        if (!e)
            continue;
        e->start = modules[i].start;
        e->end = modules[i].end;
        e->offset = modules[i].offset;
        e->path = path;
        ts__ring_commit(r, sizeof *e);
    }
}

/* The stack record of id (reserved when the episode was reported); an
 * empty one when nothing was captured, so a reader waiting for the
 * episode's stack learns there is none. */
static void emit_stack(ts__ring *r, uint32_t id, const uint64_t *pcs, int n) {
    if (n < 0)
        n = 0;
    uint32_t size = (uint32_t)(sizeof(ts_ev_stack) + (size_t)n * 8);
    ts_ev_stack *e = ts__ring_reserve(r, TS_EV_stack, size);
    if (!e)
        return;
    e->id = id;
    e->depth = (uint32_t)n;
    memcpy(e + 1, pcs, (size_t)n * 8);
    ts__ring_commit(r, size);
}

/* Report the blocked step, then capture its stack.  The report goes
 * first, published at once, so that detection costs only the two small
 * /proc reads that say what the thread does: the stack (a signal round
 * trip on a busy thread, a stack scan with a system call per candidate
 * word on a sleeping one, the executable mappings) may take
 * milliseconds, and follows as the stack record the report names. */
static void report(ts__ring *r, uint32_t slot, uint64_t step, uint64_t elapsed) {
    ts_loop_slot *s = ts__loop_slot_at(slot);
    uint32_t tid = s->tid;
    uint64_t task = s->task;
    char state = thread_state(tid);
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%u/syscall", tid);
    int nr = -1, running = 0, regs = 0;
    unsigned long long a[8];
    uint64_t sp = 0, pc = 0;
    if (read_file(path, buf, sizeof buf) > 0) {
        long long n;
        if (!strncmp(buf, "running", 7)) {
            running = 1;
        } else if (sscanf(buf, "%lld %llx %llx %llx %llx %llx %llx %llx %llx", &n, &a[0], &a[1],
                          &a[2], &a[3], &a[4], &a[5], &a[6], &a[7]) == 9) {
            nr = (int)n;
            sp = a[6], pc = a[7], regs = 1;
        } else if (sscanf(buf, "%lld %llx %llx", &n, &a[0], &a[1]) == 3) {
            nr = (int)n; /* -1 sp pc: blocked, but not in a system call */
            sp = a[0], pc = a[1], regs = 1;
        }
    }
    /* The step may have ended while we looked: then it was not blocked
     * any more, and the loop will not pair an unblocked event with it. */
    if (__atomic_load_n(&s->step, __ATOMIC_ACQUIRE) != step)
        return;
    uint32_t name = 0, site = 0;
    if (task && ts__tr_running_task_ids(slot, task, &name, &site))
        ts__intern_emit_again(r, name, site);
    uint32_t stack = next_stack_id++;
    ts_ev_loop_blocked *e = ts__ring_reserve(r, TS_EV_loop_blocked, sizeof *e);
    if (e) {
        e->loop = s->loop;
        e->task = task;
        e->elapsed_ns = elapsed;
        e->step = step;
        e->tid = tid;
        e->thread_state = (uint32_t)(unsigned char)state;
        e->syscall = nr;
        e->stack = stack;
        e->name = name;
        e->site = site;
        ts__ring_commit(r, sizeof *e);
    }
    /* Publish before telling the loop: its loop_unblocked, written once
     * it sees blocked_step, then implies (release/acquire through
     * blocked_step) that our loop_blocked is below our head, so a reader
     * that has the one has the other. */
    ts__ring_publish(r);
    __atomic_store_n(&s->blocked_step, step, __ATOMIC_RELEASE);
    ts_seg_header *h = ts__seg();
    if (h) /* the copy a tracer may look at */
        __atomic_store_n(&h->loops[slot].blocked_step, step, __ATOMIC_RELAXED);
    uint64_t pcs[MAX_FRAMES];
    int depth = 0;
    load_modules();
    if (running)
        depth = sample_running(tid, pcs);
    else if (regs)
        depth = scan_stack(sp, pc, pcs);
    /* A stack taken after the step ended is not this episode's. */
    if (__atomic_load_n(&s->step, __ATOMIC_ACQUIRE) != step)
        depth = 0;
    if (depth > 0)
        emit_modules(r);
    emit_stack(r, stack, pcs, depth);
    ts__ring_publish(r);
}

static void refresh_calibration(ts__ring *r, ts_seg_header *h) {
    uint64_t t, m;
    ts__clock_pair(&t, &m);
    (void)h;
    ts__seg_calibrate(t, m); /* a loop may be calibrating */
    ts_ev_clock_sync *e = ts__ring_reserve(r, TS_EV_clock_sync, sizeof *e);
    if (e) {
        e->ticks = t;
        e->mono_ns = m;
        ts__ring_commit(r, sizeof *e);
    }
    ts__ring_publish(r);
}

/* How long the watchdog sleeps at most: it must look at least once per
 * threshold (so that a step that began after one look is seen again
 * before its deadline), and often enough to answer attach requests. */
static uint64_t idle_period(uint64_t thr) {
    uint64_t p = thr / 2;
    return p < 2000000 ? 2000000 : p > 50000000 ? 50000000 : p;
}

static void sleep_until(uint64_t mono_ns) {
    struct timespec d = {(time_t)(mono_ns / 1000000000u), (long)(mono_ns % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d, NULL) == EINTR)
        ;
}

/* Everything the watchdog decides on is private: the threshold is
 * config.c's (the segment's block_threshold_ns is a copy for tracers),
 * the tick rate is measured here, the slots are emit.c's.  Of the
 * segment it reads only attach_request and attach_done, to wake loops
 * that owe a dump (at most once a period, whatever they hold).
 *
 * When it sleeps: until the deadline (start + threshold) of the
 * youngest-deadline step it saw running, or one idle period, whichever
 * comes first.  A step seen running is thus looked at again exactly at
 * its deadline; a step that began after a look is seen at the next one,
 * which comes before its deadline (the period is at most half the
 * threshold), and is then timed to its deadline too.  So a blocked step
 * is reported at threshold + the wake-up latency, not up to a period
 * later; a loop whose steps are all short costs a wake-up per period,
 * as before. */
static void *watchdog_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&awake);
    atomic_store(&starting, 0);
    prctl(PR_SET_NAME, "ts-watchdog");
    prctl(PR_SET_TIMERSLACK, 20000UL); /* wake within 20 us of a deadline */
    ts__ring *r = ts__ring_thread_start(TS_ROLE_WATCHDOG, "ts-watchdog");
    ts_seg_header *h = ts__seg();
    if (!r || !h) {
        pthread_mutex_unlock(&awake);
        return NULL;
    }
    uint64_t last_sync = 0;
    /* The tick rate, measured over this thread's life: each end a pair
     * read as one moment (clock.h), or a preemption between the reads
     * skews the rate by its length over the window, the first scans'
     * most (a block would be timed short, and reported late or never). */
    uint64_t t0, m0;
    ts__clock_pair(&t0, &m0);
    uint64_t wake = m0 + idle_period(ts__trace_block_threshold_ns());
    while (!atomic_load(&stopping)) {
        pthread_mutex_unlock(&awake);
        sleep_until(wake);
        pthread_mutex_lock(&awake);
        uint64_t thr = ts__trace_block_threshold_ns();
        uint64_t now = ts__mono_ns();
        if (__atomic_load_n(&h->attach_request, __ATOMIC_ACQUIRE) !=
            __atomic_load_n(&h->attach_done, __ATOMIC_ACQUIRE)) {
            ts__seg_settle_dump();
            ts__tr_wake_loops_for_dump();
        }
        ts__tr_command_watch(h); /* command.c: wake the loop a request names */
        if (now - last_sync > 1000000000ull) {
            refresh_calibration(r, h);
            last_sync = now;
        }
        uint64_t ticks;
        ts__clock_pair(&ticks, &now);
        double tpn = (double)(ticks - t0) / (double)(now - m0 + 1);
        if (!(tpn > 0))
            tpn = 1;
        wake = now + idle_period(thr);
        uint64_t scan_start = now;
        for (uint32_t i = 0; i < TS_MAX_LOOPS; i++) {
            ts_loop_slot *s = ts__loop_slot_at(i);
            if (!__atomic_load_n(&s->loop, __ATOMIC_ACQUIRE))
                continue;
            uint64_t step = __atomic_load_n(&s->step, __ATOMIC_ACQUIRE);
            if (!(step & 1) || __atomic_load_n(&s->blocked_step, __ATOMIC_ACQUIRE) == step)
                continue;
            uint64_t start = s->step_start;
            if (ticks < start)
                continue;
            /* Tell tracers which step we wait on (they see no steps): a
             * live report started meanwhile waits for our report of it. */
            ts_loop_slot *c = &h->loops[i];
            __atomic_store_n(&c->step_start, start, __ATOMIC_RELAXED);
            __atomic_store_n(&c->step, step, __ATOMIC_RELEASE);
            uint64_t elapsed = (uint64_t)((double)(ticks - start) / tpn);
            if (elapsed >= thr)
                report(r, i, step, elapsed);
            else if (now + (thr - elapsed) < wake)
                wake = now + (thr - elapsed);
        }
        /* After the copies above: a reader that sees this scan's time
         * sees the steps it found running. */
        __atomic_store_n(&h->watch_scan_ns, scan_start, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&awake);
    return NULL;
}

static void fork_prepare(void) {
    /* A thread still in libc's and the sanitizer's set-up allocates
     * without `awake`: wait until it has it (1 s at most). */
    for (int i = 0; i < 2000 && atomic_load(&starting); i++) {
        struct timespec d = {0, 500000};
        nanosleep(&d, NULL);
    }
    pthread_mutex_lock(&awake);
}

static void fork_parent(void) { pthread_mutex_unlock(&awake); }

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void register_fork_handlers(void) { pthread_atfork(fork_prepare, fork_parent, NULL); }

/* In the child (ring.c's handler, registered before ours): no watchdog
 * thread here, and `awake`, held by the forking thread in the parent's
 * name, is made anew. */
void ts__watchdog_after_fork(void) {
    started = running = 0;
    atomic_store(&stopping, 0);
    atomic_store(&starting, 0);
    pthread_mutex_init(&awake, NULL);
}

/* At exit: stop and join, so the thread's memory is released (valgrind
 * runs of traced programs stay leak-free).  It sleeps at most 50 ms
 * (idle_period). */
void ts__watchdog_stop(void) {
    if (!running)
        return;
    atomic_store(&stopping, 1);
    pthread_join(thread, NULL);
    running = 0;
}

void ts__watchdog_start(void) {
    if (started)
        return;
    started = 1;
    const char *off = getenv("TASKSCOPE_WATCHDOG");
    if (off && !strcmp(off, "0"))
        return;
    sample_signal = SIGRTMIN + 6;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sample;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(sample_signal, &sa, NULL);
    /* The watchdog must never receive the program's signals. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_once(&fork_once, register_fork_handlers);
    atomic_store(&starting, 1);
    if (pthread_create(&thread, NULL, watchdog_main, NULL) != 0) {
        atomic_store(&starting, 0);
        fprintf(stderr, "taskscope: block detection off: cannot start the watchdog thread\n");
    } else {
        running = 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}
