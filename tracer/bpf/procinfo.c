/*
 * procinfo.c - see procinfo.h.
 *
 * Invariants: no buffer is filled past its length (paths are cut, lines
 * longer than the line buffer are skipped whole); ELF files are read with
 * libelf, never by hand; a child started to run ldd is always reaped.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../safe_open.h"
#include "procinfo.h"

extern char **environ;

/* ---- mappings --------------------------------------------------------------- */

static int parse_map_line(const char *line, tsb_module *m) {
    unsigned long long lo, hi, off;
    char perms[8];
    int pos = 0;
    if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &lo, &hi, perms, &off, &pos) < 4 || !pos)
        return 0;
    const char *path = line + pos;
    if (perms[2] != 'x' || path[0] != '/')
        return 0;
    size_t n = strcspn(path, "\n");
    if (n >= sizeof m->path)
        return 0;
    memcpy(m->path, path, n);
    m->path[n] = 0;
    m->start = lo;
    m->end = hi;
    m->offset = off;
    m->emitted = 0;
    return 1;
}

static int was_emitted(const tsb_maps *old, const tsb_module *m) {
    for (size_t i = 0; i < old->n; i++)
        if (old->v[i].start == m->start && old->v[i].end == m->end &&
            old->v[i].offset == m->offset && !strcmp(old->v[i].path, m->path))
            return old->v[i].emitted;
    return 0;
}

int tsb_maps_read(int pid, tsb_maps *m) {
    char name[64];
    snprintf(name, sizeof name, "/proc/%d/maps", pid);
    FILE *f = fopen(name, "re");
    if (!f)
        return errno == ENOENT ? -ESRCH : -errno;
    tsb_maps fresh = {0};
    char line[TSB_PATH_MAX + 128];
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n')) { /* too long: skip the rest of it */
            int c;
            while ((c = fgetc(f)) != EOF && c != '\n')
                ;
            continue;
        }
        tsb_module mod;
        if (!parse_map_line(line, &mod))
            continue;
        if (fresh.n == fresh.cap) {
            size_t cap = fresh.cap ? fresh.cap * 2 : 32;
            tsb_module *v = realloc(fresh.v, cap * sizeof *v);
            if (!v) {
                rc = -ENOMEM;
                break;
            }
            fresh.v = v;
            fresh.cap = cap;
        }
        mod.emitted = was_emitted(m, &mod);
        fresh.v[fresh.n++] = mod;
    }
    fclose(f);
    if (!rc && !fresh.n) /* a live process maps something: this one has exited (a zombie) */
        rc = -ESRCH;
    if (rc) { /* keep what we had: it symbolizes what the process sent before */
        free(fresh.v);
        return rc;
    }
    free(m->v);
    *m = fresh;
    return 0;
}

const tsb_module *tsb_maps_find(const tsb_maps *m, uint64_t addr) {
    for (size_t i = 0; i < m->n; i++)
        if (addr >= m->v[i].start && addr < m->v[i].end)
            return &m->v[i];
    return NULL;
}

void tsb_maps_free(tsb_maps *m) {
    free(m->v);
    m->v = NULL;
    m->n = m->cap = 0;
}

/* A path of pid's mount namespace, openable from ours. */
static void ns_path(int pid, const char *path, char *out, size_t len) {
    char root[PATH_MAX];
    if (pid > 0 && snprintf(root, sizeof root, "/proc/%d/root%s", pid, path) < (int)sizeof root &&
        access(root, R_OK) == 0)
        snprintf(out, len, "%s", root);
    else
        snprintf(out, len, "%s", path);
}

int tsb_after_call(const tsb_module *mod, uint64_t addr, int pid) {
#if defined(__x86_64__)
    if (addr < mod->start + 8 || addr >= mod->end)
        return 0;
    char path[PATH_MAX];
    ns_path(pid, mod->path, path, sizeof path);
    int fd = ts_open_regular(path);
    if (fd < 0)
        return 0;
    unsigned char b[8];
    ssize_t got = pread(fd, b, sizeof b, (off_t)(addr - mod->start + mod->offset - 8));
    close(fd);
    if (got != (ssize_t)sizeof b)
        return 0;
    if (b[3] == 0xe8) /* call rel32 */
        return 1;
    for (int n = 2; n <= 7; n++) /* call r/m64: ff /2, 2 to 7 bytes */
        if (b[8 - n] == 0xff && ((b[8 - n + 1] >> 3) & 7) == 2)
            return 1;
    return 0;
#else
    (void)mod, (void)addr, (void)pid;
    return 0;
#endif
}

/* ---- probes ------------------------------------------------------------------- */

