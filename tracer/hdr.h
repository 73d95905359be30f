/*
 * hdr.h - a high-dynamic-range histogram with HdrHistogram's semantics
 * (Gil Tene's HdrHistogram, written here from its description).
 *
 * Values from 1 to `highest` are recorded with `sigfigs` significant
 * decimal digits: any two values that a report could tell apart at that
 * precision land in different counts.  The layout is HdrHistogram's: a
 * run of linear sub-buckets per power-of-two bucket, so the relative
 * error of every value stays below 10^-sigfigs (1% at 2 digits) whatever
 * its magnitude, in a fixed array (about 35 KB for 1 ns .. 1000 s at 2
 * digits).  Values above `highest` are counted at `highest`; the exact
 * minimum and maximum are kept beside the counts.
 *
 * ts_hdr_value_at(h, p) is HdrHistogram's getValueAtPercentile: the
 * highest value equivalent (at the stated precision) to the value below
 * which p percent of the recorded values fall, never above the exact max.
 */
#ifndef TS_TRACER_HDR_H
#define TS_TRACER_HDR_H

#include <stdint.h>

typedef struct ts_hdr {
    uint64_t highest;
    int sigfigs;
    int unit_magnitude;           /* log2 of the lowest discernible value (here 0) */
    int sub_half_magnitude;       /* log2 of half the sub-buckets per bucket */
    uint32_t sub_count;           /* sub-buckets per bucket, a power of two */
    uint32_t counts_len;
    uint64_t total, min, max;
    uint64_t *counts;             /* NULL until the first value */
} ts_hdr;

/* Prepare h for values 1..highest at sigfigs (1..5) digits; allocates
 * nothing yet.  Returns 0 or -EINVAL. */
int ts_hdr_init(ts_hdr *h, uint64_t highest, int sigfigs);
void ts_hdr_free(ts_hdr *h);
/* Count one value (0 counts as 1 ns's bucket).  Returns 0 or -ENOMEM. */
int ts_hdr_record(ts_hdr *h, uint64_t v);
/* Add every count of src (same highest and sigfigs) to dst. */
int ts_hdr_merge(ts_hdr *dst, const ts_hdr *src);
/* The value at percentile p (0..100); 0 when nothing was recorded. */
uint64_t ts_hdr_value_at(const ts_hdr *h, double p);
/* The range of values counted together with v: [lowest, highest]. */
uint64_t ts_hdr_lowest_equivalent(const ts_hdr *h, uint64_t v);
uint64_t ts_hdr_highest_equivalent(const ts_hdr *h, uint64_t v);

/* The precision every report uses: 2 significant digits, up to 1000 s. */
#define TS_HDR_SIGFIGS 2
#define TS_HDR_HIGHEST 1000000000000ull

#endif
