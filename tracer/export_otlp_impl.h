/*
 * export_otlp_impl.h - what export_otlp.c (spans from a recording),
 * export_otlp_json.c (OTLP/JSON) and otlp_http.c (OTLP/HTTP) share: the
 * protobuf-c types generated from third_party/opentelemetry-proto, under
 * shorter names, and the arena a batch of spans is built in.
 */
#ifndef TS_TRACER_EXPORT_OTLP_IMPL_H
#define TS_TRACER_EXPORT_OTLP_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "trace_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest otlp_request;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse otlp_response;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans otlp_resource_spans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans otlp_scope_spans;
typedef Opentelemetry__Proto__Trace__V1__Span otlp_span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event otlp_event;
typedef Opentelemetry__Proto__Trace__V1__Status otlp_status;
typedef Opentelemetry__Proto__Common__V1__KeyValue otlp_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue otlp_value;
typedef Opentelemetry__Proto__Resource__V1__Resource otlp_resource;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope otlp_scope;

/* A batch's memory: chunks freed together once the batch is sent. */
typedef struct otlp_arena {
    struct otlp_chunk *head;
    size_t used, cap;
} otlp_arena;

void *otlp_alloc(otlp_arena *a, size_t size);       /* zeroed; NULL if out of memory */
char *otlp_strdup(otlp_arena *a, const char *s);    /* valid UTF-8 (bad bytes as U+FFFD) */
void otlp_arena_free(otlp_arena *a);

/* Write req as one line of OTLP/JSON (the OpenTelemetry Collector's
 * file receiver reads one ExportTraceServiceRequest per line).  0 or -EIO. */
int otlp_write_json(FILE *out, const otlp_request *req);

#endif
