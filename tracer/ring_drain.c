/*
 * ring_drain.c - one poll: copy each ring's new bytes out of shared
 * memory, validate and decode them, merge the rings' events by
 * timestamp and deliver them.
 *
 * What the producer guarantees (runtime/src/trace/ring.c):
 *   - head is published (release) after the bytes it covers; a record
 *     never crosses a TS_PAGE_SIZE page, so every page starts on a record;
 *   - it never writes into the page after the one its published head is
 *     in without publishing first.  So with no live reader, everything
 *     from rd_window_start(head) up to head is intact, and anything older
 *     may already be overwritten;
 *   - with a live reader it never writes more than ring_size past tail.
 *
 * What this file guarantees in return: it reads only [tail, head) of a
 * ring, copies before decoding, re-reads head after the copy and throws
 * away (and counts as lost) any page the producer may have overwritten
 * while we copied; every record is checked (size >= 16, a multiple of 8,
 * inside its page and below head, at least its type's size, tails that
 * fit) and bad data makes us skip to the next page, counted.  Every loop
 * advances by at least 8 bytes within a bounded copy, so a poll always
 * ends.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reader_impl.h"

#define PAGE ((uint64_t)TS_PAGE_SIZE)

static inline uint64_t page_floor(uint64_t p) { return p & ~(PAGE - 1); }

static inline void add_sat(uint64_t *a, uint64_t b) { *a = *a + b < *a ? UINT64_MAX : *a + b; }

uint64_t rd_window_start(uint64_t head, uint32_t ring_size) {
    uint64_t end = page_floor(head) + PAGE;
    return end > ring_size ? end - ring_size : 0;
}

/* ---- calibration ------------------------------------------------------------------ */

/* Read the two (ticks, ns) pairs under their seqlock.  A writer that
 * keeps the sequence odd (or a hostile one) gets a bounded number of
 * tries, after which the previous calibration stays. */
static void read_calibration(ts_reader *rd) {
    for (int tries = 0; tries < 64; tries++) {
        uint64_t s1 = rd_load64(rd, SEG_OFF(calib_seq));
        if (s1 & 1)
            continue;
        uint64_t t0 = rd_load64(rd, SEG_OFF(ticks0)), m0 = rd_load64(rd, SEG_OFF(mono0_ns));
        uint64_t t1 = rd_load64(rd, SEG_OFF(ticks1)), m1 = rd_load64(rd, SEG_OFF(mono1_ns));
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (rd_load64(rd, SEG_OFF(calib_seq)) != s1)
            continue;
        double k = 1.0;
        if (t1 > t0 && m1 > m0) {
            k = (double)(m1 - m0) / (double)(t1 - t0);
            if (!(k > 1e-4 && k < 1e4))
                k = 1.0;
        }
        rd->ticks0 = t0;
        rd->mono0 = m0;
        rd->ns_per_tick = k;
        rd->calib_end_ns = m1 > m0 ? m1 : m0;
        return;
    }
}

uint64_t ts_reader_ns(const ts_reader *rd, uint64_t ticks) {
    double d = (double)(int64_t)(ticks - rd->ticks0) * rd->ns_per_tick;
    if (d < -(double)rd->mono0)
        return 0;
    if (d > 9e18)
        return UINT64_MAX;
    return rd->mono0 + (uint64_t)(int64_t)d;
}

/* ---- decoding ------------------------------------------------------------------------ */

static bool push_event(ts_reader *rd, uint32_t ring, const ts_ev_header *h, uint32_t off) {
    if (rd->ev_n == rd->ev_cap) {
        size_t cap = rd->ev_cap ? rd->ev_cap * 2 : 4096;
        struct rd_pending *n = realloc(rd->ev, cap * sizeof *n);
        if (!n)
            return false;
        rd->ev = n;
        rd->ev_cap = cap;
    }
    const struct rd_ring *r = &rd->rings[ring];
    rd->ev[rd->ev_n++] = (struct rd_pending){
        .ts = h->ts, .off = off, .tid = r->tid, .ring = (uint16_t)ring, .role = (uint16_t)r->role};
    return true;
}

/* Is this record of a known type well formed beyond its header?  size
 * is already known to be >= 16, a multiple of 8 and inside the page. */
static bool record_ok(const ts_ev_header *h) {
    const ts_event_desc *d = rd_event_desc(h->type);
    if (!d)
        return true; /* unknown: the caller skips it */
    if (h->size < d->size)
        return false;
    return ts_event_tail_bytes(d, h) <= (uint32_t)(h->size - d->size);
}

