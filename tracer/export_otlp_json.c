/*
 * export_otlp_json.c - an ExportTraceServiceRequest as OTLP/JSON, the
 * protobuf JSON mapping with OTLP's own rules
 * (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
 * lowerCamelCase field names, trace and span ids as hex strings (not
 * base64), enums as integers, 64-bit integers as decimal strings, fields
 * at their default value left out.  One request per line: what the
 * OpenTelemetry Collector's otlpjsonfile receiver reads.  Strings go
 * through ts_json_put, so any bytes a task name holds come out as valid
 * JSON.
 */
#include <errno.h>
#include <inttypes.h>

#include "export_otlp_impl.h"
#include "textsafe.h"

static void hex(FILE *out, const char *key, ProtobufCBinaryData b, int *first) {
    if (!b.len)
        return;
    fprintf(out, "%s\"%s\":\"", *first ? "" : ",", key);
    for (size_t i = 0; i < b.len; i++)
        fprintf(out, "%02x", b.data[i]);
    fputc('"', out);
    *first = 0;
}

static void str(FILE *out, const char *key, const char *s, int *first) {
    if (!s || !*s)
        return;
    fprintf(out, "%s\"%s\":", *first ? "" : ",", key);
    ts_json_put(out, s);
    *first = 0;
}

static void u64(FILE *out, const char *key, uint64_t v, int *first) {
    if (!v)
        return;
    fprintf(out, "%s\"%s\":\"%" PRIu64 "\"", *first ? "" : ",", key, v);
    *first = 0;
}

static void num(FILE *out, const char *key, uint64_t v, int *first) {
    if (!v)
        return;
    fprintf(out, "%s\"%s\":%" PRIu64, *first ? "" : ",", key, v);
    *first = 0;
}

static void value(FILE *out, const otlp_value *v) {
    fputc('{', out);
    switch (v->value_case) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
        fputs("\"stringValue\":", out);
        ts_json_put(out, v->string_value);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
        fprintf(out, "\"intValue\":\"%" PRId64 "\"", v->int_value);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
        fprintf(out, "\"boolValue\":%s", v->bool_value ? "true" : "false");
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
        fprintf(out, "\"doubleValue\":%.17g", v->double_value);
        break;
    default: /* the exporter sets no other kind */
        break;
    }
    fputc('}', out);
}

static void attributes(FILE *out, otlp_kv *const *kv, size_t n, int *first) {
    if (!n)
        return;
    fprintf(out, "%s\"attributes\":[", *first ? "" : ",");
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ",{\"key\":" : "{\"key\":", out);
        ts_json_put(out, kv[i]->key);
        fputs(",\"value\":", out);
        value(out, kv[i]->value);
        fputc('}', out);
    }
    fputc(']', out);
    *first = 0;
}

static void span(FILE *out, const otlp_span *s) {
    int first = 1;
    fputc('{', out);
    hex(out, "traceId", s->trace_id, &first);
    hex(out, "spanId", s->span_id, &first);
    hex(out, "parentSpanId", s->parent_span_id, &first);
    str(out, "name", s->name, &first);
    num(out, "kind", (uint64_t)s->kind, &first);
    u64(out, "startTimeUnixNano", s->start_time_unix_nano, &first);
    u64(out, "endTimeUnixNano", s->end_time_unix_nano, &first);
    attributes(out, s->attributes, s->n_attributes, &first);
    if (s->n_events) {
        fputs(",\"events\":[", out);
        for (size_t i = 0; i < s->n_events; i++) {
            const otlp_event *e = s->events[i];
            int f = 1;
            fputs(i ? ",{" : "{", out);
            u64(out, "timeUnixNano", e->time_unix_nano, &f);
            str(out, "name", e->name, &f);
            attributes(out, e->attributes, e->n_attributes, &f);
            fputc('}', out);
        }
        fputc(']', out);
    }
    num(out, "droppedEventsCount", s->dropped_events_count, &first);
    if (s->status) {
        int f = 1;
        fputs(",\"status\":{", out);
        str(out, "message", s->status->message, &f);
        num(out, "code", (uint64_t)s->status->code, &f);
        fputc('}', out);
    }
    fputc('}', out);
}

int otlp_write_json(FILE *out, const otlp_request *req) {
    fputs("{\"resourceSpans\":[", out);
    for (size_t r = 0; r < req->n_resource_spans; r++) {
        const otlp_resource_spans *rs = req->resource_spans[r];
        int first = 1;
        fputs(r ? ",{\"resource\":{" : "{\"resource\":{", out);
        if (rs->resource)
            attributes(out, rs->resource->attributes, rs->resource->n_attributes, &first);
        fputs("},\"scopeSpans\":[", out);
        for (size_t k = 0; k < rs->n_scope_spans; k++) {
            const otlp_scope_spans *ss = rs->scope_spans[k];
            int f = 1;
            fputs(k ? ",{\"scope\":{" : "{\"scope\":{", out);
            str(out, "name", ss->scope ? ss->scope->name : NULL, &f);
            str(out, "version", ss->scope ? ss->scope->version : NULL, &f);
            fputs("},\"spans\":[", out);
            for (size_t i = 0; i < ss->n_spans; i++) {
                if (i)
                    fputc(',', out);
                span(out, ss->spans[i]);
            }
            fputs("]}", out);
        }
        fputs("]}", out);
    }
    fputs("]}\n", out);
    return ferror(out) ? -EIO : 0;
}
