/*
 * zpack.h - zero-word packing: a record as a bitmap of its nonzero
 * 64-bit words followed by those words.  Replay checkpoints keep
 * thousands of task records and event rings that are mostly zeros
 * (histogram buckets, cancel history, unused ring slots); packed they
 * take less than half the memory, and unpacking is a copy.
 *
 * Records are copied byte for byte (padding included), so packing then
 * unpacking gives back the same bytes, and two records pack to the same
 * words exactly when their bytes are equal.
 */
#ifndef TS_ZPACK_H
#define TS_ZPACK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The most words a packed record of `bytes` bytes can take. */
#define TS_ZPACK_MAX_WORDS(bytes) (((bytes) + 7) / 8 + ((bytes) + 511) / 512)

/* Pack the `bytes` bytes at src into out (TS_ZPACK_MAX_WORDS words);
 * returns the words used. */
static inline size_t ts_zpack(const void *src, size_t bytes, uint64_t *out) {
    size_t nw = (bytes + 7) / 8, nmask = (nw + 63) / 64, n = nmask;
    memset(out, 0, nmask * sizeof *out);
    for (size_t i = 0; i < nw; i++) {
        uint64_t w = 0;
        memcpy(&w, (const char *)src + i * 8, i * 8 + 8 <= bytes ? 8 : bytes - i * 8);
        if (w) {
            out[i / 64] |= 1ull << (i % 64);
            out[n++] = w;
        }
    }
    return n;
}

/* Unpack in (from ts_zpack of a `bytes`-byte record) into dst. */
static inline void ts_zunpack(const uint64_t *in, size_t bytes, void *dst) {
    size_t nw = (bytes + 7) / 8, n = (nw + 63) / 64;
    memset(dst, 0, bytes);
    for (size_t i = 0; i < nw; i++)
        if (in[i / 64] >> (i % 64) & 1) {
            uint64_t w = in[n++];
            memcpy((char *)dst + i * 8, &w, i * 8 + 8 <= bytes ? 8 : bytes - i * 8);
        }
}

#endif
