/*
 * test_hdr.c - the tracer's HDR histogram (tracer/hdr.c) against exact
 * percentiles, and the terminal/JSON string safety module
 * (tracer/textsafe.c) against hostile strings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hdr.h"
#include "textsafe.h"

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The exact value at percentile p with HdrHistogram's rank rule: the
 * smallest value with at least round(p/100 * n) values at or below it. */
static uint64_t exact_at(const uint64_t *sorted, size_t n, double p) {
    size_t want = (size_t)(p / 100 * (double)n + 0.5);
    if (want < 1)
        want = 1;
    return sorted[want - 1];
}

/* The layout HdrHistogram documents for 2 and 3 significant digits. */
static void test_layout(void **state) {
    (void)state;
    ts_hdr h;
    assert_int_equal(ts_hdr_init(&h, TS_HDR_HIGHEST, 2), 0);
    assert_int_equal(h.sub_count, 256);          /* 2 * 10^2 = 200 -> 256 */
    ts_hdr_init(&h, 3600000000ull, 3);
    assert_int_equal(h.sub_count, 2048);         /* 2000 -> 2048 */
    /* below sub_count every value is its own count */
    assert_int_equal(ts_hdr_lowest_equivalent(&h, 2047), 2047);
    assert_int_equal(ts_hdr_highest_equivalent(&h, 2047), 2047);
    /* 2048..4095 in steps of 2, 4096..8191 in steps of 4 */
    assert_int_equal(ts_hdr_lowest_equivalent(&h, 2049), 2048);
    assert_int_equal(ts_hdr_highest_equivalent(&h, 2049), 2049);
    assert_int_equal(ts_hdr_lowest_equivalent(&h, 5001), 5000);
    assert_int_equal(ts_hdr_highest_equivalent(&h, 5001), 5003);
    assert_int_equal(ts_hdr_init(&h, 100, 0), -22);
}

/* 1..10000 once each, 3 digits: every percentile is the exact one or
 * the top of its 4-wide bucket. */
static void test_uniform(void **state) {
    (void)state;
    ts_hdr h;
    ts_hdr_init(&h, 3600000000ull, 3);
    for (uint64_t v = 1; v <= 10000; v++)
        ts_hdr_record(&h, v);
    assert_int_equal(h.total, 10000);
    assert_int_equal(h.min, 1);
    assert_int_equal(h.max, 10000);
    assert_int_equal(ts_hdr_value_at(&h, 50), 5003);    /* 5000 -> its bucket's top */
    assert_int_equal(ts_hdr_value_at(&h, 10), 1000);    /* exact below 2048 */
    assert_int_equal(ts_hdr_value_at(&h, 90), 9007);    /* 8-wide above 8192 */
    assert_int_equal(ts_hdr_value_at(&h, 99), 9903);
    assert_int_equal(ts_hdr_value_at(&h, 100), 10000);  /* never above the max */
    assert_int_equal(ts_hdr_value_at(&h, 0), 1);
    ts_hdr_free(&h);
}

/* Random values over nine decades: each percentile is within the stated
 * precision of the exact one, and never below it. */
static void test_against_exact(void **state) {
    (void)state;
    static const int digits[] = {1, 2, 3};
    for (size_t d = 0; d < 3; d++) {
        ts_hdr h;
        ts_hdr_init(&h, TS_HDR_HIGHEST, digits[d]);
        size_t n = 20000;
        uint64_t *v = malloc(n * sizeof *v);
        srand(42 + (unsigned)d);
        for (size_t i = 0; i < n; i++) {
            uint64_t base = 1ull << (rand() % 30);   /* 1 ns .. 0.5 s */
            v[i] = base + (uint64_t)rand() % base;
            ts_hdr_record(&h, v[i]);
        }
        qsort(v, n, sizeof *v, cmp_u64);
        double tol = 1;
        for (int k = 0; k < digits[d]; k++)
            tol /= 10;
        static const double pcts[] = {1, 25, 50, 75, 90, 99, 99.9, 100};
        for (size_t k = 0; k < sizeof pcts / sizeof pcts[0]; k++) {
            uint64_t exact = exact_at(v, n, pcts[k]), got = ts_hdr_value_at(&h, pcts[k]);
            assert_true(got >= exact);
            assert_true((double)(got - exact) <= (double)exact * tol);
        }
        assert_int_equal(ts_hdr_value_at(&h, 100), v[n - 1]);
        free(v);
        ts_hdr_free(&h);
    }
}

