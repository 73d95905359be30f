/*
 * clock.h - the event clock: the CPU's cycle counter where there is a
 * cheap one (rdtsc ~12 ns here against ~28 ns for clock_gettime), else
 * CLOCK_MONOTONIC in ns.  The segment header carries the calibration that
 * turns ticks into nanoseconds.
 */
#ifndef TS_TRACE_CLOCK_H
#define TS_TRACE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t ts__mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t ts__ticks(void) {
#if defined(__x86_64__)
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
#elif defined(__aarch64__)
    uint64_t v;
    __asm__ volatile("mrs %0, cntvct_el0" : "=r"(v));
    return v;
#else
    return ts__mono_ns();
#endif
}

/* Both clocks at one moment, for a calibration (ticks per ns is a
 * difference of two such pairs over a window of a few ms).  Two reads in
 * a row are not one moment: a preemption or a page fault between them
 * (milliseconds on a loaded machine) is an error of its whole length,
 * and a 6 ms gap over a 2 ms window once made 300 ms steps read 2 s.  So
 * the cycle counter is read on either side of CLOCK_MONOTONIC, a few
 * times, and the tightest bracket is kept (its middle is the moment). */
static inline void ts__clock_pair(uint64_t *ticks, uint64_t *mono_ns) {
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 4; i++) {
        uint64_t a = ts__ticks(), m = ts__mono_ns(), b = ts__ticks();
        if (b >= a && b - a < best) {
            best = b - a;
            *ticks = a + (b - a) / 2;
            *mono_ns = m;
        }
    }
    if (best == UINT64_MAX) { /* the counter went back every time: no better pair */
        *ticks = ts__ticks();
        *mono_ns = ts__mono_ns();
    }
}

#endif