/* What a valid record tells the reader itself, before anyone sees it. */
static void learn(ts_reader *rd, struct rd_ring *r, const ts_ev_header *h) {
    bool ok = true;
    switch (h->type) {
    case TS_EV_string: {
        const ts_ev_string *e = (const ts_ev_string *)h;
        ok = rd_intern_string(&rd->intern, e->id, (const char *)(e + 1), e->len);
        break;
    }
    case TS_EV_site: {
        const ts_ev_site *e = (const ts_ev_site *)h;
        ok = rd_intern_site(&rd->intern, e->id, e->file, e->func, e->line);
        break;
    }
    case TS_EV_thread_start: {
        const ts_ev_thread_start *e = (const ts_ev_thread_start *)h;
        r->tid = e->tid;
        r->role = e->role;
        break;
    }
    case TS_EV_dropped:
        add_sat(&rd->st.dropped_events, ((const ts_ev_dropped *)h)->count);
        break;
    default:
        break;
    }
    if (!ok)
        rd->st.intern_full++;
}

/* Timestamps: a ring's records come in the order their thread wrote
 * them, so their clock never runs back by more than the small reorderings
 * of the writer (a timestamp read before an interned string is written);
 * and in a live segment none predates the segment or lies in the future. */
#define TS_SLACK_NS 1000000000ull
#define TS_FUTURE_NS 10000000000ull
/* An image in memory has no "now": its last calibration (the watchdog
 * refreshes it every second or so in a live segment) stands in, with an
 * hour to spare. */
#define TS_IMAGE_FUTURE_NS 3600000000000ull

static bool time_plausible(const ts_reader *rd, const struct rd_ring *r, uint64_t ns) {
    if (r->last_ns && ns + TS_SLACK_NS < r->last_ns)
        return false;
    if (rd->fd >= 0)
        return ns + TS_SLACK_NS >= rd->mono0 && ns <= rd->poll_ns + TS_FUTURE_NS;
    return ns <= rd->calib_end_ns + TS_IMAGE_FUTURE_NS;
}

/* Task ids come from one counter that only grows (in blocks, per loop),
 * so a task event's id lies at most this far above the highest id a
 * task_create or a dump has shown; random bytes that reach a record's
 * id field pass the fixed 2^48 bound one time in 65,536, this one a few
 * times in 10^10.  (Until the first create or dump, only the fixed
 * bound applies.) */
#define TASK_ID_JUMP (UINT64_C(1) << 32)

static inline bool is_task_event(unsigned type) {
    return type >= TS_EV_task_create && type <= TS_EV_task_state;
}

static inline uint64_t first_u64(const ts_ev_header *h) {
    uint64_t v;
    memcpy(&v, h + 1, 8);
    return v;
}

/* Remember the region for the report (ts_reader_corruption). */
static void note_corrupt(ts_reader *rd, uint32_t ring, uint64_t pos, uint64_t bytes) {
    rd->st.corrupt++;
    add_sat(&rd->st.corrupt_bytes, bytes);
    rd->st.last_corrupt_ring = ring;
    rd->st.last_corrupt_pos = pos;
    rd->st.last_corrupt_len = bytes;
}

/* Decode the copy of positions [start, end), which sits in the arena at
 * base (base ≡ start mod 8, so aligned records are aligned in memory).
 * Returns where decoding stopped: end, or a page start past it after a
 * resync. */
static uint64_t decode(ts_reader *rd, uint32_t ring, size_t base, uint64_t start, uint64_t end) {
    struct rd_ring *r = &rd->rings[ring];
    uint64_t p = start;
    while (p < end) {
        uint64_t room = PAGE - (p & (PAGE - 1));
        if (room < sizeof(ts_ev_header)) {
            p += room; /* a page's tail too short for a record is skipped */
            continue;
        }
        const ts_ev_header *h = NULL;
        size_t off = base + (size_t)(p - start);
        bool bad = (p & 7) || end - p < sizeof(ts_ev_header);
        uint64_t ns = 0;
        if (!bad) {
            h = (const ts_ev_header *)(rd->arena + off);
            bad = h->size < sizeof(ts_ev_header) || (h->size & 7) || h->size > room ||
                  h->size > end - p || !record_ok(h);
            if (!bad && h->type != TS_EV_PAD && rd_event_desc(h->type)) {
                ns = ts_reader_ns(rd, h->ts);
                bad = !rd_record_plausible(h) || !time_plausible(rd, r, ns) ||
                      (is_task_event(h->type) && rd->task_hi &&
                       first_u64(h) > rd->task_hi + TASK_ID_JUMP);
            }
        }
        if (bad) {
            /* Nothing of the rest of the page can be trusted: its next
             * record boundary is unknown.  The page after starts on one. */
            uint64_t next = page_floor(p) + PAGE;
            note_corrupt(rd, ring, p, (next < end ? next : end) - p);
            p = next;
            continue;
        }
        if (ns > r->last_ns)
            r->last_ns = ns;
        if ((h->type == TS_EV_task_create || h->type == TS_EV_task_state) &&
            first_u64(h) > rd->task_hi)
            rd->task_hi = first_u64(h);
        if (h->type != TS_EV_PAD) {
            if (!rd_event_desc(h->type)) {
                rd->st.unknown++;
            } else {
                learn(rd, r, h);
                if (!push_event(rd, ring, h, (uint32_t)off))
                    return p; /* out of memory: retry from here next poll */
            }
        }
        p += h->size;
    }
    return p;
}

