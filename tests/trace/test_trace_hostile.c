/*
 * test_trace_hostile.c - the reader against segment images built in
 * memory (segimage.h): well-formed ones decode exactly; each kind of
 * damage is caught, counted and costs no more than its page; random bit
 * flips, truncations and hostile sizes never crash or hang it (run under
 * ASan/UBSan: an out-of-bounds read fails the test).  Also: a producer
 * lapping a passive reader in memory, and the clock calibration.
 */
#include "segimage.h"
#include "trace_harness.h"

#define RS (4 * TS_PAGE_SIZE)

static ts_reader *open_image(const segimage *s, size_t len) {
    ts_reader *rd = NULL;
    char err[256];
    int rc = ts_reader_open_buffer(&rd, s->buf, len, err, sizeof err);
    if (rc)
        fprintf(stderr, "open_image: %s\n", err);
    assert_int_equal(rc, 0);
    return rd;
}

static ts_reader_stats stats_of(const ts_reader *rd) {
    ts_reader_stats st;
    ts_reader_get_stats(rd, &st);
    return st;
}

/* ---- well-formed images ------------------------------------------------------------- */

static void test_image_decodes(void **state) {
    (void)state;
    segimage s;
    seg_init(&s, 2, RS);
    seg_story(&s, 0, 5, 100);
    seg_story(&s, 1, 6, 50); /* earlier: comes first in the merge */
    ts_reader *rd = open_image(&s, s.len);
    evlog log = {0};
    assert_int_equal(poll_into(rd, &log), 2 * 11);
    assert_int_equal(log.v[0].ev.ring, 1);
    for (size_t i = 1; i < log.n; i++)
        assert_true(log.v[i].ev.ns >= log.v[i - 1].ev.ns);
    assert_string_equal(ts_reader_string(rd, 1), "worker");
    const char *file, *func;
    uint32_t line;
    assert_int_equal(ts_reader_site(rd, 1, &file, &func, &line), 0);
    assert_string_equal(file, "main.c");
    assert_string_equal(func, "amain");
    assert_int_equal(line, 42);
    /* tid from thread_start; the formatter resolves names and sites */
    long c = find_task_event(&log, TS_EV_task_create, 5, 0);
    assert_int_equal(log.v[c].ev.tid, 1000);
    char text[256];
    ts_reader_format(rd, &log.v[c].ev, text, sizeof text);
    assert_string_equal(text, "task_create task=5 parent=1 loop=1 name=\"worker\" "
                              "site=main.c:42(amain)");
    long st = (long)log.n - 1;
    assert_int_equal(log.v[st].ev.type, TS_EV_stack);
    ts_reader_format(rd, &log.v[st].ev, text, sizeof text);
    assert_string_equal(text, "stack id=9 depth=3 pcs=0x401000,0x402000,0x403000");
    assert_int_equal(poll_into(rd, NULL), 0); /* nothing new */
    ts_reader_stats rs = stats_of(rd);
    assert_int_equal(rs.corrupt + rs.unknown + rs.lost_bytes, 0);
    assert_int_equal(rs.rings, 2);
    evlog_free(&log);
    ts_reader_close(rd);
    seg_free(&s);
}

/* PADs, page tails, unknown types, and more later on the same ring. */
static void test_pages_pads_unknown(void **state) {
    (void)state;
    segimage s;
    seg_init(&s, 1, RS);
    ts_reader *rd = open_image(&s, s.len);
    /* 4088 bytes leave an 8-byte page tail (skipped: shorter than a header) */
    unsigned char big[TS_PAGE_SIZE] = {0};
    seg_emit(&s, 0, 120, 4088, big, 1);            /* unknown type, skipped */
    SEG_EMIT(&s, 0, task_resume, 2, .task = 1);    /* next page */
    SEG_EMIT(&s, 0, task_resume, 3, .task = 2);
    seg_emit(&s, 0, 121, 4056, big, 4);            /* does not fit: PAD first */
    SEG_EMIT(&s, 0, task_resume, 5, .task = 3);
    evlog log = {0};
    assert_int_equal(poll_into(rd, &log), 3);
    assert_int_equal(s.pos[0], 2 * TS_PAGE_SIZE + 4056 + 24);
    assert_int_equal(stats_of(rd).unknown, 2);
    assert_int_equal(stats_of(rd).corrupt, 0);
    SEG_EMIT(&s, 0, task_resume, 6, .task = 4);
    assert_int_equal(poll_into(rd, &log), 1);
    assert_int_equal(EV(&log.v[3], task_resume)->task, 4);
    evlog_free(&log);
    ts_reader_close(rd);
    seg_free(&s);
}

