/*
 * launch_check.c - did the program we started really load the debug
 * runtime?  (see launch.h)
 *
 * LD_LIBRARY_PATH only swaps the runtime in when the dynamic loader
 * honours it, so right after the exec we look at what the child mapped
 * (/proc/PID/maps) and, if it is not the debug libtaskscope, at the
 * executable's ELF dynamic section to say why: statically linked (no
 * PT_DYNAMIC), DT_RPATH (searched before LD_LIBRARY_PATH), no DT_NEEDED
 * on libtaskscope (not a taskscope program).  The caller then stops
 * waiting at once instead of watching an untraced program to its end.
 *
 * Never trusts the executable: every offset read from it is bounds-checked
 * against what was read; a file that does not parse is "cannot tell".
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../schemas/trace_format.h"
#include "launch.h"

#define LIBNAME "libtaskscope.so"

static uint64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* ---- the executable's dynamic section ----------------------------------- */

typedef struct elf_facts {
    int parsed;          /* a 64-bit ELF we could read */
    int dynamic;         /* has PT_DYNAMIC (else statically linked) */
    int needs_runtime;   /* DT_NEEDED names libtaskscope.so* */
    char rpath[512];     /* DT_RPATH, "" if none */
    char runpath[512];   /* DT_RUNPATH */
} elf_facts;

/* File offset of virtual address va, through the PT_LOAD headers. */
static int va_to_off(const Elf64_Phdr *ph, int n, uint64_t va, uint64_t *off) {
    for (int i = 0; i < n; i++)
        if (ph[i].p_type == PT_LOAD && va >= ph[i].p_vaddr &&
            va - ph[i].p_vaddr < ph[i].p_filesz) {
            *off = ph[i].p_offset + (va - ph[i].p_vaddr);
            return 0;
        }
    return -1;
}

static void read_str(int fd, uint64_t off, char *buf, size_t len) {
    ssize_t n = pread(fd, buf, len - 1, (off_t)off);
    buf[n > 0 ? n : 0] = 0;
}

static void read_elf(const char *path, elf_facts *f) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return;
    Elf64_Ehdr eh;
    Elf64_Phdr ph[64];
    if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
        eh.e_phnum == 0 || eh.e_phnum > 64 ||
        pread(fd, ph, eh.e_phnum * sizeof *ph, (off_t)eh.e_phoff) !=
            (ssize_t)(eh.e_phnum * sizeof *ph))
        goto out;
    f->parsed = 1;
    int n = eh.e_phnum;
    const Elf64_Phdr *dyn = NULL;
    for (int i = 0; i < n; i++)
        if (ph[i].p_type == PT_DYNAMIC)
            dyn = &ph[i];
    if (!dyn)
        goto out;
    f->dynamic = 1;
    size_t count = dyn->p_filesz / sizeof(Elf64_Dyn);
    if (count > 4096)
        count = 4096;
    Elf64_Dyn *d = calloc(count ? count : 1, sizeof *d);
    if (!d || pread(fd, d, count * sizeof *d, (off_t)dyn->p_offset) != (ssize_t)(count * sizeof *d)) {
        free(d);
        goto out;
    }
    uint64_t strtab = 0, stroff;
    for (size_t i = 0; i < count && d[i].d_tag != DT_NULL; i++)
        if (d[i].d_tag == DT_STRTAB)
            strtab = d[i].d_un.d_ptr;
    if (strtab && va_to_off(ph, n, strtab, &stroff) == 0) {
        for (size_t i = 0; i < count && d[i].d_tag != DT_NULL; i++) {
            char name[512];
            if (d[i].d_tag == DT_NEEDED) {
                read_str(fd, stroff + d[i].d_un.d_val, name, sizeof name);
                if (!strncmp(name, LIBNAME, strlen(LIBNAME)))
                    f->needs_runtime = 1;
            } else if (d[i].d_tag == DT_RPATH) {
                read_str(fd, stroff + d[i].d_un.d_val, f->rpath, sizeof f->rpath);
            } else if (d[i].d_tag == DT_RUNPATH) {
                read_str(fd, stroff + d[i].d_un.d_val, f->runpath, sizeof f->runpath);
            }
        }
    }
    free(d);
out:
    close(fd);
}

/* ---- the child's mappings ------------------------------------------------ */