/* ---- one ring ------------------------------------------------------------------------- */

static bool arena_reserve(ts_reader *rd, size_t len) {
    if (rd->arena_used + len <= rd->arena_cap)
        return true;
    size_t cap = rd->arena_cap ? rd->arena_cap : (1u << 20);
    while (cap < rd->arena_used + len)
        cap *= 2;
    unsigned char *n = realloc(rd->arena, cap);
    if (!n)
        return false;
    rd->arena = n;
    rd->arena_cap = cap;
    return true;
}

/* Copy positions [start, end) (at most one ring's worth) into the arena. */
static int copy_range(ts_reader *rd, uint32_t ring, uint64_t start, uint64_t end, size_t at) {
    uint64_t data = rd->data_offset + (uint64_t)ring * rd->ring_size;
    uint64_t mask = rd->ring_size - 1;
    uint64_t p = start;
    while (p < end) {
        uint64_t off = p & mask;
        uint64_t n = end - p < rd->ring_size - off ? end - p : rd->ring_size - off;
        int err = rd_copy(rd, data + off, rd->arena + at + (p - start), (size_t)n);
        if (err)
            return err;
        p += n;
    }
    return 0;
}

/* Read the ring header's producer fields; false if the ring never held
 * anything (or its head is nonsense, counted once per bad value). */
static bool look_at_ring(ts_reader *rd, uint32_t i, uint64_t *headp) {
    struct rd_ring *r = &rd->rings[i];
    uint64_t h = rd_ring_hdr(rd, i);
    uint64_t head = rd_load64(rd, h + HDR_OFF(head));
    uint64_t gen = rd_load64(rd, h + HDR_OFF(generation));
    if (!r->seen && head == 0 && gen == 0)
        return false;
    if (head > RD_POS_MAX) {
        if (!r->bad_head)
            note_corrupt(rd, i, head, 0);
        r->bad_head = true;
        return false;
    }
    r->bad_head = false;
    if (!r->seen || gen != r->generation) {
        /* a new owner: until its thread_start record says otherwise */
        r->tid = rd_load32(rd, h + HDR_OFF(tid));
        r->role = rd_load32(rd, h + HDR_OFF(role));
        r->generation = gen;
    }
    if (!r->seen) {
        r->seen = true;
        r->pos = rd_window_start(head, rd->ring_size);
        r->last_head = head;
        rd->st.rings++;
    }
    if (head < r->last_head) {
        /* positions never go back: the header is damaged */
        note_corrupt(rd, i, head, 0);
        r->pos = head;
    }
    r->last_head = head;
    r->dropped = rd_load64(rd, h + HDR_OFF(dropped));
    *headp = head;
    return true;
}

void rd_protect_window(ts_reader *rd) {
    for (uint32_t i = 0; i < rd->max_rings; i++) {
        struct rd_ring *r = &rd->rings[i];
        uint64_t head = 0;
        bool data = look_at_ring(rd, i, &head);
        /* the producers honour tail from their first publish that sees
         * us: until then the oldest part may still go, which the first
         * (untrusted) poll checks */
        uint64_t ws = rd_window_start(head, rd->ring_size);
        if (data && r->pos < ws) { /* a passive reader fell behind */
            add_sat(&rd->st.lost_bytes, ws - r->pos);
            r->pos = ws;
        }
        uint64_t tail = data ? (r->pos < head ? r->pos : head) : head;
        if (head <= RD_POS_MAX)
            rd_store64(rd, rd_ring_hdr(rd, i) + HDR_OFF(tail), tail);
    }
}

