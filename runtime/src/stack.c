/*
 * stack.c - coroutine stacks.
 *
 * Stacks are reserved with MAP_NORESERVE, so only the pages a task
 * actually touches are ever committed: an idle task costs the one or two
 * pages at the top of its stack, whatever its size.
 *
 * Stacks up to SLAB_MAX_STACK are slots of a slab: one mapping holding
 * SLAB_SLOTS stacks of one size, each slot a guard followed by its stack.
 * A new stack then costs no system call in 63 cases of 64 (a slab costs
 * one mmap and one process_madvise installing all its guards), and a freed
 * one an madvise(MADV_DONTNEED) giving its pages back, instead of a
 * munmap; a slab is unmapped when its last slot is freed.  Larger stacks
 * get a mapping of their own.  (The loop keeps a pool of finished tasks'
 * stacks on top of this, loop.c: most spawns never come here.)
 *
 * The lowest TS_GUARD_BYTES (64 KiB) of a slot are a guard: a function
 * with a large frame (a 32 KiB buffer, say) can jump over a single guard
 * page and land in the neighbouring stack; 64 KiB of guard catch that,
 * and cost address space only.  MADV_GUARD_INSTALL (Linux 6.13) marks the
 * guard in the page tables without splitting the mapping, so a slab stays
 * one VMA and adjacent slabs merge, which is what lets a million tasks
 * live under the default vm.max_map_count of 65530.  Older kernels fall
 * back to mprotect, which costs a second VMA per stack; once mprotect
 * fails for lack of map slots the stack goes unguarded rather than failing
 * the spawn (overflow of such a stack is then not caught: the loop says
 * so once on stderr).
 *
 * Slabs are shared by every loop of the process (a stack is freed on its
 * loop's thread, but loops run on several), under one mutex: taken only
 * when the loop's own pool has no stack to give or no room to keep one.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
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

/* ---- slabs ------------------------------------------------------------- */

enum { SLAB_SLOTS = 64 };
/* Larger stacks get a mapping of their own: a slab of them would reserve
 * more than 64 MiB of address space at once. */
#define SLAB_MAX_STACK (1024u * 1024u)

/* A slab: SLAB_SLOTS slots of `slot` bytes (guard + stack of `size`).
 * free[0..nfree) are the indices of the free slots; a slab with at least
 * one free slot is on the partial list. */
struct ts__slab {
    struct ts__slab *next, *prev;   /* partial list, while nfree > 0 */
    char *base;
    size_t slot, size;
    uint64_t guarded;               /* bit i: slot i has its guard */
    unsigned nfree;
    unsigned char free[SLAB_SLOTS];
};

static pthread_mutex_t slab_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ts__slab *partial;    /* slabs with a free slot, any size */
/* 1 while process_madvise(MADV_GUARD_INSTALL) on ourselves works (Linux
 * 6.13); cleared the first time it fails. */
static int guard_batch_ok = 1;

static void partial_add(struct ts__slab *sl) {
    sl->prev = NULL;
    sl->next = partial;
    if (partial)
        partial->prev = sl;
    partial = sl;
}

static void partial_remove(struct ts__slab *sl) {
    if (sl->prev)
        sl->prev->next = sl->next;
    else
        partial = sl->next;
    if (sl->next)
        sl->next->prev = sl->prev;
    sl->next = sl->prev = NULL;
}

/* Guard every slot of a new slab: one system call where the kernel takes
 * a batch, else one per slot (each with the mprotect fallback). */
static void slab_guard(struct ts__slab *sl, size_t guard) {
    if (__atomic_load_n(&guard_batch_ok, __ATOMIC_RELAXED) &&
        __atomic_load_n(&guard_madvise_ok, __ATOMIC_RELAXED)) {
        struct iovec iov[SLAB_SLOTS];
        for (unsigned i = 0; i < SLAB_SLOTS; i++) {
            iov[i].iov_base = sl->base + i * sl->slot;
            iov[i].iov_len = guard;
        }
        long pidfd = syscall(SYS_pidfd_open, (long)getpid(), 0L);
        long done = pidfd < 0 ? -1
                              : syscall(SYS_process_madvise, pidfd, iov, (long)SLAB_SLOTS,
                                        (long)MADV_GUARD_INSTALL, 0L);
        if (pidfd >= 0)
            close((int)pidfd);
        if (done == (long)(guard * SLAB_SLOTS)) {
            sl->guarded = ~(uint64_t)0;
            return;
        }
        /* Not supported (or partly done: installing a guard twice is
         * harmless), so one by one from now on. */
        __atomic_store_n(&guard_batch_ok, 0, __ATOMIC_RELAXED);
    }
    sl->guarded = 0;
    for (unsigned i = 0; i < SLAB_SLOTS; i++)
        if (install_guard(sl->base + i * sl->slot, guard))
            sl->guarded |= (uint64_t)1 << i;
}

