/*
 * synth_rec.c - the synthetic recording of synth_rec.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "synth_rec.h"

#define LIVE 1000
#define STEPS 10
#define LOCK_ID 7

typedef struct {
    ts_store *store;
    uint64_t now_ns, events;
} writer;

static void put(writer *w, void *rec, uint16_t type, size_t size) {
    ts_ev_header *h = rec;
    h->type = type;
    h->size = (uint16_t)size;
    w->now_ns += 997; /* ~1 us apart */
    ts_store_event(w->store, h, w->now_ns, 1);
    w->events++;
}

static void put_string(writer *w, uint32_t id, const char *s) {
    _Alignas(8) char buf[sizeof(ts_ev_string) + 64] = {0};
    ts_ev_string *e = (ts_ev_string *)buf;
    e->id = id;
    e->len = (uint32_t)strlen(s);
    memcpy(buf + sizeof *e, s, e->len);
    put(w, e, TS_EV_string, sizeof *e + ((e->len + 7) & ~7u));
}

/* One step of task t: resume, then (the last step) done and free, or a
 * suspension: a sleep, or with the lock the wait for it in step 5 (after
 * taking and giving it back in step 0). */
static void step(writer *w, uint64_t t, int n, int lock) {
    ts_ev_task_resume r = {.task = t};
    put(w, &r, TS_EV_task_resume, sizeof r);
    if (n == STEPS - 1) {
        ts_ev_task_done d = {.task = t, .state = 3};
        put(w, &d, TS_EV_task_done, sizeof d);
        ts_ev_task_free f = {.task = t};
        put(w, &f, TS_EV_task_free, sizeof f);
        return;
    }
    if (lock && n == 0) {
        ts_ev_resource_acquired a = {.resource = LOCK_ID, .task = t};
        put(w, &a, TS_EV_resource_acquired, sizeof a);
        ts_ev_resource_release rl = {.resource = LOCK_ID, .task = t};
        put(w, &rl, TS_EV_resource_release, sizeof rl);
    }
    int waits_lock = lock && n == 5;
    ts_ev_task_suspend s = {.task = t, .kind = waits_lock ? 5 : 3,
                            .object = waits_lock ? LOCK_ID : 0, .site = 1};
    put(w, &s, TS_EV_task_suspend, sizeof s);
    ts_ev_task_wake k = {.task = t};
    put(w, &k, TS_EV_task_wake, sizeof k);
}

int synth_recording(const char *path, uint64_t target, int flags, const char *who,
                    uint64_t *events, uint64_t *tasks) {
    writer w = {.now_ns = 1000000000ull};
    char err[512];
    if (ts_store_create_ex(path, TS_STORE_REPLACE, &w.store, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", who, err);
        return -EIO;
    }
    int lock = (flags & SYNTH_LOCK) != 0;
    put_string(&w, 1, "worker");
    put_string(&w, 2, "bench/synth_rec.c");
    put_string(&w, 3, "spawn_workers");
    ts_ev_site site = {.id = 1, .file = 2, .func = 3, .line = 42};
    put(&w, &site, TS_EV_site, sizeof site);
    if (lock) {
        ts_ev_resource_create rc = {.resource = LOCK_ID, .kind = 1, .site = 1};
        put(&w, &rc, TS_EV_resource_create, sizeof rc);
    }
    ts_ev_loop_create lc = {.loop = 1, .tid = 1};
    put(&w, &lc, TS_EV_loop_create, sizeof lc);
    ts_ev_task_create root = {.task = 1, .loop = 1, .name = 1, .site = 1};
    put(&w, &root, TS_EV_task_create, sizeof root);
    uint64_t next = 2;
    while (w.events < target) {
        uint64_t first = next;
        for (int i = 0; i < LIVE; i++, next++) {
            ts_ev_task_create c = {.task = next, .parent = 1, .loop = 1, .name = 1, .site = 1};
            put(&w, &c, TS_EV_task_create, sizeof c);
        }
        for (int n = 0; n < STEPS; n++)
            for (uint64_t t = first; t < next; t++)
                step(&w, t, n, lock);
    }
    ts_ev_task_done d = {.task = 1, .state = 3};
    put(&w, &d, TS_EV_task_done, sizeof d);
    if (events)
        *events = w.events;
    if (tasks)
        *tasks = next;
    return ts_store_close(w.store, "complete", 0) ? -EIO : 0;
}

int synth_temp_path(char *path, size_t len, const char *stem) {
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    if ((size_t)snprintf(path, len, "%s/%s.XXXXXX", dir, stem) >= len)
        return -ENAMETOOLONG;
    int fd = mkstemp(path);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

int synth_taskscope(char *exe, size_t len) {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = 0;
    return (size_t)snprintf(exe, len, "%s/../taskscope", dirname(self)) < len ? 0 : -1;
}

static double ms_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

double synth_time_cmd(const char *exe, char *const *args, double *cpu_ms) {
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)exe;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t p = fork();
    if (p == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0)
            dup2(fd, 1);
        execv(exe, argv);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    if (p < 0 || wait4(p, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
        return -1;
    double wall = ms_since(&t0);
    if (cpu_ms)
        *cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                  (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    return wall;
}
