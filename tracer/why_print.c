/*
 * why_print.c - the why tree as text and JSON, and the names its nodes
 * refer to (tasks, sites, resources, wait kinds).
 *
 * Every recorded string goes through textsafe (escaped on a terminal,
 * valid in JSON); nothing here changes the tree.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "../schemas/store_ddl.h"
#include "syscalls.h"
#include "textsafe.h"
#include "why.h"

static const char *const KINDS[] = {"other", "task", "future", "sleep", "yield", "lock",
                                    "event", "condition", "semaphore", "barrier", "queue_get",
                                    "queue_put", "queue_join", "fd", "executor", "generator",
                                    "group"};

const char *why_kind_name(int k) {
    return k >= 0 && k < (int)(sizeof KINDS / sizeof *KINDS) ? KINDS[k] : "other";
}

/* One text column from a one-row query with ?1 = id, ?2 = pid; NULL if none.
 * Caller frees it. */
static char *lookup(why_ctx *c, const char *sql, int64_t id) {
    sqlite3 *db = why_db(c);
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, why_pid(c));
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            out = strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return out;
}

static const char SQL_SITE[] = "SELECT " TS_DDL_SITE("?1", "?2");
/* A task spawned before the recording (a live window) is named by the
 * state dump. */
static const char SQL_TASK_NAME[] =
    "SELECT coalesce((SELECT " TS_DDL_STR("c.name", "c.pid")
    " FROM ev_task_create c WHERE c.task = ?1 AND c.pid = ?2 LIMIT 1), (SELECT "
    TS_DDL_STR("s.name", "s.pid") " FROM ev_task_state s WHERE s.task = ?1 AND s.pid = ?2"
    " ORDER BY s.seq DESC LIMIT 1))";
static const char SQL_TASK_SITE[] =
    "SELECT coalesce((SELECT " TS_DDL_SITE("c.site", "c.pid")
    " FROM ev_task_create c WHERE c.task = ?1 AND c.pid = ?2 LIMIT 1), (SELECT "
    TS_DDL_SITE("s.site", "s.pid") " FROM ev_task_state s WHERE s.task = ?1 AND s.pid = ?2"
    " ORDER BY s.seq DESC LIMIT 1))";
static const char SQL_RES_SITE[] = "SELECT site FROM resources WHERE id = ?1 AND pid = ?2 LIMIT 1";
static const char SQL_RES_NAME[] = "SELECT name FROM resources WHERE id = ?1 AND pid = ?2 LIMIT 1";

/* What an fd wait's fd was: the latest fd_info for it before the wait
 * began (an fd number is reused; the first instance of the node says). */
typedef struct fd_desc {
    char *kind, *how, *address; /* malloc'd; NULL when unknown */
} fd_desc;

static void fd_free(fd_desc *d) {
    free(d->kind);
    free(d->how);
    free(d->address);
}

