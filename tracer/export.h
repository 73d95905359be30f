/*
 * export.h - a recording in other tools' formats.  ts_export_chrome: the
 * Chrome trace-event JSON (ui.perfetto.dev and chrome://tracing open it):
 * a process per loop, a track per task with its run slices and await
 * spans (they alternate, so slices nest trivially), wake and spawn flows
 * between tracks, and blocked-loop episodes and slow steps on the loop
 * thread's own track.  With protobuf-c (TS_HAVE_PROTOBUF): the Perfetto
 * protobuf trace format and OpenTelemetry (OTLP) traces, both streamed.
 */
#ifndef TS_TRACER_EXPORT_H
#define TS_TRACER_EXPORT_H

#include <stdint.h>
#include <stdio.h>

/* Export the recording at path to out.  Returns 0 or a negative code with
 * a message in err. */
int ts_export_chrome(const char *path, FILE *out, char *err, size_t errlen);

/* The traced process's pid (0 if unknown: every event is its), for a
 * format that draws one process (ids are per process, so a recording's
 * followed children would mix with it); says on stderr which children
 * it leaves out (the chrome format draws every process). */
int ts_export_one_pid(const char *path, const char *format);

/* The options of ts_export_otlp (below; declared with or without
 * protobuf, so that the command line can parse them either way). */
typedef struct ts_otlp_opts {
    const char *service;         /* service.name; NULL: the executable's name */
    uint64_t await_threshold_ns; /* awaits at least this long are span events */
    size_t batch;                /* spans per request (0: 512) */
} ts_otlp_opts;

/* One step of a task's critical path (issue 19): waiter's wait that
 * ended at wake_ns (its task_wake event's ns) was caused by task cause
 * (the lock holder, the awaited task, the waker: why.h). */
typedef struct ts_pf_edge {
    uint64_t waiter, cause, wake_ns;
} ts_pf_edge;

#ifdef TS_HAVE_PROTOBUF
/* The recording at path as a Perfetto protobuf trace (a Trace message of
 * TracePackets: track descriptors, track events, interned names), written
 * to out as it is replayed: memory holds the live tasks, never the whole
 * recording (export_perfetto.c says what each event becomes).  0, or a
 * negative code with a message in err. */
int ts_export_perfetto(const char *path, FILE *out, char *err, size_t errlen);
/* The same, with a critical path drawn: for each of edges[0..n) (any
 * order), an instant "critical path" on the cause's track at wake_ns,
 * with a flow from it to the waiter's next run slice (beside the wake's
 * own flow). */
int ts_export_perfetto_critical(const char *path, FILE *out, const ts_pf_edge *edges, size_t n,
                                char *err, size_t errlen);
/* The first bytes of every such export (its first packet), in buf; returns
 * their length (at most cap): how an earlier export is recognised. */
size_t ts_export_perfetto_header(unsigned char *buf, size_t cap);

/*
 * OpenTelemetry traces (export_otlp.c): one span per task, its parent the
 * spawning task's span, one trace per task tree (a task spawned outside
 * any task starts one).  Spans are made as tasks finish and handed to the
 * sink in batches of ts_otlp_opts.batch, as ExportTraceServiceRequest
 * messages; tasks unfinished at the end of the recording follow, ended at
 * its last event.  Memory holds the live tasks and one batch.
 */
struct Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest;
/* Takes one batch; returns 0, or a negative code with a message in err
 * (the export stops there). */
typedef int (*ts_otlp_sink)(const struct Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req,
                            size_t nspans, void *arg, char *err, size_t errlen);
int ts_export_otlp(const char *path, const ts_otlp_opts *o, ts_otlp_sink sink, void *arg,
                   uint64_t *spans, char *err, size_t errlen);
/* Sinks: protobuf (requests concatenated: one request by protobuf's merge
 * rule) or OTLP/JSON lines, to the FILE * given as arg. */
int ts_otlp_sink_protobuf(const struct Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req,
                          size_t nspans, void *arg, char *err, size_t errlen);
int ts_otlp_sink_json(const struct Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req,
                      size_t nspans, void *arg, char *err, size_t errlen);
#endif

#endif
