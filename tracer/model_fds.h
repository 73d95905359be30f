/*
 * model_fds.h - what each fd of the process is, from fd_info events
 * (issue 19), for AWAITS ("fd 7 (tcp 127.0.0.1:5432 <- ...)").
 */
#ifndef TS_MODEL_FDS_H
#define TS_MODEL_FDS_H

#include "model.h"

struct ts_ev_fd_info;

/* Apply one fd_info event: fd's text is now "KIND ADDRESS". */
void tm__on_fd_info(tm_model *m, const struct ts_ev_fd_info *e);
void tm__fds_free(tm_model *m);
/* dst is a shallow copy of src: give it its own table.  0 or -1 (then
 * dst has none, which the usual free handles). */
int tm__fds_clone(tm_model *dst, const tm_model *src);

/* "tcp 127.0.0.1:5432 <- 127.0.0.1:40122" for fd, or NULL if the runtime
 * never said.  Owned by m, valid until its next event.  User-controlled
 * text: escape it on a terminal. */
const char *tm_model_fd_text(const tm_model *m, int64_t fd);

#endif