static fd_desc fd_lookup_at(why_ctx *c, uint64_t fd, int64_t seq) {
    fd_desc d = {0};
    sqlite3_stmt *st = NULL;
    if (seq < 0 || /* why_fd_name's "not one fd" */
        sqlite3_prepare_v2(why_db(c),
                           "SELECT kind, how, address FROM fds WHERE fd = ?1 AND pid = ?2"
                           " AND seq < ?3 ORDER BY seq DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return d;
    }
    sqlite3_bind_int64(st, 1, (int64_t)fd);
    sqlite3_bind_int64(st, 2, why_pid(c));
    sqlite3_bind_int64(st, 3, seq ? seq : INT64_MAX);
    if (sqlite3_step(st) == SQLITE_ROW && /* closed since: unknown now */
        strcmp((const char *)sqlite3_column_text(st, 1), "closed") != 0) {
        const unsigned char *k = sqlite3_column_text(st, 0), *h = sqlite3_column_text(st, 1);
        const unsigned char *a = sqlite3_column_text(st, 2);
        d.kind = k ? strdup((const char *)k) : NULL;
        d.how = h ? strdup((const char *)h) : NULL;
        d.address = strdup(a ? (const char *)a : "");
    }
    sqlite3_finalize(st);
    return d;
}

static fd_desc fd_lookup(why_ctx *c, const why_node *n) {
    if (n->wkind != 13)
        return (fd_desc){0};
    return fd_lookup_at(c, n->object, n->seq);
}

char *why_fd_name(why_ctx *c, uint64_t fd, int64_t seq) {
    fd_desc d = fd_lookup_at(c, fd, seq);
    char *out = NULL;
    if (d.address) {
        const char *k = d.kind ? d.kind : "other";
        size_t n = strlen(k) + strlen(d.address) + 2;
        out = malloc(n);
        if (out)
            snprintf(out, n, "%s%s%s", k, d.address[0] ? " " : "", d.address);
    }
    fd_free(&d);
    return out;
}

/* The peer of a connected socket: the part of "peer <- local" before the
 * arrow; NULL for a listener, a file or an unknown fd.  malloc'd. */
static char *fd_peer(const fd_desc *d) {
    const char *arrow = d->address ? strstr(d->address, " <- ") : NULL;
    return arrow ? strndup(d->address, (size_t)(arrow - d->address)) : NULL;
}

/* Is the peer of fd wait n's socket in this process?  Its other end is
 * an fd the runtime described with the mirrored address ("local <-
 * peer"), or, for a Unix socket, whose unnamed end says nothing, a
 * listener on the peer's address.  The fd number, or -1.  *how receives
 * "accepted", "connected" or "listening" (static). */
static int fd_mirror(why_ctx *c, const fd_desc *d, const char **how) {
    const char *arrow = d->address ? strstr(d->address, " <- ") : NULL;
    if (!arrow)
        return -1;
    const char *local = arrow + 4;
    size_t plen = (size_t)(arrow - d->address);
    char *mirror = NULL, *peer = strndup(d->address, plen);
    if (!peer || asprintf(&mirror, "%s <- %s", local, peer) < 0) {
        free(peer);
        return -1;
    }
    int fd = -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(why_db(c),
                           "SELECT fd, how FROM fds WHERE pid = ?2 AND how <> 'closed' AND ((address = ?1 AND ?3)\n"
                           "  OR (how = 'listening' AND address = ?4)) ORDER BY how = 'listening', seq DESC LIMIT 1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, mirror, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, why_pid(c));
        sqlite3_bind_int(st, 3, strcmp(local, "?") != 0); /* an unnamed end matches nothing */
        sqlite3_bind_text(st, 4, peer, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            fd = sqlite3_column_int(st, 0);
            const char *h = (const char *)sqlite3_column_text(st, 1);
            *how = h && !strcmp(h, "listening") ? "listening" : h && !strcmp(h, "accepted") ? "accepted" : "connected";
        }
    }
    sqlite3_finalize(st);
    free(mirror);
    free(peer);
    return fd;
}

int why_kind_is_resource(int k) { return k == 2 || (k >= 5 && k <= 12) || k == 16; }

const char *why_cause_name(int cause) {
    static const char *const NAMES[] = {"", "held by", "awaited", "woken by", "ran meanwhile",
                                        "put by", "cancelled by", "set by", "notified by"};
    /* (for a wait on several tasks, "awaited" is the one that finished last) */
    return cause >= 0 && cause < (int)(sizeof NAMES / sizeof *NAMES) ? NAMES[cause] : "";
}

const char *why_notask_name(int why) {
    static const char *const NAMES[] = {"timer", "timed_out", "cancelled", "outside",
                                        "unfinished", "self"};
    return why >= 0 && why < (int)(sizeof NAMES / sizeof *NAMES) ? NAMES[why] : "unknown";
}

/* A WHY_NOTASK node as a phrase: why none of its waits had a cause task. */
static const char *notask_text(int why) {
    switch (why) {
    case WHY_NOTASK_TIMER:
        return "slept its time, no task woke it";
    case WHY_NOTASK_TIMED_OUT:
        return "timed out, no task woke it";
    case WHY_NOTASK_CANCELLED:
        return "cancelled, by no task";
    case WHY_NOTASK_OUTSIDE:
        return "woken by no task of this process";
    case WHY_NOTASK_UNFINISHED:
        return "not woken before the window's end";
    case WHY_NOTASK_SELF:
        return "caused by the task itself";
    }
    return "no task caused it";
}

const char *why_type_name(int type) {
    static const char *const TYPES[] = {"task", "running", "runnable", "wait", "other",
                                        "loop", "blocking", "ended", "no_task"};
    return type >= 0 && type < (int)(sizeof TYPES / sizeof *TYPES) ? TYPES[type] : "other";
}

static void pct(FILE *out, uint64_t ns, uint64_t wall) {
    fprintf(out, "%9.3f ms %5.1f%%  ", ns / 1e6, wall ? 100.0 * (double)ns / (double)wall : 0.0);
}

void why_print_text(FILE *out, why_ctx *c, const why_node *n, uint64_t wall, int indent) {
    for (; n; n = n->next) {
        pct(out, n->ns, wall);
        /* a chain 100 deep would push the text off any screen: past 20
         * levels the level is written as a number instead */
        if (indent <= 20)
            fprintf(out, "%*s", indent * 2, "");
        else
            fprintf(out, "%*s[level %d] ", 40, "", indent);
        if (n->type == WHY_TASK && !n->task) {
            fprintf(out, "ran meanwhile: %u other task%s\n", n->count, n->count == 1 ? "" : "s");
        } else if (n->type == WHY_TASK) {
            char *name = lookup(c, SQL_TASK_NAME, (int64_t)n->task);
            char *site = lookup(c, SQL_TASK_SITE, (int64_t)n->task);
            if (indent)
                fprintf(out, "%s ", why_cause_name(n->cause));
            fprintf(out, "task #%" PRIu64 " ", n->task);
            ts_text_put(out, name ? name : "?", 0);
            if (site) {
                fputs(" (spawned at ", out);
                ts_text_put(out, site, 0);
                fputc(')', out);
            }
            if (n->inferred)
                fputs(" [inferred: the releaser, of several holders]", out);
            if (n->cause == WHY_CAUSE_RAN && n->loop_blocked_ns) {
                const char *sc =
                    n->blocker_syscall >= 0 ? ts_syscall_name(n->blocker_syscall) : NULL;
                fprintf(out, " [blocking the loop %.3f ms", n->loop_blocked_ns / 1e6);
                if (sc)
                    fprintf(out, ", in the system call %s", sc);
                char *at = why_stack_site(c, n->object);
                if (at) {
                    fputs(" at ", out);
                    ts_text_put(out, at, 0);
                    free(at);
                }
                fputc(']', out);
            }
            fputc('\n', out);
            free(name);
            free(site);
        } else if (n->type == WHY_RUN) {
            fprintf(out, "running (%u step%s)\n", n->count, n->count == 1 ? "" : "s");
        } else if (n->type == WHY_SCHED) {
            fprintf(out, "runnable, waiting for the loop (%u time%s)\n", n->count,
                    n->count == 1 ? "" : "s");
        } else if (n->type == WHY_OTHER) {
            fputs("other/unattributed (no events explain it)\n", out);
        } else if (n->type == WHY_ENDED) {
            fputs("ended (its end being delivered to the waiter)\n", out);
        } else if (n->type == WHY_NOTASK) {
            fprintf(out, "%s (%u wait%s)\n", notask_text(n->wkind), n->count,
                    n->count == 1 ? "" : "s");
        } else if (n->type == WHY_LOOP) {
            fputs("no task running (the loop's callbacks, timers, polling; or preempted)\n", out);
        } else if (n->type == WHY_BLOCK) {
            fprintf(out, "running, blocking the loop (%u step%s the watchdog reported; ", n->count,
                    n->count == 1 ? "" : "s");
            if (n->wkind >= 0) {
                const char *sc = ts_syscall_name(n->wkind);
                if (sc)
                    fprintf(out, "in the system call %s)", sc);
                else
                    fprintf(out, "in system call %d)", n->wkind);
            } else {
                fputs("on the CPU)", out);
            }
            char *at = why_stack_site(c, n->object);
            if (at) {
                fputs(" at ", out);
                ts_text_put(out, at, 0);
                free(at);
            }
            fputc('\n', out);
        } else {
            fprintf(out, "waiting: %s", why_kind_name(n->wkind));
            if (why_kind_is_resource(n->wkind) && n->object) {
                char *rn = lookup(c, SQL_RES_NAME, (int64_t)n->object);
                if (rn) { /* as every other text names a resource: kind "name" */
                    fputs(" \"", out);
                    ts_text_put(out, rn, 0);
                    fputc('"', out);
                } else {
                    char *rs = lookup(c, SQL_RES_SITE, (int64_t)n->object);
                    fprintf(out, " %#" PRIx64, n->object);
                    if (rs) {
                        fputs(" (created at ", out);
                        ts_text_put(out, rs, 0);
                        fputc(')', out);
                    }
                    free(rs);
                }
                free(rn);
            } else if (n->wkind == 13) {
                fd_desc d = fd_lookup(c, n);
                fprintf(out, " %" PRIu64, n->object);
                if (d.address) {
                    fprintf(out, " (%s ", d.kind ? d.kind : "other");
                    ts_text_put(out, d.address, 0);
                    fputc(')', out);
                }
                fd_free(&d);
            } else if (n->wkind == 1) {
                fprintf(out, " #%" PRIu64, n->object);
            } else if (n->wkind == 14 && n->object) { /* the job: an address */
                fprintf(out, " %#" PRIx64, n->object);
            }
            char *site = lookup(c, SQL_SITE, n->site);
            if (site) {
                fputs(" at ", out);
                ts_text_put(out, site, 0);
            }
            free(site);
            fprintf(out, " (%u wait%s", n->count, n->count == 1 ? "" : "s");
            if (n->cancelled)
                fprintf(out, ", %u cancelled", n->cancelled);
            if (n->timed_out)
                fprintf(out, ", %u timed out", n->timed_out);
            fputs(")", out);
            for (unsigned k = 0; k < n->nholders; k++) {
                char *hn = lookup(c, SQL_TASK_NAME, (int64_t)n->holders[k]);
                fprintf(out, "%s#%" PRIu64 " ", k ? ", " : "; held when it began by ", n->holders[k]);
                ts_text_put(out, hn ? hn : "?", 0);
                free(hn);
            }
            if (n->nholders)
                fputs(" (inferred)", out);
            if (n->wkind == 13 && n->external) {
                /* the loop's poll woke it, no task did: what made the fd
                 * ready is outside the process */
                fd_desc d = fd_lookup(c, n);
                char *peer = fd_peer(&d);
                const char *how = NULL;
                int mfd = fd_mirror(c, &d, &how);
                if (n->external == n->count)
                    fputs("; no task of this process woke it", out);
                else
                    fprintf(out, "; %u of them woken by no task of this process", n->external);
                if (mfd >= 0 && peer) {
                    fputs(" (the poll did): the peer ", out);
                    ts_text_put(out, peer, 0);
                    if (!strcmp(how, "listening"))
                        fprintf(out, " listens on this process's own fd %d: the cause is the task"
                                " serving that connection (inferred)", mfd);
                    else
                        fprintf(out, " is this process's own fd %d (%s): the cause is the task"
                                " writing to it (inferred)", mfd, how);
                } else if (peer) {
                    fputs(": the cause is outside the process (inferred: the peer ", out);
                    ts_text_put(out, peer, 0);
                    fputc(')', out);
                } else {
                    fprintf(out, ": the cause is outside the process (inferred: whatever makes"
                            " fd %" PRIu64 " ready)", n->object);
                }
                free(peer);
                fd_free(&d);
            }
            if (n->loop_blocked_ns) {
                char *bn = lookup(c, SQL_TASK_NAME, (int64_t)n->blocker);
                fprintf(out, "; the loop was blocked %.3f ms of it, by task #%" PRIu64 " ",
                        n->loop_blocked_ns / 1e6, n->blocker);
                ts_text_put(out, bn ? bn : "?", 0);
                const char *sc = n->blocker_syscall >= 0 ? ts_syscall_name(n->blocker_syscall) : NULL;
                if (sc)
                    fprintf(out, " in the system call %s", sc);
                free(bn);
            }
            fputc('\n', out);
        }
        why_print_text(out, c, n->child, wall, indent + 1);
    }
}

static void json_str(FILE *out, const char *key, const char *v) {
    fprintf(out, ",\"%s\":", key);
    if (v)
        ts_json_put(out, v);
    else
        fputs("null", out);
}

void why_print_json(FILE *out, why_ctx *c, const why_node *n, uint64_t wall) {
    fprintf(out, "{\"type\":\"%s\",\"ns\":%" PRIu64 ",\"percent\":%.3f,\"count\":%u",
            why_type_name(n->type), n->ns, wall ? 100.0 * (double)n->ns / (double)wall : 0.0, n->count);
    if (n->type == WHY_TASK) {
        char *name = lookup(c, SQL_TASK_NAME, (int64_t)n->task);
        char *site = lookup(c, SQL_TASK_SITE, (int64_t)n->task);
        fprintf(out, ",\"task\":%" PRIu64, n->task);
        json_str(out, "name", name);
        json_str(out, "spawn_site", site);
        json_str(out, "relation", n->cause ? why_cause_name(n->cause) : NULL);
        fprintf(out, ",\"inferred\":%s", n->inferred ? "true" : "false");
        if (n->cause == WHY_CAUSE_RAN && n->loop_blocked_ns) {
            const char *sc = n->blocker_syscall >= 0 ? ts_syscall_name(n->blocker_syscall) : NULL;
            char *at = why_stack_site(c, n->object);
            fprintf(out, ",\"loop_blocked_ns\":%" PRIu64, n->loop_blocked_ns);
            json_str(out, "syscall", sc);
            json_str(out, "call_site", at);
            free(at);
        }
        free(name);
        free(site);
    } else if (n->type == WHY_NOTASK) {
        fprintf(out, ",\"reason\":\"%s\"", why_notask_name(n->wkind));
    } else if (n->type == WHY_BLOCK) {
        const char *sc = n->wkind >= 0 ? ts_syscall_name(n->wkind) : NULL;
        fprintf(out, ",\"syscall_nr\":%d", n->wkind);
        json_str(out, "syscall", sc);
        char *at = why_stack_site(c, n->object);
        json_str(out, "call_site", at);
        free(at);
    } else if (n->type == WHY_WAIT) {
        char *site = lookup(c, SQL_SITE, n->site);
        char *rn = why_kind_is_resource(n->wkind) ? lookup(c, SQL_RES_NAME, (int64_t)n->object) : NULL;
        fprintf(out, ",\"kind\":\"%s\",\"object\":%" PRIu64 ",\"cancelled\":%u,\"timed_out\":%u",
                why_kind_name(n->wkind), n->object, n->cancelled, n->timed_out);
        json_str(out, "object_name", rn);
        if (why_kind_is_resource(n->wkind)) {
            char *rs = lookup(c, SQL_RES_SITE, (int64_t)n->object);
            json_str(out, "object_site", rs);
            free(rs);
        }
        json_str(out, "await_site", site);
        if (n->wkind == 13) {
            /* fd: what it was (null if the runtime never said), and how
             * many waits no task of the process woke (the cause outside) */
            fd_desc d = fd_lookup(c, n);
            char *peer = fd_peer(&d);
            if (d.address) {
                fputs(",\"fd\":{\"kind\":", out);
                ts_json_put(out, d.kind ? d.kind : "other");
                json_str(out, "how", d.how);
                json_str(out, "address", d.address);
                json_str(out, "peer", peer);
                fputc('}', out);
            } else {
                fputs(",\"fd\":null", out);
            }
            const char *how = NULL;
            int mfd = d.address ? fd_mirror(c, &d, &how) : -1;
            fprintf(out, ",\"woken_by_no_task\":%u,\"cause_outside_process\":%s", n->external,
                    n->external && mfd < 0 ? "true" : "false");
            if (mfd >= 0)
                fprintf(out, ",\"peer_in_process\":{\"fd\":%d,\"how\":\"%s\"}", mfd, how);
            else
                fputs(",\"peer_in_process\":null", out);
            free(peer);
            fd_free(&d);
        }
        fprintf(out, ",\"loop_blocked_ns\":%" PRIu64, n->loop_blocked_ns);
        if (n->loop_blocked_ns) {
            char *bn = lookup(c, SQL_TASK_NAME, (int64_t)n->blocker);
            const char *sc = n->blocker_syscall >= 0 ? ts_syscall_name(n->blocker_syscall) : NULL;
            fprintf(out, ",\"loop_blocker\":{\"task\":%" PRIu64 ",\"ns\":%" PRIu64, n->blocker,
                    n->blocker_ns);
            json_str(out, "name", bn);
            json_str(out, "syscall", sc);
            fputc('}', out);
            free(bn);
        }
        fputs(",\"holders\":[", out);
        for (unsigned k = 0; k < n->nholders; k++) {
            char *hn = lookup(c, SQL_TASK_NAME, (int64_t)n->holders[k]);
            fprintf(out, "%s{\"task\":%" PRIu64, k ? "," : "", n->holders[k]);
            json_str(out, "name", hn);
            fputc('}', out);
            free(hn);
        }
        fputs("]", out);
        free(site);
        free(rn);
    }
    fputs(",\"children\":[", out);
    for (const why_node *k = n->child; k; k = k->next) {
        why_print_json(out, c, k, wall);
        if (k->next)
            fputc(',', out);
    }
    fputs("]}", out);
}


char *why_task_name(why_ctx *c, uint64_t task) { return lookup(c, SQL_TASK_NAME, (int64_t)task); }
char *why_task_site(why_ctx *c, uint64_t task) { return lookup(c, SQL_TASK_SITE, (int64_t)task); }
char *why_site(why_ctx *c, int64_t site) { return lookup(c, SQL_SITE, site); }
char *why_resource_name(why_ctx *c, uint64_t id) { return lookup(c, SQL_RES_NAME, (int64_t)id); }
