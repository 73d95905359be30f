/*
 * stack.c - coroutine stacks.
 *
 * Each stack is one anonymous mapping reserved with MAP_NORESERVE, so only
 * the pages a task actually touches are ever committed: an idle task costs
 * the one or two pages at the top of its stack, whatever its size.
 *
 * The lowest TS_GUARD_BYTES (64 KiB) are a guard: a function with a large
 * frame (a 32 KiB buffer, say) can jump over a single guard page and land
 * in the neighbouring stack; 64 KiB of guard catch that, and cost address
 * space only.  MADV_GUARD_INSTALL (Linux 6.13) marks the guard in
 * the page tables without splitting the mapping; adjacent stacks then merge
 * into a few VMAs, which is what lets 100k+ tasks live under the default
 * vm.max_map_count of 65530.  Older kernels fall back to mprotect, which
 * costs a second VMA per stack; once mprotect fails for lack of map slots
 * the stack goes unguarded rather than failing the spawn (overflow of such
 * a stack is then not caught: the loop says so once on stderr).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coro.h"

#ifdef TS_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/* 1 while MADV_GUARD_INSTALL works; cleared the first time it fails. */
static int guard_madvise_ok = 1;
static int unguarded_warned;

size_t ts__page_size(void) {
    static size_t page;
    if (!page)
        page = (size_t)sysconf(_SC_PAGESIZE);
    return page;
}

size_t ts__guard_size(void) {
    size_t page = ts__page_size();
    return page > TS_GUARD_BYTES ? page : TS_GUARD_BYTES;
}

size_t ts__stack_round(size_t size) {
    size_t page = ts__page_size();
    if (size < 4 * page)
        size = 4 * page;
    return (size + page - 1) & ~(page - 1);
}

static char *install_guard(char *page_start, size_t len) {
    if (__atomic_load_n(&guard_madvise_ok, __ATOMIC_RELAXED)) {
        if (madvise(page_start, len, MADV_GUARD_INSTALL) == 0)
            return page_start;
        __atomic_store_n(&guard_madvise_ok, 0, __ATOMIC_RELAXED);
    }
    if (mprotect(page_start, len, PROT_NONE) == 0)
        return page_start;
    if (!__atomic_exchange_n(&unguarded_warned, 1, __ATOMIC_RELAXED))
        fprintf(stderr, "taskscope: cannot add more stack guard pages (%s); "
                        "new task stacks are unguarded\n", strerror(errno));
    return NULL;
}

int ts__stack_alloc(ts__stack *s, size_t size) {
    size_t guard = ts__guard_size();
    size = ts__stack_round(size);
    char *p = mmap(NULL, size + guard, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED)
        return -ENOMEM;
    s->guard = install_guard(p, guard);
    s->base = p + guard;
    s->size = size;
#ifdef TS_HAVE_VALGRIND
    s->valgrind_id = VALGRIND_STACK_REGISTER(s->base, s->base + s->size);
#else
    s->valgrind_id = 0;
#endif
    return 0;
}

void ts__stack_free(ts__stack *s) {
    if (!s->base)
        return;
#ifdef TS_HAVE_VALGRIND
    VALGRIND_STACK_DEREGISTER(s->valgrind_id);
#endif
    size_t guard = ts__guard_size();
    munmap(s->base - guard, s->size + guard);
    s->base = NULL;
}
