/*
 * recent.h - the latest events of each task, kept by the TUI for the
 * task detail view (the model keeps state, not history).
 *
 * A small ring per task (TUI_RECENT_PER_TASK entries), found by task id
 * through an open-addressing table.  Memory stays bounded: rings of tasks
 * the model has forgotten are dropped by tui_recent_prune.
 */
#ifndef TS_TUI_RECENT_H
#define TS_TUI_RECENT_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define TUI_RECENT_PER_TASK 8

/* One remembered event: which fields mean what depends on type
 * (see tui_recent_format). */
typedef struct tui_event {
    uint64_t ns;
    uint64_t obj;
    uint16_t type;
    uint32_t x, y;
} tui_event;

typedef struct tui_recent tui_recent;

tui_recent *tui_recent_new(void);
void tui_recent_free(tui_recent *r);
/* Forget everything (a replay moving backwards starts again). */
void tui_recent_clear(tui_recent *r);
/* Remember rec if it concerns a task. */
void tui_recent_note(tui_recent *r, const ts_ev_header *rec, uint64_t ns);
/* Remember rec if it concerns a resource, keyed by the resource id (a
 * separate table from the tasks'): created, freed, acquired (obj: the
 * task), released (obj: the task), a task starting to wait on it (obj:
 * the task, x: the wait kind).  Queue depth changes are not kept (they
 * would push the acquire/release history out). */
void tui_recent_note_resource(tui_recent *r, const ts_ev_header *rec, uint64_t ns);
/* A deep copy (replay checkpoints); NULL on no memory. */
tui_recent *tui_recent_clone(const tui_recent *r);
/* A copy to keep, not to note into (replay checkpoints): rings unchanged
 * since prev (an earlier snapshot of the same table, or NULL) are shared
 * with it.  *own gets its own bytes; *shared (the caller's running total
 * for a set of snapshots) grows by the rings it added.  NULL on no
 * memory. */
typedef struct tui_recent_snap tui_recent_snap;
tui_recent_snap *tui_recent_snapshot(const tui_recent *r, const tui_recent_snap *prev,
                                     size_t *own, size_t *shared);
/* A table to note into again, equal to the one snapshotted. */
tui_recent *tui_recent_restore(const tui_recent_snap *sn);
/* Free a snapshot (any order among them); the rings freed come off *shared. */
void tui_recent_snap_free(tui_recent_snap *sn, size_t *shared);
/* Copy task's events, newest first, into out; returns how many.  Events
 * are returned in time order even if they arrived out of it (rings of
 * different threads are merged by the reader in batches). */
size_t tui_recent_get(const tui_recent *r, uint64_t task, tui_event *out, size_t cap);
/* Drop the rings of tasks the model no longer knows. */
void tui_recent_prune(tui_recent *r, const tm_model *m);
/* One line for an event, times relative to t0. */
void tui_recent_format(const tm_model *m, const tui_event *e, uint64_t t0, char *buf,
                       size_t len);
size_t tui_recent_tasks(const tui_recent *r);

#endif
