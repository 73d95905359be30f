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

/* Both clocks at one instant, for a calibration: the ticks read
 * between two reads of CLOCK_MONOTONIC no more than 20 us apart, paired
 * with their midpoint.  Read back to back (ticks, then ns), a thread
 * preempted in between (a whole time slice, 30 ms, on a loaded machine)
 * paired ticks with a much later ns: a rate measured from such a pair
 * over 2 ms came out 16 times too slow, and a 110 ms step read 2 s.
 * A few tries; the last pair read if none is tight. */
static inline void ts__clock_pair(uint64_t *ticks, uint64_t *mono_ns) {
    for (int tries = 0;; tries++) {
        uint64_t a = ts__mono_ns(), t = ts__ticks(), b = ts__mono_ns();
        if ((b >= a && b - a < 20000) || tries == 7) {
            *ticks = t;
            *mono_ns = a + (b >= a ? (b - a) / 2 : 0);
            return;
        }
    }
}

#endif