static int count_notes(Elf *e) {
    size_t shstrndx;
    if (elf_getshdrstrndx(e, &shstrndx) != 0)
        return 0;
    int count = 0;
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(e, scn))) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
            continue;
        const char *name = elf_strptr(e, shstrndx, sh.sh_name);
        if (!name || strcmp(name, ".note.stapsdt"))
            continue;
        Elf_Data *d = elf_getdata(scn, NULL);
        if (!d)
            continue;
        GElf_Nhdr nh;
        size_t off = 0, name_off, desc_off;
        while ((off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
            if (nh.n_type != 3 || nh.n_namesz != 8 ||
                memcmp((char *)d->d_buf + name_off, "stapsdt", 8))
                continue;
            /* desc: three addresses, then provider\0name\0args\0 */
            size_t skip = gelf_getclass(e) == ELFCLASS32 ? 12 : 24;
            if (nh.n_descsz <= skip + 10)
                continue;
            const char *prov = (const char *)d->d_buf + desc_off + skip;
            if (!memcmp(prov, "taskscope", 10))
                count++;
        }
    }
    return count;
}

int tsb_count_probes(const char *path) {
    int fd = ts_open_regular(path);
    if (fd < 0)
        return fd;
    int count = 0;
    if (elf_version(EV_CURRENT) != EV_NONE) {
        Elf *e = elf_begin(fd, ELF_C_READ, NULL);
        if (e) {
            if (elf_kind(e) == ELF_K_ELF)
                count = count_notes(e);
            elf_end(e);
        }
    }
    close(fd);
    return count;
}

static int runtime_name(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return !strncmp(base, "libtaskscope", 12) && strstr(base, ".so");
}

int tsb_find_runtime(int pid, char *path, size_t len) {
    tsb_maps m = {0};
    int rc = tsb_maps_read(pid, &m);
    if (rc)
        return rc;
    rc = -ENOENT;
    for (size_t i = 0; i < m.n && rc; i++)
        if (runtime_name(m.v[i].path)) {
            ns_path(pid, m.v[i].path, path, len);
            rc = 0;
        }
    tsb_maps_free(&m);
    if (rc == 0)
        return 0;
    char exe[64];
    snprintf(exe, sizeof exe, "/proc/%d/exe", pid);
    if (tsb_count_probes(exe) > 0) {
        snprintf(path, len, "%s", exe);
        return 0;
    }
    return -ENOENT;
}

/* ---- a program not started yet ----------------------------------------------- */

static int find_in_path(const char *program, char *out, size_t len) {
    if (strchr(program, '/')) {
        snprintf(out, len, "%s", program);
        return access(out, X_OK) == 0 ? 0 : -ENOENT;
    }
    const char *p = getenv("PATH");
    if (!p)
        p = "/usr/local/bin:/usr/bin:/bin";
    while (*p) {
        size_t n = strcspn(p, ":");
        if (snprintf(out, len, "%.*s/%s", (int)n, p, program) < (int)len && access(out, X_OK) == 0)
            return 0;
        p += n + (p[n] == ':');
    }
    return -ENOENT;
}

/* The libtaskscope line of ldd's output: "\tNAME => PATH (0x...)". */
static int parse_ldd(FILE *f, char *out, size_t len) {
    char line[PATH_MAX + 128];
    int rc = -ENOENT;
    while (fgets(line, sizeof line, f)) {
        char *arrow = strstr(line, " => ");
        if (!arrow || rc == 0)
            continue;
        *arrow = 0;
        char *name = line + strspn(line, " \t");
        char *path = arrow + 4;
        char *end = strstr(path, " (0x");
        if (!end || !runtime_name(name) || path[0] != '/')
            continue;
        *end = 0;
        if (snprintf(out, len, "%s", path) < (int)len)
            rc = 0;
    }
    return rc;
}

int tsb_resolve_library(const char *program, char *out, size_t len) {
    char exe[PATH_MAX];
    if (find_in_path(program, exe, sizeof exe))
        return -ENOENT;
    if (tsb_count_probes(exe) > 0) { /* the runtime is linked in */
        snprintf(out, len, "%s", exe);
        return 0;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC))
        return -errno;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    char *argv[] = {"ldd", exe, NULL};
    pid_t pid;
    int err = posix_spawnp(&pid, "ldd", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (err) {
        close(fds[0]);
        return -err;
    }
    FILE *f = fdopen(fds[0], "r");
    int rc = -ENOENT;
    if (f) {
        rc = parse_ldd(f, out, len);
        fclose(f);
    } else {
        close(fds[0]);
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return rc;
}
