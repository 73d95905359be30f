/*
 * export.h - timelines for ui.perfetto.dev and chrome://tracing (the
 * Chrome trace-event JSON format, which both open): a process per loop,
 * a track per task with its run slices and await spans (they alternate,
 * so slices nest trivially), wake and spawn flows between tracks, and
 * blocked-loop episodes and slow steps on the loop thread's own track.
 */
#ifndef TS_TRACER_EXPORT_H
#define TS_TRACER_EXPORT_H

#include <stdio.h>

/* Export the recording at path to out.  Returns 0 or a negative code with
 * a message in err. */
int ts_export_chrome(const char *path, FILE *out, char *err, size_t errlen);

#ifdef TS_HAVE_PROTOBUF
/* The recording at path as a Perfetto protobuf trace (a Trace message of
 * TracePackets: track descriptors, track events, interned names), written
 * to out as it is replayed: memory holds the live tasks, never the whole
 * recording (export_perfetto.c says what each event becomes).  0, or a
 * negative code with a message in err. */
int ts_export_perfetto(const char *path, FILE *out, char *err, size_t errlen);
/* The first bytes of every such export (its first packet), in buf; returns
 * their length (at most cap): how an earlier export is recognised. */
size_t ts_export_perfetto_header(unsigned char *buf, size_t cap);
#endif

#endif
