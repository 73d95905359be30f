/*
 * taskscope/taskscope.h - the whole taskscope runtime API.
 *
 * An asyncio-style runtime for C: an event loop per thread, tasks that are
 * stackful coroutines, and the asyncio toolbox around them.  Link with
 * `pkg-config --libs taskscope` (release) or `taskscope-debug` (traced).
 */
#ifndef TASKSCOPE_H
#define TASKSCOPE_H

#define TS_VERSION_MAJOR 0
#define TS_VERSION_MINOR 1
#define TS_VERSION_PATCH 0

#include "error.h"
#include "task.h"
#include "loop.h"
#include "future.h"
#include "timeout.h"
#include "combine.h"
#include "group.h"
#include "sync.h"
#include "queue.h"
#include "generator.h"
#include "with.h"
#include "executor.h"
#include "diag.h"
#include "io.h"
#include "debug.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ts_version - "0.1.0"; ts_is_debug_runtime - 1 in libtaskscope-debug. */
const char *ts_version(void);
int ts_is_debug_runtime(void);

#ifdef __cplusplus
}
#endif
#endif
