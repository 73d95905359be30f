/*
 * config.c - the debug runtime's settings (taskscope/debug.h).
 *
 * Thresholds are copied into the segment header as well, so a tracer can
 * show them; the values here are what the loop and the watchdog read (a
 * reader can write the segment's copies, so they are never read back).
 * Set from any thread, read by the loops and the watchdog: atomics.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "taskscope/debug.h"
#include "trace.h"

static uint64_t block_ns, slow_ns;
static int slow_set;

static uint64_t env_ms(const char *name, uint64_t dflt) {
    const char *s = getenv(name);
    if (!s || !*s)
        return dflt;
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0 || isnan(v))
        return dflt;
    return (uint64_t)(v * 1e6);
}

uint64_t ts__trace_block_threshold_ns(void) {
    uint64_t v = __atomic_load_n(&block_ns, __ATOMIC_RELAXED);
    if (!v) {
        v = env_ms("TASKSCOPE_BLOCK_MS", 100000000ull);
        __atomic_store_n(&block_ns, v, __ATOMIC_RELAXED);
    }
    return v;
}

uint64_t ts__trace_slow_step_ns(void) {
    uint64_t v = __atomic_load_n(&slow_ns, __ATOMIC_RELAXED);
    if (!v && !__atomic_load_n(&slow_set, __ATOMIC_RELAXED)) {
        v = env_ms("TASKSCOPE_SLOW_MS", ts__trace_block_threshold_ns());
        __atomic_store_n(&slow_ns, v, __ATOMIC_RELAXED);
    }
    return v;
}

static int to_ns(double s, uint64_t *out) {
    if (isnan(s) || s < 0)
        return -EINVAL;
    __atomic_store_n(out, s > 1e9 ? UINT64_MAX : (uint64_t)(s * 1e9), __ATOMIC_RELAXED);
    return 0;
}

int ts_debug_set_ring_size(size_t bytes) { return ts__trace_set_ring_size(bytes); }

int ts_debug_set_block_threshold(double s) {
    int err = to_ns(s, &block_ns);
    ts_seg_header *h = ts__seg();
    if (!err && h)
        __atomic_store_n(&h->block_threshold_ns, block_ns, __ATOMIC_RELAXED);
    return err;
}

int ts_debug_set_slow_step_threshold(double s) {
    int err = to_ns(s, &slow_ns);
    __atomic_store_n(&slow_set, 1, __ATOMIC_RELAXED);
    ts_seg_header *h = ts__seg();
    if (!err && h)
        __atomic_store_n(&h->slow_step_ns, slow_ns, __ATOMIC_RELAXED);
    return err;
}

int ts_debug_flush(void) {
    ts__ring *r = ts__ring_self();
    if (!r)
        return -ENOTSUP;
    ts__ring_publish(r);
    return 0;
}