/* Drain ring i into the arena and the pending list, copying at most
 * budget bytes.  Returns the bytes copied, or a negative code if the
 * segment cannot be read any more. */
static long drain_ring(ts_reader *rd, uint32_t i, uint64_t budget, bool trusted) {
    struct rd_ring *r = &rd->rings[i];
    r->first = r->next = rd->ev_n;
    r->count = 0;
    uint64_t head;
    if (!look_at_ring(rd, i, &head) || head <= r->pos)
        return 0;
    /* Fallen more than a ring behind, or (not trusted to be honoured)
     * behind the window the producer may be overwriting: skip ahead. */
    uint64_t ws = rd_window_start(head, rd->ring_size);
    if (r->pos < ws && (!trusted || head - r->pos > rd->ring_size)) {
        add_sat(&rd->st.lost_bytes, ws - r->pos);
        r->pos = ws;
    }
    uint64_t start = r->pos, end = head;
    if (end - start > budget)
        end = page_floor(start + budget);
    if (end <= start)
        return 0;
    size_t base = (size_t)(start & 7);
    size_t len = (size_t)(end - start);
    if (!arena_reserve(rd, base + len + 8))
        return 0;
    size_t at = rd->arena_used + (8 - (rd->arena_used & 7)) % 8 + base;
    int err = copy_range(rd, i, start, end, at);
    if (err)
        return rd_fail(rd, err, "segment became unreadable (truncated?)");
    rd->arena_used = at + len;
    /* The producer may have lapped us while we copied: whatever is older
     * than the window as of now may be torn. */
    uint64_t head2 = rd_load64(rd, rd_ring_hdr(rd, i) + HDR_OFF(head));
    if (head2 <= RD_POS_MAX && (!trusted || head2 - start > rd->ring_size)) {
        uint64_t ws2 = rd_window_start(head2, rd->ring_size);
        if (ws2 > start) {
            uint64_t cut = ws2 < end ? ws2 : end;
            add_sat(&rd->st.lost_bytes, cut - start);
            at += (size_t)(cut - start);
            start = cut;
        }
    }
    r->pos = start < end ? decode(rd, i, at, start, end) : end;
    r->count = rd->ev_n - r->first;
    if (rd->attached)
        rd_store64(rd, rd_ring_hdr(rd, i) + HDR_OFF(tail), r->pos < head ? r->pos : head);
    return (long)len;
}

/* ---- merging ----------------------------------------------------------------------------- */

static bool before(const ts_reader *rd, uint32_t a, uint32_t b) {
    const struct rd_pending *x = &rd->ev[rd->rings[a].next], *y = &rd->ev[rd->rings[b].next];
    return x->ts != y->ts ? x->ts < y->ts : a < b;
}

static void sift_down(const ts_reader *rd, uint32_t *heap, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && before(rd, heap[l], heap[m]))
            m = l;
        if (l + 1 < n && before(rd, heap[l + 1], heap[m]))
            m = l + 1;
        if (m == i)
            return;
        uint32_t t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
}

/* Deliver the pending events, smallest timestamp first (ties: lower ring
 * first, and within a ring, in ring order). */
static int deliver(ts_reader *rd, ts_reader_fn fn, void *arg) {
    uint32_t heap[TS_MAX_RINGS];
    size_t n = 0;
    for (uint32_t i = 0; i < rd->max_rings; i++)
        if (rd->rings[i].seen && rd->rings[i].count)
            heap[n++] = i;
    for (size_t i = n; i-- > 0;)
        sift_down(rd, heap, n, i);
    int delivered = 0;
    while (n) {
        struct rd_ring *r = &rd->rings[heap[0]];
        const struct rd_pending *p = &rd->ev[r->next++];
        const ts_ev_header *h = (const ts_ev_header *)(rd->arena + p->off);
        ts_reader_event ev = {
            .rec = h, .ns = ts_reader_ns(rd, p->ts), .ring = p->ring, .tid = p->tid,
            .role = p->role, .type = h->type, .size = h->size};
        if (fn)
            fn(&ev, arg);
        delivered++;
        if (r->next == r->first + r->count)
            heap[0] = heap[--n];
        sift_down(rd, heap, n, 0);
    }
    return delivered;
}

/* ---- poll ------------------------------------------------------------------------------------ */

/* The runtime stores attach_done after every loop has published its
 * dump, so the heads read after seeing it are past every dump record.
 * Remember them (once per request): the dump is delivered when each
 * ring has been read up to there, which a poll cut short by its budget
 * has not done yet. */
