/*
 * cancel.h - ask a live process on the debug runtime to cancel one of its
 * tasks, through the runtime's command channel (reader_command.c,
 * runtime/src/trace/command.c).  Used by `taskscope cancel` (cli_cancel.c)
 * and the TUI's cancel key; neither blocks here: post, then poll.
 *
 * The task is looked up first in the session's model (unknown or finished
 * tasks are refused with no request sent); the loop that owns it then
 * checks again and cancels it on its own thread, as ts_task_cancel would,
 * recording the requesting process as the canceller.
 */
#ifndef TS_TRACER_CANCEL_H
#define TS_TRACER_CANCEL_H

#include <stddef.h>
#include <stdint.h>

#include "session.h"

typedef struct ts_cancel_req {
    uint64_t seq;        /* the command channel's request number */
    uint64_t task;
    char name[160];      /* the task's name when posted (raw: escape it) */
} ts_cancel_req;

/* Post a cancel of task (with msg, may be NULL) to the process s reads.
 * Returns 0 (req filled), or: -ENOENT the task is not in the model (or a
 * placeholder), -EALREADY it has finished; in both cases why gets the
 * rest of a sentence after "task #N NAME" and req->name is filled as far
 * as known.  Any other negative errno: posting failed (not attached,
 * -EBUSY another requester waits, -E2BIG msg too long), why gets the
 * reader's sentence. */
int ts_cancel_post(ts_session *s, uint64_t task, const char *msg, ts_cancel_req *req,
                   char *why, size_t len);

/* 1 when the loop answered (*result: 0 applied, else the runtime's
 * negative errno), 0 not yet.  Keep polling the session meanwhile: the
 * ring must not fill. */
int ts_cancel_result(ts_session *s, const ts_cancel_req *req, int *result);

/* What a non-zero result means, as the rest of a sentence after
 * "task #N NAME" ("has already finished"). */
void ts_cancel_result_text(int result, char *buf, size_t len);

#endif
