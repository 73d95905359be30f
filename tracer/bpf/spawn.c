/*
 * spawn.c - starting a program under the BPF collector: the child waits
 * at a gate (a pipe) until the probes are attached, so its first event
 * is traced.  Uprobes are attached to the library's file and filtered by
 * pid, so attaching before the child has even exec'd the program works:
 * the breakpoints are planted when the library is mapped.
 *
 * Invariants: the child execs only after reading the release byte; if the
 * gate closes without it (the tracer failed), the child exits 127 without
 * running anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "collector.h"
#include "procinfo.h"

int ts_bpf_resolve_library(const char *program, char *out, size_t len, char *err, size_t errlen) {
    int rc = tsb_resolve_library(program, out, len);
    if (rc)
        snprintf(err, errlen, "%s does not load a taskscope library (ldd finds no libtaskscope, "
                              "and it has no taskscope probes of its own)", program);
    return rc;
}

int ts_bpf_spawn_gated(char *const argv[], int *pid, int *gate, char *err, size_t len) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC)) {
        snprintf(err, len, "pipe: %s", strerror(errno));
        return -errno;
    }
    pid_t child = fork();
    if (child < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        snprintf(err, len, "fork: %s", strerror(e));
        return -e;
    }
    if (child == 0) {
        close(fds[1]);
        char go;
        ssize_t n;
        while ((n = read(fds[0], &go, 1)) < 0 && errno == EINTR)
            ;
        if (n != 1)
            _exit(127);
        close(fds[0]);
        execvp(argv[0], argv);
        fprintf(stderr, "taskscope: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[0]);
    *pid = child;
    *gate = fds[1];
    return 0;
}

int ts_bpf_release(int gate) {
    char go = 1;
    ssize_t n;
    while ((n = write(gate, &go, 1)) < 0 && errno == EINTR)
        ;
    int e = n == 1 ? 0 : -errno;
    close(gate);
    return e;
}
