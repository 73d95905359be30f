/*
 * why_steps.h - the per-task step summary (table task_steps) that
 * ts_store_close adds to a recording for `taskscope why` (why_steps.c).
 */
#ifndef TS_WHY_STEPS_H
#define TS_WHY_STEPS_H

#include <sqlite3.h>

/* Build task_steps and task_steps_pids in db (after the event indexes).
 * 0, or a negative code (nothing is left half made: why then reads the
 * steps themselves, as for a recording from an older taskscope). */
int why_steps_build(sqlite3 *db);

#endif
