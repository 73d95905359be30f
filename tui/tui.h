/*
 * tui.h - `taskscope top`: the ncurses front end over the tracer's model.
 *
 *   taskscope top PID                 attach to a live process and watch it
 *   taskscope top -- PROGRAM [ARGS]   launch PROGRAM on the debug runtime,
 *                                     record it and watch it
 *   taskscope top FILE                replay a recording with a time cursor
 *
 * Live sessions record while they watch (-o FILE, default taskscope.db).
 * Without a terminal on stdin and stdout (CI), the same commands record
 * and print the ps, pstree and blocked reports instead.
 *
 * The TUI reads the model (tracer/model.h) and nothing else: it never
 * touches shared memory or SQL directly, only through tracer/session.h
 * and tracer/store.h.
 */
#ifndef TS_TUI_H
#define TS_TUI_H

/* argv[0] is the subcommand's name ("top").  Returns the exit status:
 * 0, 1 on failure (message on stderr), 2 on bad usage. */
int ts_tui_main(int argc, char **argv);

#endif
