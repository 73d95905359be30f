/*
 * hdr.c - see hdr.h.
 *
 * Index arithmetic (HdrHistogram's): bucket b covers values up to
 * sub_count << b; its sub-bucket i (sub_count/2 <= i < sub_count, except
 * bucket 0 which also has the lower half) holds the values whose top
 * bits are i, i.e. [i << b, (i + 1) << b).  The counts array stores
 * bucket 0 whole and only the upper half of every later bucket, since
 * the lower half of bucket b is bucket b-1.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hdr.h"

int ts_hdr_init(ts_hdr *h, uint64_t highest, int sigfigs) {
    memset(h, 0, sizeof *h);
    if (sigfigs < 1 || sigfigs > 5 || highest < 2)
        return -EINVAL;
    uint64_t largest_single_unit = 2;  /* 2 * 10^sigfigs */
    for (int i = 0; i < sigfigs; i++)
        largest_single_unit *= 10;
    int sub_magnitude = 0;             /* ceil(log2(2 * 10^sigfigs)) */
    while ((1ull << sub_magnitude) < largest_single_unit)
        sub_magnitude++;
    h->sigfigs = sigfigs;
    h->highest = highest;
    h->unit_magnitude = 0;
    h->sub_half_magnitude = sub_magnitude - 1;
    h->sub_count = 1u << sub_magnitude;
    int buckets = 1;
    uint64_t untrackable = (uint64_t)h->sub_count;
    while (untrackable <= highest && untrackable < (1ull << 62)) {
        untrackable <<= 1;
        buckets++;
    }
    h->counts_len = (uint32_t)(buckets + 1) * (h->sub_count / 2);
    return 0;
}

void ts_hdr_free(ts_hdr *h) {
    free(h->counts);
    h->counts = NULL;
}

static int bucket_of(const ts_hdr *h, uint64_t v) {
    uint64_t mask = (uint64_t)(h->sub_count - 1) << h->unit_magnitude;
    int pow2ceiling = 64 - __builtin_clzll(v | mask);
    return pow2ceiling - h->unit_magnitude - (h->sub_half_magnitude + 1);
}

static uint32_t index_of(const ts_hdr *h, uint64_t v) {
    int b = bucket_of(h, v);
    uint64_t sub = v >> (b + h->unit_magnitude);
    return (uint32_t)(((uint64_t)(b + 1) << h->sub_half_magnitude) + sub - h->sub_count / 2);
}

/* The lowest value counted at index i. */
static uint64_t value_of(const ts_hdr *h, uint32_t i) {
    int b = (int)(i >> h->sub_half_magnitude) - 1;
    uint64_t sub = (i & (h->sub_count / 2 - 1)) + h->sub_count / 2;
    if (b < 0) {
        sub -= h->sub_count / 2;
        b = 0;
    }
    return sub << (b + h->unit_magnitude);
}

uint64_t ts_hdr_lowest_equivalent(const ts_hdr *h, uint64_t v) {
    int b = bucket_of(h, v);
    return (v >> (b + h->unit_magnitude)) << (b + h->unit_magnitude);
}

uint64_t ts_hdr_highest_equivalent(const ts_hdr *h, uint64_t v) {
    int b = bucket_of(h, v);
    uint64_t sub = v >> (b + h->unit_magnitude);
    int adjusted = sub >= h->sub_count ? b + 1 : b;
    return ts_hdr_lowest_equivalent(h, v) + (1ull << (h->unit_magnitude + adjusted)) - 1;
}

int ts_hdr_record(ts_hdr *h, uint64_t v) {
    if (!h->counts) {
        h->counts = calloc(h->counts_len, sizeof *h->counts);
        if (!h->counts)
            return -ENOMEM;
    }
    if (!h->total || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->total++;
    uint64_t c = v ? v : 1;
    if (c > h->highest)
        c = h->highest;
    uint32_t i = index_of(h, c);
    h->counts[i < h->counts_len ? i : h->counts_len - 1]++;
    return 0;
}

int ts_hdr_merge(ts_hdr *dst, const ts_hdr *src) {
    if (!src->total)
        return 0;
    if (dst->counts_len != src->counts_len || dst->sigfigs != src->sigfigs)
        return -EINVAL;
    if (!dst->counts) {
        dst->counts = calloc(dst->counts_len, sizeof *dst->counts);
        if (!dst->counts)
            return -ENOMEM;
    }
    for (uint32_t i = 0; i < src->counts_len; i++)
        dst->counts[i] += src->counts[i];
    if (!dst->total || src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    dst->total += src->total;
    return 0;
}

uint64_t ts_hdr_value_at(const ts_hdr *h, double p) {
    if (!h->total || !h->counts)
        return 0;
    if (p > 100)
        p = 100;
    if (p < 0)
        p = 0;
    uint64_t want = (uint64_t)(p / 100 * (double)h->total + 0.5);
    if (want < 1)
        want = 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < h->counts_len; i++) {
        seen += h->counts[i];
        if (seen >= want) {
            uint64_t v = ts_hdr_highest_equivalent(h, value_of(h, i));
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}