static struct ts__slab *slab_new(size_t size, size_t guard) {
    struct ts__slab *sl = malloc(sizeof *sl);
    if (!sl)
        return NULL;
    sl->slot = size + guard;
    sl->size = size;
    sl->base = mmap(NULL, sl->slot * SLAB_SLOTS, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (sl->base == MAP_FAILED) {
        free(sl);
        return NULL;
    }
    slab_guard(sl, guard);
    /* Handed out from the low end first (free[] is a stack). */
    sl->nfree = SLAB_SLOTS;
    for (unsigned i = 0; i < SLAB_SLOTS; i++)
        sl->free[i] = (unsigned char)(SLAB_SLOTS - 1 - i);
    return sl;
}

static int slab_alloc(ts__stack *s, size_t size, size_t guard) {
    pthread_mutex_lock(&slab_lock);
    struct ts__slab *sl = partial;
    while (sl && sl->size != size)
        sl = sl->next;
    if (!sl) {
        if (!(sl = slab_new(size, guard))) {
            pthread_mutex_unlock(&slab_lock);
            return -ENOMEM;
        }
        partial_add(sl);
    }
    unsigned i = sl->free[--sl->nfree];
    if (sl->nfree == 0)
        partial_remove(sl);
    pthread_mutex_unlock(&slab_lock);
    char *slot = sl->base + i * sl->slot;
    s->guarded = sl->guarded >> i & 1;
    s->base = slot + guard;
    s->size = size;
    s->slab = sl;
    return 0;
}

static void slab_free(ts__stack *s) {
    struct ts__slab *sl = s->slab;
    unsigned i = (unsigned)((size_t)(s->base - sl->base) / sl->slot);
    pthread_mutex_lock(&slab_lock);
    if (sl->nfree == SLAB_SLOTS - 1) {
        /* The last slot in use: the whole slab goes. */
        if (sl->nfree > 0)
            partial_remove(sl);
        pthread_mutex_unlock(&slab_lock);
        munmap(sl->base, sl->slot * SLAB_SLOTS);
        free(sl);
        return;
    }
    pthread_mutex_unlock(&slab_lock);
    /* The pages go back before the slot is free again (another loop could
     * take it at once); its guard stays installed. */
    madvise(s->base, s->size, MADV_DONTNEED);
    pthread_mutex_lock(&slab_lock);
    sl->free[sl->nfree++] = (unsigned char)i;
    if (sl->nfree == 1)
        partial_add(sl);
    /* Another loop freed the others meanwhile: then it is ours to unmap. */
    bool empty = sl->nfree == SLAB_SLOTS;
    if (empty)
        partial_remove(sl);
    pthread_mutex_unlock(&slab_lock);
    if (empty) {
        munmap(sl->base, sl->slot * SLAB_SLOTS);
        free(sl);
    }
}

/* ---- stacks ------------------------------------------------------------- */

int ts__stack_alloc(ts__stack *s, size_t size) {
    size_t guard = ts__guard_size();
    size = ts__stack_round(size);
    if (size <= SLAB_MAX_STACK) {
        if (slab_alloc(s, size, guard))
            return -ENOMEM;
    } else {
        char *p = mmap(NULL, size + guard, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (p == MAP_FAILED)
            return -ENOMEM;
        s->guarded = install_guard(p, guard) != NULL;
        s->base = p + guard;
        s->size = size;
        s->slab = NULL;
    }
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
    if (s->slab) {
        slab_free(s);
    } else {
        size_t guard = ts__guard_size();
        munmap(s->base - guard, s->size + guard);
    }
    s->base = NULL;
}