/* ---- header damage: a clear error each time ------------------------------------------------ */

static int open_err(segimage *s, size_t len, char *err, size_t errlen) {
    ts_reader *rd = NULL;
    int rc = ts_reader_open_buffer(&rd, s->buf, len, err, errlen);
    if (rd) {
        poll_into(rd, NULL);
        ts_reader_close(rd);
    }
    return rc;
}

enum {
    D_MAGIC, D_VERSION, D_HEADER_SIZE, D_TOTAL_SIZE, D_NO_RINGS, D_MANY_RINGS, D_RING_SIZE,
    D_TINY_RING, D_HUGE_RING, D_RINGS_IN_HEADER, D_RINGS_MISALIGNED, D_DATA_IN_RINGS,
    D_DATA_PAST_END, D_DATA_HUGE, D_RINGS_HUGE, D_RINGS_BEYOND_DATA, D_COUNT
};

static void damage_header(ts_seg_header *h, int which) {
    switch (which) {
    case D_MAGIC: h->magic[0] = 'X'; break;
    case D_VERSION: h->version = 2; break;
    case D_HEADER_SIZE: h->header_size = 64; break;
    case D_TOTAL_SIZE: h->total_size += 8; break;
    case D_NO_RINGS: h->max_rings = 0; break;
    case D_MANY_RINGS: h->max_rings = 65; break;
    case D_RING_SIZE: h->ring_size = 3 * TS_PAGE_SIZE; break;
    case D_TINY_RING: h->ring_size = 2048; break;
    case D_HUGE_RING: h->ring_size = 1u << 30; break;
    case D_RINGS_IN_HEADER: h->rings_offset = 64; break;
    case D_RINGS_MISALIGNED: h->rings_offset += 8; break;
    case D_DATA_IN_RINGS: h->data_offset -= 64; break;
    case D_DATA_PAST_END: h->data_offset += 8; break;
    case D_DATA_HUGE: h->data_offset = UINT64_MAX - 7; break;
    case D_RINGS_HUGE: h->rings_offset = UINT64_MAX - 63; break;
    case D_RINGS_BEYOND_DATA: h->max_rings = 3; break;
    }
}

static void test_header_damage(void **state) {
    (void)state;
    static const struct {
        int err;
        const char *says;
    } expect[D_COUNT] = {
        [D_MAGIC] = {-EBADMSG, "bad magic"},
        [D_VERSION] = {-EPROTONOSUPPORT, "version 2"},
        [D_HEADER_SIZE] = {-EBADMSG, "header_size"},
        [D_TOTAL_SIZE] = {-EBADMSG, "truncated"},
        [D_NO_RINGS] = {-EBADMSG, "0 rings"},
        [D_MANY_RINGS] = {-EBADMSG, "65 rings"},
        [D_RING_SIZE] = {-EBADMSG, "ring size"},
        [D_TINY_RING] = {-EBADMSG, "ring size"},
        [D_HUGE_RING] = {-EBADMSG, "ring size"},
        [D_RINGS_IN_HEADER] = {-EBADMSG, "do not fit"},
        [D_RINGS_MISALIGNED] = {-EBADMSG, "do not fit"},
        [D_DATA_IN_RINGS] = {-EBADMSG, "do not fit"},
        [D_DATA_PAST_END] = {-EBADMSG, "do not fit"},
        [D_DATA_HUGE] = {-EBADMSG, "do not fit"},
        [D_RINGS_HUGE] = {-EBADMSG, "do not fit"},
        [D_RINGS_BEYOND_DATA] = {-EBADMSG, "do not fit"},
    };
    for (int i = 0; i < D_COUNT; i++) {
        segimage s;
        seg_init(&s, 2, RS);
        seg_story(&s, 0, 5, 1);
        damage_header(seg_hdr(&s), i);
        char err[256] = "";
        int rc = open_err(&s, s.len, err, sizeof err);
        if (rc != expect[i].err || !strstr(err, expect[i].says))
            fprintf(stderr, "damage %d: %d \"%s\"\n", i, rc, err);
        assert_int_equal(rc, expect[i].err);
        assert_non_null(strstr(err, expect[i].says));
        seg_free(&s);
    }
}

