/*
 * taskstack.c - the call stack of a parked task, for the state dump
 * (`taskscope where`, `ps --stacks`).  The walk itself is parkwalk.c's,
 * shared with the release runtime's BPF state dump (statedump.c).
 */
#include <stdio.h>
#include <string.h>

#include "../parkwalk.h"
#include "trace.h"

/* Deepest stack a dump records, and how many tasks' stacks one dump
 * holds: about 300 bytes each, so at most ~300 KiB of a dump, a third of
 * the default ring.  A task past the limit is listed without a stack. */
#define STACK_DEPTH_MAX 32
#define STACKS_PER_DUMP 1024

void ts__tr_dump_task_stack(ts__ring *r, ts_task *t, unsigned *budget) {
    if (!ts__park_walkable(t) || !*budget)
        return;
    (*budget)--;
    uint64_t pcs[STACK_DEPTH_MAX];
    uint32_t flags;
    int n = ts__park_walk(t, pcs, STACK_DEPTH_MAX, &flags);
    uint32_t size = (uint32_t)(sizeof(ts_ev_task_stack) + (size_t)n * 8);
    ts_ev_task_stack *e = ts__ring_reserve(r, TS_EV_task_stack, size);
    if (!e)
        return;
    e->task = t->id;
    e->flags = flags;
    e->depth = (uint32_t)n;
    memcpy(e + 1, pcs, (size_t)n * 8);
    ts__ring_commit(r, size);
}

unsigned ts__tr_dump_stack_budget(void) { return STACKS_PER_DUMP; }

/* The executable file mappings, so a reader can symbolize the stacks of
 * this dump (the watchdog sends its own with a blocked stack).  Read
 * line by line from /proc/self/maps; at most MODULES_MAX. */
#define MODULES_MAX 256

void ts__tr_dump_modules(ts__ring *r) {
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < MODULES_MAX) {
        unsigned long long lo, hi, off;
        char perms[8], path[256] = "";
        if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %255[^\n]", &lo, &hi, perms, &off,
                   path) < 4 ||
            perms[2] != 'x' || path[0] != '/')
            continue;
        uint32_t pid = ts__intern_dynamic(r, path);
        ts_ev_module *e = ts__ring_reserve(r, TS_EV_module, sizeof *e);
        if (!e)
            continue;
        e->start = lo;
        e->end = hi;
        e->offset = off;
        e->path = pid;
        ts__ring_commit(r, sizeof *e);
        n++;
    }
    fclose(f);
}
