/*
 * translate.h - turning the BPF programs' raw records (tsb_abi.h) into the
 * schema's ts_ev_* records, so that the model, the store and every report
 * read a BPF trace exactly as they read the debug runtime's ring.
 *
 * The translator owns what the kernel side cannot do cheaply: interning
 * strings by content and sites by address (a STRING or SITE record always
 * precedes the first record that names it), the module map and stack
 * records behind a blocked system call, and drop accounting.  It trusts
 * nothing in a raw record: lengths are bounded, strings are cut at their
 * buffer, and an unknown kind or type is counted and skipped.
 */
#ifndef TS_BPF_TRANSLATE_H
#define TS_BPF_TRANSLATE_H

#include <stddef.h>
#include <stdint.h>

#include "trace_format.h"

typedef void (*tsb_emit_fn)(const ts_ev_header *rec, uint64_t ns, uint32_t tid, void *arg);

typedef struct tsb_translator tsb_translator;

typedef struct tsb_translate_stats {
    uint64_t raw;           /* raw records seen */
    uint64_t emitted;       /* ts_ev records delivered */
    uint64_t bad;           /* malformed or unknown raw records skipped */
    uint64_t blocked;       /* blocked system calls reported */
    uint64_t site_fallback; /* sites read from the process after a drop */
} tsb_translate_stats;

/* pid is used to read /proc/PID/maps (modules) and, as a fallback, a
 * site whose record was dropped. */
tsb_translator *tsb_translator_new(int pid);
void tsb_translator_free(tsb_translator *t);

/* The debug runtime's ring feeds the same model: give strings, sites and
 * stacks odd ids (the ring's are rewritten to even ones, see
 * ts_bpf_even_ids) and leave thread_start to the ring. */
void tsb_translator_beside_ring(tsb_translator *t);

/* Translate one raw record of len bytes and deliver what it becomes. */
void tsb_translate(tsb_translator *t, const void *raw, size_t len, tsb_emit_fn fn, void *arg);

/* Deliver a `dropped` record for n events lost at time ns. */
void tsb_translate_dropped(tsb_translator *t, uint64_t n, uint64_t ns, tsb_emit_fn fn, void *arg);

/* Re-read the process's mappings now, while it runs (a blocked call's
 * stack may be translated after the process is gone: then the last map
 * read is what symbolizes it).  Keeps the old map if the process is gone. */
void tsb_translate_refresh_maps(tsb_translator *t);

void tsb_translate_get_stats(const tsb_translator *t, tsb_translate_stats *out);

#endif
