/*
 * test_bpf_translate.c - the translator's handling of a parked task's
 * stack record (tsb_task_stack, from the release runtime's state dump):
 * a well-formed one becomes the modules holding its addresses and one
 * task_stack event with the same addresses in order; whatever a record
 * claims (a depth past its array, stray flag bits, no task, a short
 * record), what comes out stays inside the record, so nothing the traced
 * program's memory holds can make the tracer read out of bounds.  Needs
 * no BPF: the records are built here, as the program would.
 */
#include <linux/types.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "translate.h"
#include "tsb_abi.h"

typedef struct seen {
    int stacks, modules;
    ts_ev_task_stack last;
    uint64_t pcs[TSB_TASK_DEPTH + 1];
    size_t last_size;
} seen;

static void on_rec(const ts_ev_header *rec, uint64_t ns, uint32_t tid, void *arg) {
    (void)ns, (void)tid;
    seen *s = arg;
    if (rec->type == TS_EV_module)
        s->modules++;
    if (rec->type != TS_EV_task_stack)
        return;
    s->stacks++;
    memcpy(&s->last, rec, sizeof s->last);
    s->last_size = rec->size;
    assert_true(rec->size >= sizeof s->last);
    size_t n = (rec->size - sizeof s->last) / 8;
    assert_true(n <= TSB_TASK_DEPTH);
    memcpy(s->pcs, (const char *)rec + sizeof s->last, n * 8);
}

static struct tsb_task_stack record(uint64_t task, uint32_t depth, uint32_t flags) {
    struct tsb_task_stack r;
    memset(&r, 0, sizeof r);
    r.h.ns = 1000;
    r.h.tid = (uint32_t)getpid();
    r.h.kind = TSB_TASK_STACK;
    r.task = task;
    r.flags = flags;
    r.depth = depth;
    for (size_t i = 0; i < TSB_TASK_DEPTH; i++) /* code of this test: a mapped module */
        r.pcs[i] = (uint64_t)(uintptr_t)&on_rec + i;
    return r;
}

static void test_stack_record(void **state) {
    (void)state;
    tsb_translator *t = tsb_translator_new(getpid());
    assert_non_null(t);
    seen s = {0};
    struct tsb_task_stack r = record(7, 3, 2);
    tsb_translate(t, &r, sizeof r, on_rec, &s);
    assert_int_equal(s.stacks, 1);
    assert_true(s.modules >= 1); /* the module holding them, to symbolize */
    assert_int_equal(s.last.task, 7);
    assert_int_equal(s.last.depth, 3);
    assert_int_equal(s.last.flags, 2);
    assert_int_equal(s.last_size, sizeof s.last + 3 * 8);
    for (int i = 0; i < 3; i++)
        assert_int_equal(s.pcs[i], r.pcs[i]);
    /* the same module is not sent twice */
    int modules = s.modules;
    tsb_translate(t, &r, sizeof r, on_rec, &s);
    assert_int_equal(s.modules, modules);
    tsb_translator_free(t);
}

static void test_hostile_records(void **state) {
    (void)state;
    tsb_translator *t = tsb_translator_new(getpid());
    assert_non_null(t);
    seen s = {0};
    /* a depth past the array: cut to the array, flags kept to the known bits */
    struct tsb_task_stack r = record(9, 0xffffffffu, 0xfffffff8u | 1);
    tsb_translate(t, &r, sizeof r, on_rec, &s);
    assert_int_equal(s.stacks, 1);
    assert_int_equal(s.last.depth, TSB_TASK_DEPTH);
    assert_int_equal(s.last.flags, 1);
    assert_int_equal(s.last_size, sizeof s.last + TSB_TASK_DEPTH * 8);
    /* no task, or a record shorter than its kind: skipped, counted */
    tsb_translate_stats before, after;
    tsb_translate_get_stats(t, &before);
    r = record(0, 2, 0);
    tsb_translate(t, &r, sizeof r, on_rec, &s);
    r = record(5, 2, 0);
    tsb_translate(t, &r, sizeof r - 8, on_rec, &s);
    tsb_translate_get_stats(t, &after);
    assert_int_equal(s.stacks, 1);
    assert_int_equal(after.bad - before.bad, 2);
    /* an empty stack (a walk this build cannot do) still says so */
    r = record(11, 0, 4);
    tsb_translate(t, &r, sizeof r, on_rec, &s);
    assert_int_equal(s.stacks, 2);
    assert_int_equal(s.last.depth, 0);
    assert_int_equal(s.last.flags, 4);
    tsb_translator_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stack_record),
        cmocka_unit_test(test_hostile_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
