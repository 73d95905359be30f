/*
 * symbolize.c - see symbolize.h.  One Dwfl session per symbolizer; each
 * recorded module is reported with dwfl_report_elf at the load bias its
 * mapping implies, and libdw answers name and line queries from the ELF
 * symbol table and DWARF (or from separate debug info it finds itself).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safe_open.h"
#include "symbolize.h"

#ifdef TS_HAVE_LIBDW
#include <elfutils/libdwfl.h>
#include <gelf.h>
#endif

#define MAX_MODULES 256

struct module {
    uint64_t start, end, offset;
    char path[256];
    int reported;
    int own_dwarf; /* live only: 0 not asked yet, 1 yes, -1 no */
};

struct ts_symbolizer {
#ifdef TS_HAVE_LIBDW
    Dwfl *dwfl;
    Dwfl_Callbacks cb;
    char *debuginfo_path;
#endif
    struct module mods[MAX_MODULES];
    int nmods;
    int live;
};

#ifdef TS_HAVE_LIBDW
/* Separate debug info for an answer wanted now: by build id only, unless
 * DEBUGINFOD_URLS asks for the debuginfod client.  libdw's standard
 * lookup ends in that client whatever the environment, and loading it
 * (libdebuginfod, libcurl and some twenty libraries behind it) costs a
 * few hundred ms the first time a module has no debug info. */
static int find_debuginfo_live(Dwfl_Module *mod, void **userdata, const char *modname,
                               Dwarf_Addr base, const char *file, const char *debuglink,
                               GElf_Word crc, char **debuginfo_file_name) {
    const char *urls = getenv("DEBUGINFOD_URLS");
    if (urls && *urls)
        return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file, debuglink,
                                            crc, debuginfo_file_name);
    return dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file, debuglink, crc,
                                        debuginfo_file_name);
}

/* Does the module carry its DWARF in its own file (the program built
 * with -g), rather than in separate debug info (a system library's
 * debug package)?  Asked of the file's section names: loading the debug
 * info to see where it came from would cost what we avoid (a debug
 * package's sections are compressed). */
static int own_dwarf(Dwfl_Module *mod) {
    GElf_Addr bias;
    Elf *elf = dwfl_module_getelf(mod, &bias);
    size_t shstrndx;
    if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0)
        return 0;
    for (Elf_Scn *scn = elf_nextscn(elf, NULL); scn; scn = elf_nextscn(elf, scn)) {
        GElf_Shdr sh;
        const char *name = gelf_getshdr(scn, &sh) ? elf_strptr(elf, shstrndx, sh.sh_name) : NULL;
        if (name && sh.sh_type != SHT_NOBITS &&
            (!strcmp(name, ".debug_info") || !strcmp(name, ".zdebug_info")))
            return 1;
    }
    return 0;
}
#endif

void ts_symbolizer_set_live(ts_symbolizer *s, int live) {
    if (!s)
        return;
    s->live = live;
#ifdef TS_HAVE_LIBDW
    /* libdwfl keeps a pointer to our callbacks: the change holds for
     * lookups still to come. */
    s->cb.find_debuginfo = live ? find_debuginfo_live : dwfl_standard_find_debuginfo;
#endif
}

ts_symbolizer *ts_symbolizer_new(void) {
    ts_symbolizer *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
#ifdef TS_HAVE_LIBDW
    s->cb.find_elf = dwfl_build_id_find_elf;
    s->cb.find_debuginfo = dwfl_standard_find_debuginfo;
    s->cb.debuginfo_path = &s->debuginfo_path;
    s->dwfl = dwfl_begin(&s->cb);
    if (s->dwfl)
        dwfl_report_begin(s->dwfl);
#endif
    return s;
}

void ts_symbolizer_free(ts_symbolizer *s) {
    if (!s)
        return;
#ifdef TS_HAVE_LIBDW
    if (s->dwfl)
        dwfl_end(s->dwfl);
#endif
    free(s);
}

void ts_symbolizer_add_module(ts_symbolizer *s, uint64_t start, uint64_t end,
                              uint64_t offset, const char *path) {
    if (!s || !path || !*path)
        return;
    for (int i = 0; i < s->nmods; i++)
        if (s->mods[i].start == start)
            return;
    if (s->nmods == MAX_MODULES)
        return;
    struct module *m = &s->mods[s->nmods++];
    m->start = start;
    m->end = end;
    m->offset = offset;
    snprintf(m->path, sizeof m->path, "%s", path);
#ifdef TS_HAVE_LIBDW
    /* The path comes from a segment or a recording: opened only if it is
     * a regular file (a FIFO there would hang us, root or not). */
    int fd = s->dwfl ? ts_open_regular(path) : -1;
    if (fd >= 0) {
        /* One ELF may be mapped several times (r-x and others); only the
         * executable mapping is recorded, so its bias is start - offset.
         * On success libdwfl owns fd. */
        Dwfl_Module *mod = dwfl_report_elf(s->dwfl, path, path, fd,
                                           (GElf_Addr)(start - offset), false);
        if (!mod)
            close(fd);
        m->reported = mod != NULL;
        dwfl_report_end(s->dwfl, NULL, NULL);
        dwfl_report_begin_add(s->dwfl);
    }
#endif
}

void ts_symbolize(ts_symbolizer *s, uint64_t pc, int is_return, ts_frame *f) {
    memset(f, 0, sizeof *f);
    f->pc = pc;
    snprintf(f->function, sizeof f->function, "?");
    if (!s)
        return;
    uint64_t q = is_return && pc ? pc - 1 : pc;
    struct module *in = NULL;
    for (int i = 0; i < s->nmods; i++)
        if (q >= s->mods[i].start && q < s->mods[i].end) {
            const char *base = strrchr(s->mods[i].path, '/');
            base = base ? base + 1 : s->mods[i].path;
            size_t n = strlen(base);
            if (n >= sizeof f->module)
                n = sizeof f->module - 1;
            memcpy(f->module, base, n);
            f->module[n] = 0;
            in = &s->mods[i];
            break;
        }
#ifdef TS_HAVE_LIBDW
    if (!s->dwfl)
        return;
    Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, (Dwarf_Addr)q);
    if (!mod)
        return;
    const char *name = dwfl_module_addrname(mod, (GElf_Addr)q);
    if (name)
        snprintf(f->function, sizeof f->function, "%s", name);
    /* Live, a separate debug info's lines are left out: indexing libc's
     * takes a second or more the first time, for a frame whose function
     * name says what matters. */
    if (s->live) {
        int own = in ? in->own_dwarf : 0;
        if (!own) {
            own = own_dwarf(mod) ? 1 : -1;
            if (in)
                in->own_dwarf = own;
        }
        if (own < 0)
            return;
    }
    Dwfl_Line *line = dwfl_module_getsrc(mod, (Dwarf_Addr)q);
    if (line) {
        int lineno = 0;
        const char *file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
        if (file) {
            snprintf(f->file, sizeof f->file, "%s", file);
            f->line = lineno;
        }
    }
#endif
}
