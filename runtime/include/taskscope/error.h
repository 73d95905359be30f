/*
 * taskscope/error.h - error codes.
 *
 * Every call that can fail returns an int: 0 on success or a negative
 * errno-style code (-ECANCELED, -ETIMEDOUT, -ENOMEM, ...).  The few
 * conditions errno has no name for get codes of their own below, chosen far
 * outside errno's range so the two can never collide.
 */
#ifndef TASKSCOPE_ERROR_H
#define TASKSCOPE_ERROR_H

#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    /* End of a sequence: an async generator or as_completed has nothing
     * more to give.  Not a failure. */
    TS_EOF = -4095,
    /* The object belongs to another loop, or the call came from a thread
     * that does not run the object's loop. */
    TS_EWRONGLOOP = -4094,
    /* A suspending call was made outside a task (no running task). */
    TS_ENOTASK = -4093,
    /* A future or task result was read before it completed, or a future
     * was completed twice (asyncio's InvalidStateError). */
    TS_EINVALSTATE = -4092,
    /* The task group is shutting down or has finished: it takes no new
     * tasks. */
    TS_EGROUPCLOSED = -4091,
    /* A barrier was reset or aborted while tasks waited on it
     * (asyncio's BrokenBarrierError). */
    TS_EBROKEN = -4090,
    /* The async generator was closed; returned by ts_yield() so the
     * generator can run its cleanup (asyncio's GeneratorExit). */
    TS_ECLOSED = -4089,
    /* The queue was shut down (asyncio's QueueShutDown). */
    TS_ESHUTDOWN = -4088,
    /* A task group collected several errors (asyncio's ExceptionGroup);
     * ts_group_errors() lists them. */
    TS_EGROUP = -4087,
    /* The object was used after it was freed or its loop was closed, or a
     * task handle after every handle to it was given up.  The debug
     * runtime also reports where the object was created. */
    TS_EFREED = -4080,
};

/*
 * ts_strerror - a short English description of an error code.
 *
 * Accepts the negative codes returned by taskscope calls (errno values and
 * the TS_E* codes above).  Never returns NULL; unknown codes get a generic
 * "unknown error" text.  The string is static and must not be freed.
 */
const char *ts_strerror(int err);

/*
 * ts_err_name - the symbolic name of an error code ("ECANCELED",
 * "TS_EOF", ...), for logs and machine-readable output.  Never NULL.
 */
const char *ts_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