static void note_dump_ends(ts_reader *rd) {
    if (rd->dump_ends_gen == rd->dump_gen)
        return;
    rd->dump_ends_gen = rd->dump_gen;
    for (uint32_t i = 0; i < rd->max_rings; i++) {
        uint64_t head = rd_load64(rd, rd_ring_hdr(rd, i) + HDR_OFF(head));
        rd->rings[i].dump_end = head <= RD_POS_MAX ? head : 0;
    }
}

static bool dump_delivered(const ts_reader *rd) {
    for (uint32_t i = 0; i < rd->max_rings; i++)
        if (rd->rings[i].pos < rd->rings[i].dump_end && !rd->rings[i].bad_head)
            return false;
    return true;
}

int ts_reader_poll(ts_reader *rd, ts_reader_fn fn, void *arg) {
    if (rd->fd >= 0) {
        struct stat st = {0};
        if (fstat(rd->fd, &st) != 0 || st.st_size != (off_t)rd->size)
            return rd_fail(rd, -EBADMSG, "the segment changed size (now %lld bytes, was %zu): "
                           "not reading it any more", (long long)st.st_size, rd->size);
    }
    uint64_t now = rd_mono_ns();
    bool trusted = rd->attached && rd->polls_since_attach > 0 &&
                   now - rd->last_beat_ns < RD_TRUST_NS;
    bool dump_now = false;
    if (rd->attached) {
        if (rd_load64(rd, SEG_OFF(reader_pid)) != (uint64_t)getpid()) {
            rd->attached = false; /* someone took over: go on passively */
            trusted = false;
            rd_fail(rd, 0, "another reader took over; reading passively");
        } else {
            ts_reader_keepalive(rd);
            /* attach_done is stored after the dumps are published: if it
             * matches now, the dumps are below the heads as of now */
            dump_now = !rd->dump_done && rd_load64(rd, SEG_OFF(attach_done)) == rd->dump_gen;
            if (dump_now)
                note_dump_ends(rd);
        }
    }
    read_calibration(rd);
    rd->poll_ns = now;
    (void)ts_event_desc_of(0); /* the schema tables, before decode uses them */
    rd->arena_used = 0;
    rd->ev_n = 0;
    uint64_t total = 0;
    for (uint32_t k = 0; k < rd->max_rings; k++) {
        uint32_t i = (rd->rotate + k) % rd->max_rings;
        uint64_t left = RD_POLL_BUDGET - total;
        uint64_t budget = left < RD_RING_BUDGET ? left : RD_RING_BUDGET;
        if (budget < 2 * PAGE) {
            rd->rings[i].count = 0; /* out of budget: next poll */
            continue;
        }
        long got = drain_ring(rd, i, budget, trusted);
        if (got < 0)
            return (int)got;
        total += (uint64_t)got;
    }
    rd->rotate = (rd->rotate + 1) % rd->max_rings;
    int n = deliver(rd, fn, arg);
    add_sat(&rd->st.events, (uint64_t)n);
    rd->st.polls++;
    if (rd->attached)
        rd->polls_since_attach++;
    if (dump_now && dump_delivered(rd))
        rd->dump_done = true;
    return n;
}

/* ---- reporting --------------------------------------------------------------------- */

int ts_reader_corruption(ts_reader *rd, char *buf, size_t len) {
    uint64_t n = rd->st.corrupt - rd->corrupt_told;
    if (!n)
        return 0;
    rd->corrupt_told = rd->st.corrupt;
    const ts_reader_stats *st = &rd->st;
    if (st->last_corrupt_len)
        snprintf(buf, len, "corrupt trace data in ring %u at byte %llu of its stream (offset "
                 "%llu in the ring): %llu bytes skipped; %llu region%s, %llu bytes so far",
                 st->last_corrupt_ring, (unsigned long long)st->last_corrupt_pos,
                 (unsigned long long)(st->last_corrupt_pos & (rd->ring_size - 1)),
                 (unsigned long long)st->last_corrupt_len, (unsigned long long)st->corrupt,
                 st->corrupt == 1 ? "" : "s", (unsigned long long)st->corrupt_bytes);
    else
        snprintf(buf, len, "corrupt ring header %u (head %llu); %llu region%s so far",
                 st->last_corrupt_ring, (unsigned long long)st->last_corrupt_pos,
                 (unsigned long long)st->corrupt, st->corrupt == 1 ? "" : "s");
    return (int)(n > INT32_MAX ? INT32_MAX : n);
}
