/*
 * debug_release.c - the debug-runtime settings as the release library has
 * them: present (one ABI for both libraries), inert.
 */
#include <errno.h>

#include "taskscope/debug.h"

int ts_debug_set_ring_size(size_t bytes) { (void)bytes; return -ENOTSUP; }
int ts_debug_set_block_threshold(double s) { (void)s; return -ENOTSUP; }
int ts_debug_set_slow_step_threshold(double s) { (void)s; return -ENOTSUP; }
int ts_debug_flush(void) { return -ENOTSUP; }
int ts_task_set_field(ts_task *t, const char *key, const char *value) {
    (void)t, (void)key, (void)value;
    return -ENOTSUP;
}
int ts_event_log(const char *text) { (void)text; return -ENOTSUP; }
