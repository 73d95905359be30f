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

#endif
