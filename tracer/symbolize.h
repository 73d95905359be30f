/*
 * symbolize.h - turning raw return addresses into function, file and line,
 * with the module map recorded beside them (elfutils libdw; no ELF is
 * parsed by hand).  Works on a recording after the process is gone, as
 * long as its executable and libraries are still on disk.
 */
#ifndef TS_TRACER_SYMBOLIZE_H
#define TS_TRACER_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ts_symbolizer ts_symbolizer;

typedef struct ts_frame {
    uint64_t pc;
    char function[128];  /* "?" if unknown */
    char file[160];      /* "" if no line info */
    int line;
    char module[96];     /* basename of the module, "" if none */
} ts_frame;

/* NULL only when out of memory (or the tracer was built without libdw:
 * then frames carry addresses and module names only). */
ts_symbolizer *ts_symbolizer_new(void);
void ts_symbolizer_free(ts_symbolizer *s);
/* For an answer wanted now (a live report, the TUI): source lines only
 * from modules that carry their own DWARF (the program built with -g);
 * frames in a system library keep their function names but not the
 * lines its separate debug info would give (indexing libc's takes a
 * second or more the first time).  Separate debug info is then looked up
 * by build id only, unless DEBUGINFOD_URLS is set.  Off by default
 * (recordings and exports get every line there is). */
void ts_symbolizer_set_live(ts_symbolizer *s, int live);
/* Tell it where a module was mapped: [start, end) at file offset. */
void ts_symbolizer_add_module(ts_symbolizer *s, uint64_t start, uint64_t end,
                              uint64_t offset, const char *path);
/* Fill f for pc; is_return says pc is a return address (look up pc - 1). */
void ts_symbolize(ts_symbolizer *s, uint64_t pc, int is_return, ts_frame *f);

#endif
