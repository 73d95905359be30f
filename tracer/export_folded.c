/*
 * export_folded.c - `taskscope export --format folded`: wait flame graphs
 * (issue 19 point 3).  The why tree (why.h) of one task, or the merged
 * trees of every task spawned at a site (why_agg.h), as folded stacks:
 * one line per path from the root to a node with time of its own,
 *
 *     request #5;wait lock "pool" at db.c:40 in get();held by flusher #2;running 41000000
 *
 * frames joined by ';', then a space and the weight in ns: the input of
 * flamegraph.pl, inferno and speedscope.
 *
 * Invariant: the weights add up to the root's wall time exactly.  A
 * node's own weight is its time less its children's; a node whose
 * children do not partition it (a scheduling delay's "ran meanwhile"
 * tasks may overlap it only partly) is written as a leaf with all its
 * time, never as more than it is.
 *
 * A frame never holds ';', a line break or other control character, nor
 * invalid UTF-8: such bytes are written as \xNN (and '\' as \\), so a
 * hostile task name can neither split a frame nor forge a line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_folded.h"
#include "syscalls.h"
#include "textsafe.h"
#include "why_agg.h"

/* A site's flame graph decomposes each of its tasks, a few index probes
 * per node of its tree: past this many tasks, or once their trees held
 * FOLDED_MAX_NODES nodes, the slowest ones stand for the rest, and the
 * root frame says so. */
#define FOLDED_MAX_TASKS 10000
#define FOLDED_MAX_NODES 100000

/* The path so far: frames already escaped, joined by ';'. */
typedef struct path {
    char *s;
    size_t len, cap;
} path;

static int path_add(path *p, const char *s, size_t n) {
    if (p->len + n + 1 > p->cap) {
        size_t cap = p->cap ? p->cap : 256;
        while (cap < p->len + n + 1)
            cap *= 2;
        char *q = realloc(p->s, cap);
        if (!q)
            return -ENOMEM;
        p->s = q;
        p->cap = cap;
    }
    memcpy(p->s + p->len, s, n);
    p->len += n;
    p->s[p->len] = 0;
    return 0;
}

/* Append frame text s, escaped (see the file comment). */
static int path_frame(path *p, const char *s) {
    if (p->len && path_add(p, ";", 1))
        return -ENOMEM;
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    while (n) {
        unsigned cp;
        size_t k = ts_utf8_next(u, n, &cp);
        char esc[8];
        if (k == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || cp == ';') {
            if (k == 0)
                k = 1;
            for (size_t i = 0; i < k; i++) {
                snprintf(esc, sizeof esc, "\\x%02x", u[i]);
                if (path_add(p, esc, 4))
                    return -ENOMEM;
            }
        } else if (cp == '\\') {
            if (path_add(p, "\\\\", 2))
                return -ENOMEM;
        } else if (path_add(p, (const char *)u, k)) {
            return -ENOMEM;
        }
        u += k;
        n -= k;
    }
    return 0;
}

/* The frame naming node n (a malloc'd string). */
static char *frame_of(why_ctx *c, const why_node *n) {
    char *out = NULL, *a = NULL, *b = NULL;
    int r = -1;
    switch (n->type) {
    case WHY_RUN:
        return strdup("running");
    case WHY_SCHED:
        return strdup("runnable (waiting for the loop)");
    case WHY_OTHER:
        return strdup("unattributed (no event explains it)");
    case WHY_LOOP:
        return strdup("loop (no task running)");
    case WHY_ENDED:
        return strdup("ended (its end being delivered)");
    case WHY_NOTASK: /* the waits of a group no task caused */
        r = asprintf(&out, "no task: %s", why_notask_name(n->wkind));
        break;
    case WHY_BLOCK: {
        const char *sc = n->wkind >= 0 ? ts_syscall_name(n->wkind) : NULL;
        if (sc)
            r = asprintf(&out, "blocking the loop in %s", sc);
        else if (n->wkind >= 0)
            r = asprintf(&out, "blocking the loop in system call %d", n->wkind);
        else
            r = asprintf(&out, "blocking the loop on the CPU");
        break;
    }
    case WHY_TASK:
        if (!n->task) { /* the tasks past the named few that ran meanwhile */
            r = asprintf(&out, "%s: %u other task%s", why_cause_name(n->cause), n->count,
                         n->count == 1 ? "" : "s");
            break;
        }
        a = why_task_name(c, n->task);
        if (n->cause == WHY_CAUSE_NONE)
            r = asprintf(&out, "%s #%" PRIu64, a ? a : "?", n->task);
        else
            r = asprintf(&out, "%s %s #%" PRIu64, why_cause_name(n->cause), a ? a : "?", n->task);
        break;
    case WHY_WAIT:
        if (why_kind_is_resource(n->wkind) && n->object)
            a = why_resource_name(c, n->object);
        b = why_site(c, n->site);
        if (a)
            r = asprintf(&out, "wait %s \"%s\"%s%s", why_kind_name(n->wkind), a, b ? " at " : "",
                         b ? b : "");
        else if (n->wkind == 13 && (a = why_fd_name(c, n->object, n->seq)) != NULL)
            r = asprintf(&out, "wait fd %" PRIu64 " (%s)%s%s", n->object, a, b ? " at " : "",
                         b ? b : ""); /* what it was, as why names it */
        else if (n->wkind == 13)
            r = asprintf(&out, "wait fd %" PRIu64 "%s%s", n->object, b ? " at " : "", b ? b : "");
        else if (n->object && (n->wkind == 1 || why_kind_is_resource(n->wkind) || n->wkind == 14))
            r = asprintf(&out, "wait %s #%" PRIu64 "%s%s", why_kind_name(n->wkind), n->object,
                         b ? " at " : "", b ? b : "");
        else
            r = asprintf(&out, "wait %s%s%s", why_kind_name(n->wkind), b ? " at " : "",
                         b ? b : "");
        break;
    default:
        r = asprintf(&out, "%s", why_type_name(n->type)); /* a type added later */
        break;
    }
    free(a);
    free(b);
    return r < 0 ? NULL : out;
}