/* Every prefix of an image: an error or a reader, never a bad read. */
static void test_truncations(void **state) {
    (void)state;
    segimage s;
    seg_init(&s, 2, RS);
    seg_story(&s, 0, 5, 1);
    seg_story(&s, 1, 6, 1);
    for (size_t len = 0; len <= s.len; len += len < 3000 ? 1 : 509) {
        unsigned char *cut = malloc(len ? len : 1);
        memcpy(cut, s.buf, len);
        ts_reader *rd = NULL;
        int rc = ts_reader_open_buffer(&rd, cut, len, NULL, 0);
        assert_int_equal(rc, len == s.len ? 0 : -EBADMSG);
        ts_reader_close(rd);
        free(cut);
    }
    seg_free(&s);
}

/* ---- record damage: counted, and costs only its page ---------------------------------------- */

typedef void (*damage_fn)(segimage *s, unsigned char *rec);

static void rec_size0(segimage *s, unsigned char *r) { (void)s; r[10] = r[11] = 0; }
static void rec_size12(segimage *s, unsigned char *r) { (void)s; r[10] = 12; r[11] = 0; }
static void rec_size_odd(segimage *s, unsigned char *r) { (void)s; r[10] = 44; r[11] = 0; }
static void rec_size_page(segimage *s, unsigned char *r) { (void)s; r[10] = 0; r[11] = 0x20; }
static void rec_short(segimage *s, unsigned char *r) { (void)s; r[8] = TS_EV_task_create; }
static void rec_string_len(segimage *s, unsigned char *r) {
    (void)s;
    r[8] = TS_EV_string;
    r[9] = 0;
    uint32_t len = 9; /* 24 + 9 > 24 */
    memcpy(r + 20, &len, 4);
}
static void rec_stack_depth(segimage *s, unsigned char *r) {
    (void)s;
    r[8] = TS_EV_stack;
    r[9] = 0;
    uint32_t depth = 1; /* a 24-byte record has no room for pcs */
    memcpy(r + 20, &depth, 4);
}
static void rec_past_head(segimage *s, unsigned char *r) {
    (void)r;
    seg_ring(s, 0)->head -= 8; /* the last record now crosses head */
}

static void test_record_damage(void **state) {
    (void)state;
    damage_fn cases[] = {rec_size0,      rec_size12,      rec_size_odd,  rec_size_page,
                         rec_short,      rec_string_len,  rec_stack_depth, rec_past_head};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        segimage s;
        seg_init(&s, 1, RS);
        for (uint64_t t = 1; t <= 10; t++)
            SEG_EMIT(&s, 0, task_resume, t, .task = t); /* 24 bytes each, page 0 */
        unsigned char *victim = seg_at(&s, 0, s.pos[0]);
        SEG_EMIT(&s, 0, task_free, 11, .task = 11);
        uint64_t head = seg_ring(&s, 0)->head;
        cases[i](&s, victim);
        ts_reader *rd = open_image(&s, s.len);
        evlog log = {0};
        poll_into(rd, &log);
        assert_int_equal(log.n, 10); /* everything before the damage */
        assert_int_equal(stats_of(rd).corrupt, 1);
        /* the writer goes on, on the next page: all of it arrives */
        seg_ring(&s, 0)->head = head;
        s.pos[0] = TS_PAGE_SIZE;
        for (uint64_t t = 20; t < 25; t++)
            SEG_EMIT(&s, 0, task_resume, t, .task = t);
        size_t before = log.n;
        poll_into(rd, &log);
        assert_int_equal(log.n - before, 5);
        assert_int_equal(EV(&log.v[before], task_resume)->task, 20);
        evlog_free(&log);
        ts_reader_close(rd);
        seg_free(&s);
    }
}

/* Heads that go back, jump absurdly far, or are misaligned. */
static void test_hostile_heads(void **state) {
    (void)state;
    segimage s;
    seg_init(&s, 1, RS);
    seg_story(&s, 0, 5, 1);
    ts_reader *rd = open_image(&s, s.len);
    poll_into(rd, NULL);
    uint64_t heads[] = {8, UINT64_MAX, (UINT64_C(1) << 56) + 1, 4 * RS + 3, 100 * RS, 17, 0};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        seg_ring(&s, 0)->head = heads[i];
        assert_true(ts_reader_poll(rd, NULL, NULL) >= 0);
    }
    assert_true(stats_of(rd).corrupt > 0);
    ts_reader_close(rd);
    seg_free(&s);
}

