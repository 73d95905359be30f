/*
 * otlp_http.h - sending OTLP traces to a collector over OTLP/HTTP
 * (protobuf body, POST to /v1/traces).  A small HTTP/1.1 client over a
 * plain TCP socket: http:// only, no TLS (point it at a collector on the
 * host or the local network; the collector speaks TLS onward), one
 * connection per batch (Connection: close).
 *
 * Retries: a batch the collector could not take now (connection refused
 * or reset, a timeout, HTTP 429, 502, 503, 504) is sent again after
 * 0.25 s, 0.5 s, 1 s, 2 s, 4 s (or the Retry-After the collector asked
 * for, up to 30 s); after that, or at once for any other answer (400, 404,
 * 413, ...), the export stops with a message naming the collector, the
 * status and the start of its reply.  A 2xx whose partial_success rejects
 * spans is an error too: nothing is dropped silently.
 */
#ifndef TS_TRACER_OTLP_HTTP_H
#define TS_TRACER_OTLP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"

typedef struct ts_otlp_http ts_otlp_http;

/* Parse url (http://host[:port][/path]; port 4318 and path /v1/traces when
 * left out).  0, or -EINVAL / -ENOMEM with a message in err. */
int ts_otlp_http_new(const char *url, ts_otlp_http **out, char *err, size_t errlen);
void ts_otlp_http_free(ts_otlp_http *h);
/* A ts_otlp_sink: arg is the ts_otlp_http. */
int ts_otlp_http_sink(const struct Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req,
                      size_t nspans, void *arg, char *err, size_t errlen);
/* Requests sent (accepted) and retries made so far. */
uint64_t ts_otlp_http_requests(const ts_otlp_http *h);
uint64_t ts_otlp_http_retries(const ts_otlp_http *h);

#endif
