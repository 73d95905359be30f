/*
 * top_main.c - `taskscope-top`, a standalone `taskscope top` (the same
 * ts_tui_main the taskscope command runs for its `top` subcommand), so
 * the TUI can be built and tested on its own.
 */
#include "tui.h"

int main(int argc, char **argv) {
    argv[0] = "top";
    return ts_tui_main(argc, argv);
}
