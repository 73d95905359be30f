/*
 * cancel.c - the tracer side of a cancel request (cancel.h): the checks
 * made before anything is sent, the post, and the answer's wording, so
 * `taskscope cancel` and the TUI refuse and report alike.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cancel.h"
#include "model.h"
#include "reader.h"

int ts_cancel_post(ts_session *s, uint64_t task, const char *msg, ts_cancel_req *req,
                   char *why, size_t len) {
    memset(req, 0, sizeof *req);
    req->task = task;
    if (!s->reader || !s->model) {
        snprintf(why, len, "cannot be cancelled: no live debug-runtime session");
        return -ENOTCONN;
    }
    const tm_task *t = tm_model_task(s->model, task);
    if (!t || t->placeholder) {
        snprintf(why, len, "does not exist (see `taskscope ps PID`)");
        return -ENOENT;
    }
    snprintf(req->name, sizeof req->name, "%s", tm_task_name(s->model, t));
    if (t->state >= TM_DONE) {
        snprintf(why, len, "has already finished (%s)", tm_task_state_name(t));
        return -EALREADY;
    }
    int rc = ts_reader_command_post(s->reader, TS_COMMAND_CANCEL, t->loop, task, msg, &req->seq);
    if (rc) {
        snprintf(why, len, "%s", ts_reader_error(s->reader));
        return rc < 0 ? rc : -EIO;
    }
    return 0;
}

int ts_cancel_result(ts_session *s, const ts_cancel_req *req, int *result) {
    return s->reader ? ts_reader_command_result(s->reader, req->seq, result) : 0;
}

void ts_cancel_result_text(int result, char *buf, size_t len) {
    switch (result) {
    case 0: snprintf(buf, len, "was cancelled"); break;
    case -ESRCH: snprintf(buf, len, "is no longer there (finished and freed)"); break;
    case -EALREADY: snprintf(buf, len, "has already finished"); break;
    case -ENOENT: snprintf(buf, len, "belongs to a loop the process no longer has"); break;
    case -EPERM: snprintf(buf, len, "was not cancelled: the runtime refused the requester"); break;
    default: snprintf(buf, len, "was not cancelled: %s", strerror(-result)); break;
    }
}
