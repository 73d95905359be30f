/*
 * store.h - recordings in SQLite.
 *
 * A recording is one SQLite file (WAL mode while it is written, so the
 * TUI or the sqlite3 shell can read it meanwhile; rollback mode once
 * closed, so that reading it needs no -shm file and writes nothing).  Its schema comes from
 * schemas/events.def: one table per event, ev_<name>(seq, ns, thread,
 * <fields>), where seq is the global order of events and ns their time on
 * CLOCK_MONOTONIC; a session table of key/value facts (pid, exe, status,
 * drops); and views for people (tasks, awaits, blocked, cancellations,
 * strings, sites) described in schemas/README.md.  PRAGMA user_version
 * holds the schema version: an older file is refused with the version it
 * has, a newer one with a request to upgrade taskscope.
 *
 * Writing happens on a thread of its own, in batched transactions, so the
 * thread draining the rings never waits for the disk; when the writer
 * falls behind by more than the buffer it holds, ts_store_event blocks
 * and the rings drop (and count) instead: memory stays flat.  Every
 * committed batch is readable even if the tracer is then killed; a
 * recording whose status is still "recording" was cut short.
 */
#ifndef TS_TRACER_STORE_H
#define TS_TRACER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../schemas/trace_format.h"

typedef struct ts_store ts_store;

/* Create a recording at path, never harming what is there: an earlier
 * recording (with its -wal and -shm) is kept as path.old (path.old.2, ...
 * if that is taken; ts_store_kept says where), or removed with
 * TS_STORE_REPLACE; an empty regular file is used as it is; anything else
 * is refused: -EEXIST for a file that is not a recording, -EISDIR for a
 * directory, device, FIFO or socket.  err receives a message. */
#define TS_STORE_REPLACE 1  /* the command line's --force */
int ts_store_create_ex(const char *path, int flags, ts_store **out, char *err, size_t errlen);
/* ts_store_create_ex with the flags set by ts_store_set_default_flags (0
 * unless a command line said --force). */
int ts_store_create(const char *path, ts_store **out, char *err, size_t errlen);
void ts_store_set_default_flags(int flags);
/* Where ts_store_create kept the recording that was at its path, or NULL. */
const char *ts_store_kept(const ts_store *s);
/* Record a session fact (pid, exe, command, ...). */
int ts_store_meta(ts_store *s, const char *key, const char *value);
/* Queue one validated record for writing (copied), as an event of the
 * process the session traced (the session fact "pid": recording it also
 * adds that process's row to the process table). */
int ts_store_event(ts_store *s, const ts_ev_header *rec, uint64_t ns, uint32_t tid);
/* The same for an event of process pid: a recording holds the traced
 * process and the forked children that were followed, each with ids of
 * its own (schemas/store_ddl.h, "Processes").  Call from the one thread
 * that feeds s (the session's; followed children are polled there). */
int ts_store_event_pid(ts_store *s, const ts_ev_header *rec, uint64_t ns, uint32_t tid,
                       uint32_t pid);
/* A process whose events go into the recording (a followed child, of
 * parent); exe may be NULL.  Its row says "recording" until
 * ts_store_process_end gives its final status, drops and event count. */
int ts_store_process(ts_store *s, int pid, int parent, const char *exe);
int ts_store_process_end(ts_store *s, int pid, const char *status, uint64_t dropped,
                         uint64_t events);
/* Hand what is queued to the writer now, without waiting for it (an
 * event that must be visible in the file at once: a blocked loop). */
void ts_store_hand_over(ts_store *s);
/* Flush and wait until everything queued is committed. */
int ts_store_flush(ts_store *s);
/* Write the final status ("complete", "truncated: <why>"; after a write
 * error "truncated: <the error>" instead), the drop count, indexes, and
 * close.  Returns 0 or the first write error. */
int ts_store_close(ts_store *s, const char *status, uint64_t dropped);
/* Close and remove a recording this run created but has no use for (the
 * program could not be started), and put back the earlier recording it
 * had set aside: every file is then as it was before. */
void ts_store_discard(ts_store *s);
/* The first write error's message, or NULL. */
const char *ts_store_error(const ts_store *s);
uint64_t ts_store_rows(const ts_store *s);
/* Write (or rewrite: same id) one warning of the live model, at once, in
 * the warning table (schemas/store_ddl.h).  kind is its name ("deadlock",
 * ...); task and resource 0 for none. */
int ts_store_warning(ts_store *s, uint64_t id, uint64_t ns, const char *kind, uint64_t task,
                     uint64_t resource, const char *text);
/* The same for a warning of process pid's model (id is that model's). */
int ts_store_warning_pid(ts_store *s, uint32_t pid, uint64_t id, uint64_t ns, const char *kind,
                         uint64_t task, uint64_t resource, const char *text);

/* Reading a recording back: validate it and replay every event in order. */
typedef void (*ts_replay_fn)(const ts_ev_header *rec, uint64_t ns, uint32_t tid, void *arg);
int ts_store_replay(const char *path, ts_replay_fn fn, void *arg, char *err, size_t errlen);
/* The events of process pid only (0: of every process, merged in order;
 * a recording made before pid columns is one process, replayed whole). */
int ts_store_replay_pid(const char *path, int pid, ts_replay_fn fn, void *arg, char *err,
                        size_t errlen);
/* Open a recording read-only without writing anything anywhere: the path
 * must be a regular file (a FIFO or device is refused at once, never
 * waited on), an SQLite database of this schema version.  A finished
 * recording needs no side file; one still being written is read through
 * the writer's -shm, or, where that cannot be opened (a read-only
 * directory), as its main file alone.  0, or a negative code with err. */
typedef struct sqlite3 sqlite3;
int ts_store_open_read(const char *path, sqlite3 **db, char *err, size_t errlen);
/* 1 if path is a readable taskscope recording. */
int ts_store_is_recording(const char *path);
/* Read a session fact into buf ("" if absent). */
int ts_store_read_meta(const char *path, const char *key, char *buf, size_t len);
/* Every warning the live model recorded, in the order raised. */
typedef void (*ts_warning_fn)(uint64_t ns, const char *kind, uint64_t task, uint64_t resource,
                              const char *text, void *arg);
int ts_store_read_warnings(const char *path, ts_warning_fn fn, void *arg, char *err,
                           size_t errlen);
/* Those of process pid only (0: all). */
int ts_store_read_warnings_pid(const char *path, int pid, ts_warning_fn fn, void *arg, char *err,
                               size_t errlen);

/* The processes a recording holds: the traced one first, then the
 * followed children.  A recording made before the process table (or a
 * crash snapshot) is one process: the session's pid and exe.  *n is
 * the count, which may exceed cap (only cap are filled). */
typedef struct ts_store_proc {
    int pid;
    int parent;           /* 0 for the traced process */
    char exe[256];
    char status[128];     /* "" for the traced process of an older recording */
    uint64_t dropped;
} ts_store_proc;
int ts_store_processes(const char *path, ts_store_proc *out, size_t cap, size_t *n, char *err,
                       size_t errlen);
/* The recording's status as reports print it: "complete: exit status 0"
 * (or whatever the recorder wrote at the end), "recording in progress"
 * while a writer still holds it, "cut short: <why>" when it stopped
 * before the end (the recorder died, or could not write). */
int ts_store_status(const char *path, char *buf, size_t len);

#define TS_STORE_VERSION TS_SCHEMA_VERSION

#endif
