/*
 * wake.c - waking the loops of a traced process so they answer a state
 * dump (runtime/src/statedump.c) even when idle: a loop blocked in
 * epoll_wait, a deadlocked program, is exactly where `ps` matters.
 *
 * Each loop registers its eventfd in its epoll set with TS_LOOP_EVFD_TAG
 * in epoll_data; /proc/PID/fdinfo of an epoll fd lists its targets
 * ("tfd: N events: E data: D"), so the tagged eventfd is found without
 * guessing.  It is fetched with pidfd_getfd(2) and written once: the
 * loop registers it edge-triggered and treats a wakeup it did not ask
 * for as spurious, so nothing else in the program notices.
 *
 * Invariants: only fds the runtime tagged are written; nothing of the
 * target is changed but that eventfd's counter, which the loop drains.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "procinfo.h"

#define TAG 0x7473776bu /* TS_LOOP_EVFD_TAG, runtime/src/tracepoints.h */

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

static int is_epoll(int pid, const char *fd) {
    char path[300], link[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%s", pid, fd);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n <= 0)
        return 0;
    link[n] = 0;
    return !strcmp(link, "anon_inode:[eventpoll]");
}

/* The tagged eventfd among the targets of epoll fd `fd`, or -1. */
static int tagged_target(int pid, const char *fd) {
    char path[300], line[256];
    snprintf(path, sizeof path, "/proc/%d/fdinfo/%s", pid, fd);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int found = -1;
    while (found < 0 && fgets(line, sizeof line, f)) {
        int tfd;
        unsigned events;
        unsigned long long data;
        if (sscanf(line, "tfd: %d events: %x data: %llx", &tfd, &events, &data) != 3)
            continue;
        uint32_t hi = (uint32_t)(data >> 32), lo = (uint32_t)data;
        if ((hi == TAG && lo == (uint32_t)tfd) || (lo == TAG && hi == (uint32_t)tfd))
            found = tfd;
    }
    fclose(f);
    return found;
}

static int write_one(int pidfd, int target_fd) {
    int fd = (int)syscall(SYS_pidfd_getfd, pidfd, target_fd, 0);
    if (fd < 0)
        return -errno;
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof one);
    int rc = n == (ssize_t)sizeof one ? 0 : -errno;
    close(fd);
    return rc;
}

int tsb_wake_loops(int pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? -ESRCH : -errno;
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        int e = -errno;
        closedir(d);
        return e;
    }
    int woken = 0, err = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !is_epoll(pid, de->d_name))
            continue;
        int tfd = tagged_target(pid, de->d_name);
        if (tfd < 0)
            continue;
        int rc = write_one(pidfd, tfd);
        if (rc == 0)
            woken++;
        else
            err = rc;
    }
    close(pidfd);
    closedir(d);
    return woken ? woken : err;
}
