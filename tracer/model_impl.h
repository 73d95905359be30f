/*
 * model_impl.h - the model's insides, shared by the files that make it up
 * (model.c: applying events; model_analyze.c: deadlock and stuck-loop
 * analysis).  Nothing outside the model includes this.
 */
#ifndef TS_TRACER_MODEL_IMPL_H
#define TS_TRACER_MODEL_IMPL_H

#include "idmap.h"
#include "model.h"
#include "model_groups.h"

struct strtab {
    char **v;
    size_t cap;
};

struct tm_model {
    tm_task **tasks;
    size_t ntasks, tasks_cap, nholes;
    int sweeping; /* a loop over tasks[] that may evict runs: no compaction */
    tm_idmap task_ids;
    uint64_t *finished_ids;
    size_t fin_head, fin_n, fin_cap;
    struct strtab strings;
    tm_site *sites;
    size_t sites_cap;
    tm_loop *loops;
    size_t nloops;
    tm_resource *res;
    size_t nres, res_cap;
    tm_idmap res_ids;
    tm_blocked *blocked;
    size_t nblocked, blocked_cap;
    tm_warning *warnings;
    size_t nwarnings, warnings_cap;
    tm_module *modules;
    size_t nmodules, modules_cap;
    uint64_t **stacks;             /* by id: [depth, pcs...] */
    size_t stacks_cap;
    uint64_t dropped;
    uint64_t now;
    uint64_t events;
    uint64_t lost;
    uint64_t tasks_seen;           /* distinct tasks ever added, evicted or not */
    tm_groups groups;
    int keep_all;                  /* never evict (reports on a recording) */
    size_t ndirty;                 /* warnings with dirty set */
    uint32_t drops_warning;        /* the drops warning (index + 1) */
    tm_retire_fn retire_fn;        /* told of each task retired as lost */
    void *retire_arg;
    tm_evict_fn evict_fn;          /* told of each task before it is evicted */
    void *evict_arg;
    /* state dumps in progress, by the thread writing them */
    struct {
        uint32_t tid;
        uint32_t torn;             /* events of its thread dropped since dump_begin */
        uint64_t gen, loop;
    } dumps[8];
    /* Ends of blocked steps read before their start: a reader reads the
     * rings one after the other, so the loop's loop_unblocked (and
     * slow_step) may come in a poll before the watchdog's loop_blocked
     * that preceded them (published between the reads of the two rings).
     * The newest few, for on_blocked to close its episode with. */
    struct {
        uint64_t loop, step, task, duration_ns;
    } early_ends[8];
    unsigned early_next;
    uint64_t blocked_changes;      /* tm_model_blocked_changes */
    struct tm_notes *notes;        /* stacks, fields, logs (model_notes.c) */
    char **fds;                    /* by fd: "KIND ADDRESS" (model_fds.c) */
    size_t fds_cap;
};

/* model_resources.c: apply a resource or future event. */
void tm__apply_resource(tm_model *m, const ts_ev_header *h, uint64_t ns, uint32_t tid);
/* model_warnings.c: per-event checks (a lagging step, a suspension). */
void tm__note_lag(tm_model *m, tm_loop *l, uint64_t lag, uint64_t ns);
void tm__note_suspend(tm_model *m, tm_task *t, uint32_t kind, uint64_t ns);

/* Add a warning (flagging its task); returns its index + 1, 0 on no memory. */
uint32_t tm__add_warning(tm_model *m, tm_warning_kind kind, uint64_t ns, uint64_t task,
                         uint64_t resource, const char *text);

/* Replace warning wi's (index + 1) text, marking it dirty if it changed. */
void tm__set_warning_text(tm_model *m, uint32_t wi, const char *text);
/* Keep the one drops warning's count current. */
void tm__note_drops(tm_model *m, uint64_t ns);

#endif