/* The path of the libtaskscope pid has mapped, into buf; 0 if none. */
static int mapped_runtime(int pid, char *buf, size_t len) {
    char path[64], line[PATH_MAX + 256];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        char *file = strchr(line, '/');
        if (!file)
            continue;
        file[strcspn(file, "\n")] = 0;
        const char *base = strrchr(file, '/') + 1;
        if (!strncmp(base, LIBNAME, strlen(LIBNAME))) {
            snprintf(buf, len, "%s", file);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

static int same_inode(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static int segment_exists(int pid) {
    char name[64];
    struct stat st;
    snprintf(name, sizeof name, "/dev/shm" TS_SEG_NAME_FMT, pid);
    return stat(name, &st) == 0;
}

/* 1 if the library at path is a debug runtime (of any directory): only
 * the debug build names the trace segment, so only it holds the name's
 * format string. */
static int is_debug_runtime(const char *path) {
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    static const char needle[] = TS_SEG_NAME_FMT;
    size_t nlen = sizeof needle - 1, have = 0;
    char buf[65536 + sizeof needle];
    int found = 0;
    for (size_t n; !found && (n = fread(buf + have, 1, sizeof buf - have, f)) > 0;) {
        have += n;
        found = memmem(buf, have, needle, nlen) != NULL;
        /* keep the tail: the string may straddle two reads */
        size_t keep = have < nlen ? have : nlen - 1;
        memmove(buf, buf + have - keep, keep);
        have = keep;
    }
    fclose(f);
    return found;
}

int ts_debug_libdir_check(char *err, size_t len) {
    char buf[PATH_MAX], lib[PATH_MAX + 32];
    const char *dir = ts_debug_libdir(buf, sizeof buf);
    struct stat st;
    snprintf(lib, sizeof lib, "%s/libtaskscope.so.0", dir);
    if (stat(lib, &st) == 0)
        return 0;
    int e = errno;
    const char *env = getenv("TASKSCOPE_DEBUG_LIBDIR");
    snprintf(err, len, "the debug runtime is not where taskscope looks for it: %s: %s%s%s%s "
                       "(set TASKSCOPE_DEBUG_LIBDIR to the directory holding the debug "
                       "libtaskscope.so.0)", lib, strerror(e),
             env && *env ? " (from TASKSCOPE_DEBUG_LIBDIR=" : "", env && *env ? env : "",
             env && *env ? ")" : "");
    return -ENOENT;
}

/* The cause, once the child is known not to have the debug runtime. */
static void explain(int pid, const char *prog, const char *lib, const char *debug_lib, char *err,
                    size_t len) {
    char exe[64];
    elf_facts f;
    snprintf(exe, sizeof exe, "/proc/%d/exe", pid);
    read_elf(exe, &f);
    if (lib[0] && f.rpath[0] && !f.runpath[0])
        snprintf(err, len, "%s was linked with DT_RPATH %s, which the dynamic loader searches "
                           "before LD_LIBRARY_PATH: it loaded %s instead of the debug runtime "
                           "%s, so it cannot be traced.  Relink it with -Wl,--enable-new-dtags "
                           "(DT_RUNPATH, which LD_LIBRARY_PATH overrides), or link the debug "
                           "runtime directly (`pkg-config --libs taskscope-debug`)",
                 prog, f.rpath, lib, debug_lib);
    else if (lib[0])
        snprintf(err, len, "%s loaded %s instead of the debug runtime %s (LD_PRELOAD, or a "
                           "loader configuration that overrides LD_LIBRARY_PATH?), so it cannot "
                           "be traced; link it with `pkg-config --libs taskscope-debug`",
                 prog, lib, debug_lib);
    else if (f.parsed && !f.dynamic)
        snprintf(err, len, "%s is statically linked: the debug runtime cannot be swapped in at "
                           "start-up; link it with the debug runtime instead (`pkg-config "
                           "--static --libs taskscope-debug`)", prog);
    else if (f.parsed && !f.needs_runtime)
        snprintf(err, len, "%s is not a taskscope program: it does not link %s (a program "
                           "built on the taskscope runtime links it with `pkg-config --libs "
                           "taskscope` or taskscope-debug)", prog, LIBNAME ".0");
    else
        snprintf(err, len, "%s did not load the debug runtime %s within a second of starting: "
                           "it does not seem to be a program built on the taskscope runtime",
                 prog, debug_lib);
}

int ts_find_program(const char *prog, char *buf, size_t len) {
    if (!*prog)
        return -ENOENT;
    if (strchr(prog, '/'))
        return snprintf(buf, len, "%s", prog) < (int)len && access(buf, X_OK) == 0 ? 0 : -ENOENT;
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        if (snprintf(buf, len, "%.*s%s%s", (int)n, path, n ? "/" : "", prog) < (int)len &&
            access(buf, X_OK) == 0)
            return 0;
        path += n + (path[n] == ':');
    }
    return -ENOENT;
}

int ts_launch_explain_exit(const char *prog, char *err, size_t len) {
    char path[PATH_MAX];
    elf_facts f;
    if (ts_find_program(prog, path, sizeof path))
        return 0;
    read_elf(path, &f);
    if (!f.parsed || (f.dynamic && f.needs_runtime))
        return 0;
    if (!f.dynamic)
        snprintf(err, len, "%s is statically linked: the debug runtime cannot be swapped in at "
                           "start-up; link it with the debug runtime instead", prog);
    else
        snprintf(err, len, "%s is not a taskscope program: it does not link %s (a program "
                           "built on the taskscope runtime links it with `pkg-config --libs "
                           "taskscope` or taskscope-debug)", prog, LIBNAME ".0");
    return 1;
}

int ts_launch_confirm(int child, const char *prog, int timeout_ms, char *err, size_t len) {
    char dirbuf[PATH_MAX], debug_lib[PATH_MAX + 32], lib[PATH_MAX], exe[64];
    const char *dir = ts_debug_libdir(dirbuf, sizeof dirbuf);
    char real[PATH_MAX];
    snprintf(debug_lib, sizeof debug_lib, "%s/libtaskscope.so.0", realpath(dir, real) ? real : dir);
    if (ts_debug_libdir_check(err, len))
        return -ENOENT;
    snprintf(exe, sizeof exe, "/proc/%d/exe", child);
    struct stat self, cur, last = {0};
    if (stat("/proc/self/exe", &self) != 0)
        memset(&self, 0, sizeof self);
    uint64_t deadline = 0, hard = now_ms() + 10000;
    for (;;) {
        siginfo_t si = {0};
        if (waitid(P_PID, (id_t)child, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid)
            return -ECHILD; /* exited (exec failed, or ended at once): the caller says why */
        /* Until the exec, /proc/PID/exe is this program: wait for it to
         * change, and start the clock again whenever it changes (a wrapper
         * script exec'ing the real program). */
        if (stat(exe, &cur) == 0 && !(cur.st_dev == self.st_dev && cur.st_ino == self.st_ino)) {
            if (cur.st_dev != last.st_dev || cur.st_ino != last.st_ino) {
                last = cur;
                deadline = now_ms() + (uint64_t)timeout_ms;
            }
            lib[0] = 0;
            if (mapped_runtime(child, lib, sizeof lib)) {
                /* Ours, or a debug runtime the program was linked with
                 * directly (DT_RPATH to another copy): traceable either way. */
                if (same_inode(lib, debug_lib) || is_debug_runtime(lib))
                    return 0;
                explain(child, prog, lib, debug_lib, err, len);
                return -ENOEXEC;
            }
            if (segment_exists(child))
                return 0; /* a runtime linked in statically, but the debug one */
            if (now_ms() >= deadline) {
                elf_facts f;
                read_elf(exe, &f);
                /* Needs the runtime but has not mapped it yet: a slow
                 * loader on a loaded machine; give it until the hard limit. */
                if (!(f.parsed && f.needs_runtime) || now_ms() >= hard) {
                    explain(child, prog, "", debug_lib, err, len);
                    return -ENOEXEC;
                }
            }
        } else if (now_ms() >= hard) {
            snprintf(err, len, "%s: the program did not start within 10 s", prog);
            return -ETIMEDOUT;
        }
        struct timespec d = {0, 5 * 1000000L};
        nanosleep(&d, NULL);
    }
}

void ts_stop_untraced(int child) {
    /* TERM first, so a server can clean up; KILL if it does not go. */
    kill(child, SIGTERM);
    for (int i = 0; i < 200; i++) {
        siginfo_t si = {0};
        if (waitid(P_PID, (id_t)child, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid)
            return;
        struct timespec d = {0, 10 * 1000000L};
        nanosleep(&d, NULL);
    }
    kill(child, SIGKILL);
}
