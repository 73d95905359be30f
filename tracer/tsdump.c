/*
 * tsdump.c - ts-dump: print a live process's trace events, one per line.
 *
 * A small debugging aid over the reader library (tracer/reader.h), for
 * tests and for people looking at a running program today; the real
 * tracer CLI is a different program.  By default it prints the flight
 * recorder's window and exits, without disturbing the process.  With -f
 * it attaches as the live reader (which asks the runtime for a state
 * dump) and follows until the process exits, SIGINT, or -t seconds.
 *
 * Output: "<seconds since the first event> <tid> <role> <event fields>";
 * string and site ids are resolved.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "reader.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

struct dump_state {
    const ts_reader *rd;
    uint64_t t0;
};

static char role_letter(uint32_t role) {
    switch (role) {
    case TS_ROLE_LOOP: return 'L';
    case TS_ROLE_WORKER: return 'W';
    case TS_ROLE_WATCHDOG: return 'D';
    default: return '-';
    }
}

static void print_event(const ts_reader_event *ev, void *arg) {
    struct dump_state *s = arg;
    char line[4096];
    if (!s->t0)
        s->t0 = ev->ns;
    ts_reader_format(s->rd, ev, line, sizeof line);
    double t = ev->ns >= s->t0 ? (double)(ev->ns - s->t0) / 1e9 : -(double)(s->t0 - ev->ns) / 1e9;
    printf("%12.6f %6u %c %s\n", t, ev->tid, role_letter(ev->role), line);
}

static void print_stats(const ts_reader *rd) {
    ts_reader_stats st;
    ts_reader_get_stats(rd, &st);
    fprintf(stderr,
            "ts-dump: %llu events from %u rings; dropped %llu (reported %llu), lost %llu bytes, "
            "%llu corrupt (%llu bytes), %llu unknown%s\n",
            (unsigned long long)st.events, st.rings, (unsigned long long)st.dropped_total,
            (unsigned long long)st.dropped_events, (unsigned long long)st.lost_bytes,
            (unsigned long long)st.corrupt, (unsigned long long)st.corrupt_bytes,
            (unsigned long long)st.unknown, st.attached && st.dump_done ? ", state dump received"
                                                                        : "");
}

static void usage(void) {
    fprintf(stderr, "usage: ts-dump [-f] [-t SECONDS] [-s] PID\n"
                    "  (default) print the flight recorder's recent events and exit\n"
                    "  -f   attach as the live reader (asks for a state dump) and follow\n"
                    "  -t   with -f, stop after SECONDS\n"
                    "  -s   print reader statistics on stderr at the end\n");
}

static int follow(ts_reader *rd, struct dump_state *s, double seconds) {
    int err = ts_reader_attach(rd);
    if (err) {
        fprintf(stderr, "ts-dump: %s\n", ts_reader_error(rd));
        return err;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!stop) {
        err = ts_reader_poll(rd, print_event, s);
        if (err < 0) {
            fprintf(stderr, "ts-dump: %s\n", ts_reader_error(rd));
            return err;
        }
        fflush(stdout);
        if (!ts_reader_alive(rd)) {
            ts_reader_poll(rd, print_event, s);
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        double el = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        if (seconds > 0 && el >= seconds)
            break;
        struct timespec d = {0, 50 * 1000000};
        nanosleep(&d, NULL);
    }
    return 0;
}

int main(int argc, char **argv) {
    int opt, live = 0, stats = 0;
    double seconds = 0;
    while ((opt = getopt(argc, argv, "ft:sh")) != -1) {
        switch (opt) {
        case 'f': live = 1; break;
        case 't': seconds = strtod(optarg, NULL); break;
        case 's': stats = 1; break;
        default: usage(); return opt == 'h' ? 0 : 2;
        }
    }
    if (optind != argc - 1) {
        usage();
        return 2;
    }
    char *end;
    long pid = strtol(argv[optind], &end, 10);
    if (*end || pid <= 0) {
        usage();
        return 2;
    }
    char err[256];
    ts_reader *rd;
    int rc = ts_reader_open_pid(&rd, (int)pid, err, sizeof err);
    if (rc) {
        fprintf(stderr, "ts-dump: %s\n", err);
        return 1;
    }
    struct dump_state s = {rd, 0};
    if (live)
        rc = follow(rd, &s, seconds);
    else if ((rc = ts_reader_poll(rd, print_event, &s)) < 0)
        fprintf(stderr, "ts-dump: %s\n", ts_reader_error(rd));
    if (stats)
        print_stats(rd);
    ts_reader_close(rd);
    return rc < 0 ? 1 : 0;
}
