/*
 * prog_static.c - a statically linked program that runs until it is
 * killed, like a server: `taskscope run` must say at once that the debug
 * runtime cannot be swapped into it, and stop it (test_cli_launch).
 */
#include <unistd.h>

int main(void) {
    for (;;)
        pause();
}
