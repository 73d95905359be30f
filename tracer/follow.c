/*
 * follow.c - see follow.h.
 *
 * Invariants: a pid is looked at once per scan and opened at most once
 * (a child whose segment never appears, because it runs something else,
 * costs one failed open per scan until it exits); a child session is
 * polled on every ts_follow_poll, like the root's, so it keeps its
 * heartbeat and its rings are drained at the same pace.  Nothing here
 * blocks: a child found before its segment exists is retried at the
 * next scan.  Each child is allocated on its own and never moves: its
 * session is pointed to by its model's retire hook and by its tap.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "follow.h"
#include "launch.h"
#include "session.h"

#define FOLLOW_SCAN_MS 20
#define FOLLOW_MAX 256

struct child {
    ts_follow *f;
    int pid;
    int parent;           /* the followed process that forked it */
    int state;            /* 0 looking for its segment, 1 recording, 2 done */
    ts_session s;
};

struct ts_follow {
    int root;
    ts_store *store;
    uint64_t last_scan_ms;
    struct child **kids;
    size_t n, cap;
    ts_follow_tap_fn tap;
    void *tap_arg;
    int quiet;            /* nothing on stderr (the TUI owns the terminal) */
};

static uint64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

int ts_follow_wanted(void) {
    const char *e = getenv("TASKSCOPE_FOLLOW_FORKS");
    const char *no = getenv("TASKSCOPE_NO_FOLLOW"); /* run --no-follow */
    return (!e || strcmp(e, "0") != 0) && !(no && !strcmp(no, "1"));
}

ts_follow *ts_follow_new(int root_pid, ts_store *store) {
    ts_follow *f = calloc(1, sizeof *f);
    if (f) {
        f->root = root_pid;
        f->store = store;
    }
    return f;
}

static struct child *find(ts_follow *f, int pid) {
    for (size_t i = 0; i < f->n; i++)
        if (f->kids[i]->pid == pid)
            return f->kids[i];
    return NULL;
}

void ts_follow_set_quiet(ts_follow *f) {
    if (f)
        f->quiet = 1;
}

void ts_follow_set_tap(ts_follow *f, ts_follow_tap_fn fn, void *arg) {
    if (!f)
        return;
    f->tap = fn;
    f->tap_arg = arg;
}

size_t ts_follow_children(const ts_follow *f, int *pids, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; f && i < f->n; i++)
        if (f->kids[i]->state == 1) {
            if (n < cap)
                pids[n] = f->kids[i]->pid;
            n++;
        }
    return n;
}

tm_model *ts_follow_model(const ts_follow *f, int pid, int *parent, char *exe, size_t len) {
    struct child *c = f ? find((ts_follow *)f, pid) : NULL;
    if (!c || c->state != 1)
        return NULL;
    if (parent)
        *parent = c->parent;
    if (exe && len) {
        ts_reader_info info;
        ts_reader_get_info(c->s.reader, &info);
        snprintf(exe, len, "%s", info.exe);
    }
    return c->s.model;
}

static void on_child_event(const ts_reader_event *ev, void *arg) {
    struct child *c = arg;
    if (c->f->tap)
        c->f->tap(c->pid, ev, c->f->tap_arg);
}

static void add(ts_follow *f, int pid, int parent) {
    if (find(f, pid) || f->n >= FOLLOW_MAX)
        return;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct child **k = realloc(f->kids, cap * sizeof *k);
        if (!k)
            return;
        f->kids = k;
        f->cap = cap;
    }
    struct child *c = calloc(1, sizeof *c);
    if (!c)
        return;
    f->kids[f->n++] = c;
    c->f = f;
    c->pid = pid;
    c->parent = parent;
}

/* The children of pid, from every one of its threads (fork may be called
 * on any of them). */
static void scan_children(ts_follow *f, int pid) {
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", pid);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[384];
        snprintf(path, sizeof path, "%s/%s/children", dir, e->d_name);
        FILE *cf = fopen(path, "re");
        if (!cf)
            continue;
        int child;
        while (fscanf(cf, "%d", &child) == 1)
            add(f, child, pid);
        fclose(cf);
    }
    closedir(d);
}

static void start_recording(ts_follow *f, struct child *c) {
    char err[512];
    if (ts_session_open(&c->s, c->pid, 0, 0, err, sizeof err) != 0)
        return; /* no segment (yet): next scan */
    c->state = 1;
    c->s.tap = on_child_event;
    c->s.tap_arg = c;
    if (!f->store)
        return;
    /* Into the one recording, each event tagged with the child's pid
     * (session.c): its ids are its own (schemas/store_ddl.h). */
    c->s.store = f->store;
    ts_reader_info info;
    ts_reader_get_info(c->s.reader, &info);
    ts_store_process(f->store, c->pid, c->parent, info.exe);
}

static void finish(struct child *c, const char *status) {
    ts_session_poll(&c->s); /* what it published on the way out */
    if (c->s.store) {
        uint64_t dropped = tm_model_dropped(c->s.model);
        ts_store_process_end(c->s.store, c->pid, status, dropped, c->s.events);
        c->s.store = NULL; /* the root's: closed with the root's session */
        if (!c->f->quiet)
            fprintf(stderr, "taskscope: child %d: %llu events recorded (%s)%s%.0llu%s\n",
                    c->pid, (unsigned long long)c->s.events, status,
                    dropped ? "; " : "", (unsigned long long)dropped,
                    dropped ? " events DROPPED" : "");
    }
    ts_session_close(&c->s);
    c->state = 2;
}

static int gone(int pid) {
    char st = ts_proc_state(pid);
    return !st || st == 'Z' || st == 'X';
}

void ts_follow_poll(ts_follow *f) {
    if (!f)
        return;
    uint64_t now = now_ms();
    if (now - f->last_scan_ms >= FOLLOW_SCAN_MS) {
        f->last_scan_ms = now;
        /* Forget children that are done and gone: their pid may come back
         * as a new child, and a program forking many short workers must
         * not fill the table. */
        size_t j = 0;
        for (size_t i = 0; i < f->n; i++) {
            if (f->kids[i]->state != 2 || !gone(f->kids[i]->pid))
                f->kids[j++] = f->kids[i];
            else
                free(f->kids[i]);
        }
        f->n = j;
        scan_children(f, f->root);
        for (size_t i = 0; i < f->n; i++)
            if (f->kids[i]->state != 2)
                scan_children(f, f->kids[i]->pid);
        for (size_t i = 0; i < f->n; i++) {
            struct child *c = f->kids[i];
            if (c->state == 0 && gone(c->pid))
                c->state = 2; /* never traced */
            else if (c->state == 0)
                start_recording(f, c);
        }
    }
    for (size_t i = 0; i < f->n; i++) {
        struct child *c = f->kids[i];
        if (c->state != 1)
            continue;
        int n = ts_session_poll(&c->s);
        if (n < 0 || gone(c->pid))
            finish(c, "complete: the process exited");
    }
}

void ts_follow_finish(ts_follow *f) {
    if (!f)
        return;
    ts_follow_poll(f);
    for (size_t i = 0; i < f->n; i++) {
        if (f->kids[i]->state == 1)
            finish(f->kids[i], "truncated: still running when the traced program ended");
        free(f->kids[i]);
    }
    free(f->kids);
    free(f);
}