static void test_merge_and_clamp(void **state) {
    (void)state;
    ts_hdr a, b, c;
    ts_hdr_init(&a, 1000000, 2);
    ts_hdr_init(&b, 1000000, 2);
    ts_hdr_init(&c, 5000000, 3);
    for (uint64_t v = 1; v <= 100; v++)
        ts_hdr_record(&a, v);
    for (uint64_t v = 101; v <= 200; v++)
        ts_hdr_record(&b, v);
    ts_hdr_record(&b, 50000000);               /* above highest: counted, max exact */
    assert_int_equal(ts_hdr_merge(&a, &b), 0);
    assert_int_equal(a.total, 201);
    assert_int_equal(a.max, 50000000);
    assert_int_equal(ts_hdr_value_at(&a, 50), 101);
    ts_hdr_record(&c, 1);
    assert_int_equal(ts_hdr_merge(&a, &c), -22);    /* different precision */
    ts_hdr empty;
    ts_hdr_init(&empty, 1000000, 2);
    assert_int_equal(ts_hdr_value_at(&empty, 50), 0);
    ts_hdr_free(&a);
    ts_hdr_free(&b);
    ts_hdr_free(&c);
}

/* ---- textsafe ---------------------------------------------------------------- */

static char *text_of(const char *s, int width) {
    static char buf[4096];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    ts_text_put(f, s, width);
    fclose(f);
    return buf;
}

static char *json_of(const char *s) {
    static char buf[4096];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    ts_json_put(f, s);
    fclose(f);
    return buf;
}

static void test_text_escapes(void **state) {
    (void)state;
    assert_string_equal(text_of("plain name", 0), "plain name");
    assert_string_equal(text_of("\x1b[31mred", 0), "\\e[31mred");
    assert_string_equal(text_of("\x1b]52;c;aGk=\x07", 0), "\\e]52;c;aGk=\\x07");
    assert_string_equal(text_of("a\nb\tc\rd", 0), "a\\nb\\tc\\rd");
    assert_string_equal(text_of("\xff\xfe", 0), "\\xff\\xfe");
    assert_string_equal(text_of("back\\slash", 0), "back\\\\slash");
    assert_string_equal(text_of("caf\xc3\xa9 \xe2\x9c\x93", 0), "caf\xc3\xa9 \xe2\x9c\x93");
    assert_string_equal(text_of("\xc2\x9b" "2J", 0), "\\u009b2J");      /* C1 CSI */
    assert_string_equal(text_of("\xc0\xaf", 0), "\\xc0\\xaf");           /* overlong '/' */
    assert_string_equal(text_of("\xed\xa0\x80", 0), "\\xed\\xa0\\x80"); /* a surrogate */
    assert_string_equal(text_of("\xe2\x9c", 0), "\\xe2\\x9c");           /* cut short */
    assert_string_equal(text_of("\x7f", 0), "\\x7f");
    /* a cell: cut at a character or escape, padded to the width */
    assert_string_equal(text_of("abc", 5), "abc  ");
    assert_string_equal(text_of("ab\x1b", 3), "ab ");
    assert_string_equal(text_of("\xc3\xa9\xc3\xa9\xc3\xa9", 2), "\xc3\xa9\xc3\xa9");
    assert_string_equal(text_of(NULL, 2), "  ");
    char small[8];
    assert_int_equal(ts_text_safe(small, sizeof small, "\x1b\x1b\x1b\x1b", 0), 6);
    assert_string_equal(small, "\\e\\e\\e");
    assert_int_equal(ts_text_safe(small, sizeof small, "abcdef", 4), 4);
    assert_string_equal(small, "abcd");
}

static void test_json_escapes(void **state) {
    (void)state;
    assert_string_equal(json_of("a\"b\\c"), "\"a\\\"b\\\\c\"");
    assert_string_equal(json_of("\x1b[31m"), "\"\\u001b[31m\"");
    assert_string_equal(json_of("\n\t"), "\"\\n\\t\"");
    assert_string_equal(json_of("\xff\xfe" "x"), "\"\\ufffd\\ufffdx\"");
    assert_string_equal(json_of("\xc2\x85"), "\"\\u0085\"");
    assert_string_equal(json_of("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");
    assert_string_equal(json_of(NULL), "\"\"");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_against_exact),
        cmocka_unit_test(test_merge_and_clamp),
        cmocka_unit_test(test_text_escapes),
        cmocka_unit_test(test_json_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
