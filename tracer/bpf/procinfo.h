/*
 * procinfo.h - what the collector needs to know about the target process
 * and its files: where the taskscope runtime is mapped (the library the
 * USDT probes live in), whether that file carries the probes, the
 * executable mappings that symbolize its stacks, and which library a
 * program not yet started will load.
 *
 * Everything read from /proc or from an ELF file is treated as untrusted:
 * lines are bounded, paths are cut, a file that cannot be parsed counts
 * as having no probes.
 */
#ifndef TS_BPF_PROCINFO_H
#define TS_BPF_PROCINFO_H

#include <stddef.h>
#include <stdint.h>

#define TSB_PATH_MAX 512

typedef struct tsb_module {
    uint64_t start, end, offset;
    char path[TSB_PATH_MAX];
    int emitted;                /* its module record was delivered */
} tsb_module;

typedef struct tsb_maps {
    tsb_module *v;
    size_t n, cap;
} tsb_maps;

/* Read pid's executable, file-backed mappings into m (replacing what it
 * held, but keeping `emitted` for mappings that did not change).
 * -ESRCH if the process is gone. */
int tsb_maps_read(int pid, tsb_maps *m);
const tsb_module *tsb_maps_find(const tsb_maps *m, uint64_t addr);
void tsb_maps_free(tsb_maps *m);

/* Does the instruction before return address addr in module mod end in
 * a call?  Read from the file on disk, so it works after the process is
 * gone.  pid (or 0) names the mount namespace the path belongs to. */
int tsb_after_call(const tsb_module *mod, uint64_t addr, int pid);

/* The file holding pid's taskscope runtime: a mapped library whose name
 * starts with "libtaskscope", else the executable when it carries the
 * probes itself (static link).  path gets a name openable from here
 * (through /proc/PID/root).  -ENOENT if the process does not use
 * taskscope, -ESRCH if it does not exist. */
int tsb_find_runtime(int pid, char *path, size_t len);

/* Number of USDT probes of provider "taskscope" in an ELF file; 0 if none
 * or not an ELF file, negative errno if it cannot be opened. */
int tsb_count_probes(const char *path);

/* The path of the libtaskscope that `program` (a path or a name looked
 * up in PATH) would load, as ldd resolves it with the current
 * environment.  -ENOENT if it loads none. */
int tsb_resolve_library(const char *program, char *out, size_t len);

/* Wake every taskscope loop of pid (wake.c) with one write to its
 * tagged eventfd, so an idle loop runs an iteration and answers a state
 * dump.  Returns the number of loops woken (0: none found) or -errno
 * (-ESRCH gone, -EPERM not allowed, -ENOSYS no pidfd_getfd). */
int tsb_wake_loops(int pid);

#endif
