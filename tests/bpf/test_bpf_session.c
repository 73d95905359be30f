/*
 * test_bpf_session.c - the BPF session the CLI drives (`taskscope run
 * --bpf`): a program on the release library started under it and
 * recorded to SQLite; the recording replays into a model with the same
 * tasks and the blocked read, so every report works on a release build.
 * Also: a spawn whose program loads no taskscope leaves no child behind.
 */
#include <sys/syscall.h>

#include "bpf_harness.h"
#include "bpf_session.h"
#include "store.h"

static void test_run_and_record(void **state) {
    (void)state;
    char db[4096];
    int fd = test_tmp_file(db, sizeof db, "tsb-session");
    assert_true(fd >= 0);
    close(fd);
    char err[512];
    ts_store *store;
    assert_int_equal(ts_store_create(db, &store, err, sizeof err), 0);
    ts_bpf_session bs;
    char *argv[] = {(char *)target_path(), "scenario", NULL};
    int rc = ts_bpf_session_spawn(&bs, argv, NULL, err, sizeof err);
    if (rc)
        fail_msg("spawn: %s", err);
    bs.s.store = store;
    assert_int_equal(ts_bpf_session_run(&bs, NULL, 60000), 1);
    int status;
    assert_int_equal(waitpid(bs.s.child, &status, 0), bs.s.child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(bs.s.events > 50);
    tm_task *live_reader = task_named(bs.s.model, "reader");
    assert_non_null(live_reader);
    assert_int_equal(ts_store_close(store, "complete", tm_model_dropped(bs.s.model)), 0);
    size_t live_tasks = tm_model_task_count(bs.s.model);
    ts_bpf_session_close(&bs);

    tm_model *m;
    assert_int_equal(ts_session_load(&m, db, err, sizeof err), 0);
    assert_int_equal(tm_model_task_count(m), live_tasks);
    tm_task *r = task_named(m, "reader");
    assert_non_null(r);
    assert_int_equal(r->state, TM_DONE);
    /* The reader's blocking read() must be among its episodes; others may
     * be there too (under ASan the task also blocks briefly in futex). */
    const tm_blocked *b = NULL;
    for (size_t i = 0; i < tm_model_blocked_count(m); i++)
        if (tm_model_blocked_at(m, i)->task == r->id &&
            tm_model_blocked_at(m, i)->syscall == SYS_read)
            b = tm_model_blocked_at(m, i);
    assert_non_null(b);
    assert_true(stack_has(m, b->stack, "blocking_reader", 0));
    tm_model_free(m);
    unlink(db);
}

static void test_spawn_non_taskscope(void **state) {
    (void)state;
    ts_bpf_session bs;
    char err[512];
    char *argv[] = {"true", NULL};
    assert_int_equal(ts_bpf_session_spawn(&bs, argv, NULL, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "does not load a taskscope library"));
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1); /* no child left */
    assert_int_equal(errno, ECHILD);
}

int main(void) {
    skip_unless_bpf();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_and_record),
        cmocka_unit_test(test_spawn_non_taskscope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
