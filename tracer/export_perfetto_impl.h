/*
 * export_perfetto_impl.h - the packet writer behind export_perfetto.c:
 * every packet goes out as it is made (one Trace message holding one
 * TracePacket each; concatenated Trace messages are one Trace by protobuf's
 * merge rule for repeated fields), so memory does not grow with the
 * recording.  All encoding is protobuf-c's, generated from
 * third_party/perfetto; nothing here writes wire format by hand.
 *
 * Tracks: one process track for the traced process, a thread track per
 * loop thread (blocked episodes and slow steps), an async track per task
 * under the process (run and await slices, instants), and two counter
 * tracks per loop (lag, ready-queue length).  Each track keeps the time of
 * its last event: an event is never stamped before it, so timestamps are
 * monotonic per track even where the replay's order and its clock disagree
 * by a few nanoseconds (events from different threads).
 */
#ifndef TS_TRACER_EXPORT_PERFETTO_IMPL_H
#define TS_TRACER_EXPORT_PERFETTO_IMPL_H

#include <stdint.h>
#include <stdio.h>

#include "taskscope_subset.pb-c.h"

/* Event and annotation names interned once, in the first packet. */
enum pf_name {
    PF_N_RUN = 1, PF_N_SPAWN, PF_N_WAKE, PF_N_CREATED, PF_N_CANCEL, PF_N_DONE, PF_N_FAILED,
    PF_N_CANCELLED, PF_N_LOST, PF_N_SLOW_STEP, PF_N_WARNING, PF_N_LAG, PF_N_READY,
    PF_N_CRITICAL, PF_N_AWAIT0 /* + ts_wait_kind, 0..PF_WAIT_KINDS-1 */
};
#define PF_WAIT_KINDS 17

enum pf_arg {
    PF_A_SITE = 1, PF_A_PARENT, PF_A_STATUS, PF_A_BY_TASK, PF_A_REQUESTS, PF_A_MESSAGE,
    PF_A_ERR, PF_A_TASK, PF_A_THREAD_STATE, PF_A_SYSCALL, PF_A_STACK, PF_A_DURATION_NS,
    PF_A_ELAPSED_NS, PF_A_KIND, PF_A_OBJECT, PF_A_WAITER, PF_A_COUNT
};

/* Track uuids: small tags in the low bits keep them distinct per id. */
#define PF_PROCESS_UUID 7u
static inline uint64_t pf_task_uuid(uint64_t task) { return task << 3 | 1; }
static inline uint64_t pf_loop_uuid(uint64_t loop) { return loop << 3 | 2; }
static inline uint64_t pf_lag_uuid(uint64_t loop) { return loop << 3 | 3; }
static inline uint64_t pf_ready_uuid(uint64_t loop) { return loop << 3 | 4; }

/* Up to PF_MAX_ARGS debug annotations on one event; a string value is
 * copied into the event's own buffer (the model's strings may move). */
#define PF_MAX_ARGS 8
#define PF_MAX_FRAMES 32
typedef struct pf_event {
    Perfetto__Protos__TrackEvent ev;
    Perfetto__Protos__DebugAnnotation args[PF_MAX_ARGS];
    Perfetto__Protos__DebugAnnotation *argp[PF_MAX_ARGS];
    Perfetto__Protos__DebugAnnotation frames[PF_MAX_FRAMES];
    Perfetto__Protos__DebugAnnotation *framep[PF_MAX_FRAMES];
    uint64_t flow, end_flow;
    uint64_t end_flows[2];    /* end_flow and end_flow2, as pf_emit_event sends them */
    uint64_t end_flow2;       /* a second flow ending here (a critical path's, beside a wake's) */
    char text[PF_MAX_ARGS][256];
} pf_event;

typedef struct pf_writer {
    FILE *out;
    int started;              /* the first packet (with the interned names) is out */
    int error;                /* a write failed */
    uint64_t packets;
    uint8_t *mem;             /* the header only: pack into memory */
    size_t memlen, memcap;
} pf_writer;

/* Start an event of type on track, named by an interned name (or, with
 * name_iid 0, by the string name). */
void pf_event_init(pf_event *e, int type, uint64_t track, uint64_t name_iid, const char *name);
void pf_arg_uint(pf_event *e, enum pf_arg name, uint64_t v);
void pf_arg_int(pf_event *e, enum pf_arg name, int64_t v);
void pf_arg_str(pf_event *e, enum pf_arg name, const char *s);
/* A "stack" annotation: an array of frame strings (at most PF_MAX_FRAMES;
 * frames[i] must live until pf_emit_event returns). */
void pf_arg_frames(pf_event *e, const char *const *frames, size_t n);
void pf_emit_event(pf_writer *w, pf_event *e, uint64_t ns);
void pf_emit_counter(pf_writer *w, uint64_t track, uint64_t ns, int64_t v);

/* Track descriptors. */
void pf_describe_process(pf_writer *w, int32_t pid, const char *name);
void pf_describe_loop(pf_writer *w, uint64_t loop, int32_t pid, uint32_t tid);
void pf_describe_task(pf_writer *w, uint64_t task, const char *name, const char *site);

#endif