/* ---- random damage ----------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_random_bit_flips(void **state) {
    (void)state;
    segimage s;
    seg_init(&s, 3, RS);
    for (int k = 0; k < 40; k++)
        seg_story(&s, (uint32_t)k % 3, (uint64_t)k + 10, (uint64_t)k * 10);
    int opened = 0;
    for (int iter = 0; iter < 3000; iter++) {
        unsigned char *img = malloc(s.len);
        memcpy(img, s.buf, s.len);
        int flips = 1 + (int)(rnd() % 16);
        for (int f = 0; f < flips; f++) {
            /* mostly the header and ring headers, where damage is worst */
            size_t span = rnd() % 4 == 0 ? s.len : seg_hdr(&s)->data_offset;
            size_t at = (size_t)(rnd() % span);
            img[at] ^= (unsigned char)(1u << (rnd() % 8));
        }
        ts_reader *rd = NULL;
        if (ts_reader_open_buffer(&rd, img, s.len, NULL, 0) == 0) {
            opened++;
            char line[256];
            evlog log = {0};
            poll_into(rd, &log);
            for (size_t i = 0; i < log.n; i++)
                ts_reader_format(rd, &log.v[i].ev, line, sizeof line);
            img[rnd() % s.len] ^= 0xff; /* and while it reads */
            assert_true(ts_reader_poll(rd, NULL, NULL) >= 0);
            evlog_free(&log);
            ts_reader_close(rd);
        }
        free(img);
    }
    assert_true(opened > 100);
    seg_free(&s);
}

/* ---- a producer lapping a passive reader ------------------------------------------------------ */

static void test_lapped_in_memory(void **state) {
    (void)state;
    segimage s;
    seg_init(&s, 1, RS);
    ts_reader *rd = open_image(&s, s.len);
    for (uint64_t t = 1; t <= 100; t++)
        SEG_EMIT(&s, 0, task_resume, t, .task = t);
    evlog log = {0};
    assert_int_equal(poll_into(rd, &log), 100);
    /* three rings' worth while the reader looks away */
    for (uint64_t t = 101; t <= 100 + 3 * RS / 24; t++)
        SEG_EMIT(&s, 0, task_resume, t, .task = t);
    uint64_t last = 100 + 3 * RS / 24;
    size_t before = log.n;
    poll_into(rd, &log);
    ts_reader_stats st = stats_of(rd);
    assert_true(st.lost_bytes > 0);
    assert_int_equal(st.corrupt, 0);
    /* what we got is contiguous and ends at the last one */
    assert_int_equal(EV(&log.v[log.n - 1], task_resume)->task, last);
    for (size_t i = before + 1; i < log.n; i++)
        assert_int_equal(EV(&log.v[i], task_resume)->task, EV(&log.v[i - 1], task_resume)->task + 1);
    /* the window: everything from the page after head's, a ring back */
    uint64_t ws = (s.pos[0] & ~(uint64_t)(TS_PAGE_SIZE - 1)) + TS_PAGE_SIZE - RS;
    ts_reader_ring ri;
    assert_int_equal(ts_reader_get_ring(rd, 0, &ri), 0);
    assert_int_equal(ri.pos, s.pos[0]);
    assert_int_equal(st.lost_bytes, ws - 100 * 24);
    evlog_free(&log);
    ts_reader_close(rd);
    seg_free(&s);
}

/* ---- calibration --------------------------------------------------------------------------------- */

static void test_calibration(void **state) {
    (void)state;
    segimage s;
    seg_init(&s, 1, RS);
    ts_seg_header *h = seg_hdr(&s);
    h->ticks0 = 1000;
    h->mono0_ns = 5000;
    h->ticks1 = 3000;
    h->mono1_ns = 6000; /* two ticks a nanosecond */
    SEG_EMIT(&s, 0, task_resume, 2000, .task = 1);
    ts_reader *rd = open_image(&s, s.len);
    evlog log = {0};
    poll_into(rd, &log);
    assert_int_equal(log.v[0].ev.ns, 5500);
    assert_int_equal(ts_reader_ns(rd, 500), 4750);
    /* an update in progress (odd sequence) forever: the old one stays */
    h->calib_seq = 1;
    h->ticks1 = 1001;
    poll_into(rd, NULL);
    assert_int_equal(ts_reader_ns(rd, 2000), 5500);
    /* nonsense (ticks going back): 1 tick = 1 ns rather than garbage */
    h->calib_seq = 2;
    h->ticks1 = 10;
    poll_into(rd, NULL);
    assert_int_equal(ts_reader_ns(rd, 2000), 6000);
    evlog_free(&log);
    ts_reader_close(rd);
    seg_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image_decodes),     cmocka_unit_test(test_pages_pads_unknown),
        cmocka_unit_test(test_header_damage),     cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_record_damage),     cmocka_unit_test(test_hostile_heads),
        cmocka_unit_test(test_random_bit_flips),  cmocka_unit_test(test_lapped_in_memory),
        cmocka_unit_test(test_calibration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