/* Do n's children partition it (their sum at most its time)? */
static int partitioned(const why_node *n, uint64_t *sum) {
    *sum = 0;
    for (const why_node *k = n->child; k; k = k->next)
        *sum += k->ns;
    return *sum <= n->ns;
}

/* Write node n (its frame appended to p) and everything under it. */
static int fold(FILE *out, why_ctx *c, const why_node *n, path *p, const char *root_frame) {
    size_t keep = p->len;
    char *f = root_frame ? NULL : frame_of(c, n);
    if ((!root_frame && !f) || path_frame(p, root_frame ? root_frame : f)) {
        free(f);
        return -ENOMEM;
    }
    free(f);
    uint64_t sum;
    int split = n->child && partitioned(n, &sum);
    uint64_t self = split ? n->ns - sum : n->ns;
    if (self)
        fprintf(out, "%s %" PRIu64 "\n", p->s, self);
    int rc = 0;
    for (const why_node *k = split ? n->child : NULL; k && !rc; k = k->next)
        if (k->ns)
            rc = fold(out, c, k, p, NULL);
    p->len = keep;
    if (p->s)
        p->s[keep] = 0;
    return rc;
}

int ts_export_folded(const char *file, FILE *out, const ts_folded_opts *o, char *err,
                     size_t errlen) {
    why_ctx *c = why_open(file, err, errlen);
    if (!c)
        return -EINVAL;
    why_node *root = NULL;
    char *root_frame = NULL;
    int rc = 0;
    if (o->task) {
        if (why_pick_pid(c, o->task)) {
            snprintf(err, errlen, "no task #%" PRIu64 " in %s", o->task, file);
            rc = -ENOENT;
        } else if (!(root = why_task(c, o->task, o->depth, NULL, NULL))) {
            rc = -errno;
            snprintf(err, errlen, "task #%" PRIu64 ": %s", o->task, strerror(-rc));
        }
    } else {
        why_agg a;
        rc = why_agg_collect(c, o->site, NULL, &a, err, errlen);
        if (!rc) {
            size_t take = a.n < FOLDED_MAX_TASKS ? a.n : FOLDED_MAX_TASKS;
            root = why_agg_tree(c, a.task, take, o->depth, FOLDED_MAX_NODES, NULL);
            int e = errno, k;
            if (root)
                take = root->count;
            if (take < a.n)
                k = asprintf(&root_frame, "spawned at %s (the %zu slowest of %zu tasks)", o->site,
                             take, a.n);
            else
                k = asprintf(&root_frame, "spawned at %s (%zu tasks)", o->site, a.n);
            if (k < 0)
                root_frame = NULL;
            if (!root) {
                snprintf(err, errlen, "%s", strerror(e));
                rc = -e;
            } else if (!root_frame) {
                snprintf(err, errlen, "out of memory");
                rc = -ENOMEM;
            }
            why_agg_free(&a);
        }
    }
    if (!rc) {
        path p = {0};
        rc = fold(out, c, root, &p, root_frame);
        free(p.s);
        if (rc)
            snprintf(err, errlen, "out of memory");
        else if (fflush(out) || ferror(out)) {
            snprintf(err, errlen, "write error: %s", strerror(errno));
            rc = -EIO;
        }
    }
    free(root_frame);
    why_node_free(root);
    why_close(c);
    return rc;
}
