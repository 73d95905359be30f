/*
 * syscalls.c - see syscalls.h.  The table is sorted by number (the
 * generator sorts it), so a lookup is a binary search.
 */
#include <stddef.h>

#include "syscall_names.h"
#include "syscalls.h"

int ts_syscall_count(void) { return TS_SYSCALL_COUNT; }

void ts_syscall_at(int i, int *nr, const char **name) {
    *nr = TS_SYSCALLS[i].nr;
    *name = TS_SYSCALLS[i].name;
}

const char *ts_syscall_name(int nr) {
    size_t lo = 0, hi = TS_SYSCALL_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (TS_SYSCALLS[mid].nr == nr)
            return TS_SYSCALLS[mid].name;
        if (TS_SYSCALLS[mid].nr < nr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
