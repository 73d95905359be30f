/*
 * report.c - ps and pstree (see report.h; blocked and stats have files of
 * their own).  Text tables are fixed-width so they read in an 80-column
 * terminal, every program-supplied string cut and escaped by
 * ts_text_put; JSON is one document per report, stable field names.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report_impl.h"

static int task_listed(const tm_task *t, const tr_opts *o) {
    return t && (o->all || t->state < TM_DONE);
}

/* Finished tasks a report leaves out without --all.  ps and pstree list
 * what is live (at the end, for a recording) and say how many finished
 * tasks they hide and how to see them, rather than print a bare header
 * for a recording where everything has finished. */
static size_t hidden_count(const tm_model *m, const tr_opts *o) {
    size_t hidden = 0;
    for (size_t i = 0; i < tm_model_task_count(m) && !o->all; i++) {
        const tm_task *t = tm_model_task_at(m, i);
        hidden += t && t->state >= TM_DONE;
    }
    return hidden;
}

void tr__hidden_note(FILE *out, size_t hidden) {
    if (hidden)
        fprintf(out, "(%zu finished task%s not shown: --all lists them)\n", hidden,
                hidden == 1 ? "" : "s");
}

void tr__row_from_task(const tm_model *m, const tm_task *t, tr_row *r) {
    r->seq = t->seq;
    r->id = t->id;
    r->parent = t->parent;
    r->loop = t->loop;
    r->name = tm_task_name(m, t);
    r->state = tm_task_state_name(t);
    tm_task_times(m, t, &r->busy_ns, &r->scheduled_ns, &r->idle_ns);
    uint64_t end = t->state >= TM_DONE ? t->done_ns : tm_model_now(m);
    r->age_ns = end - t->created_ns;
    r->polls = t->polls;
    tr_awaits_text(m, t, r->aw_buf, sizeof r->aw_buf);
    r->awaits_text = r->aw_buf;
    int awaiting = strcmp(r->aw_buf, "-") != 0;
    r->awaits = awaiting ? tm_wait_kind_name(t->wait_kind) : NULL;
    /* (fd 0 is an object; task or resource id 0 is none) */
    r->has_object = awaiting && (t->wait_obj || t->wait_kind == 13);
    r->awaits_object = t->wait_obj;
    /* the await site only while it awaits: a finished task waits nowhere */
    r->await_site = tm_model_site_text(m, awaiting ? t->await_site : 0, r->asite_buf,
                                       sizeof r->asite_buf);
    r->spawn_site = tm_model_site_text(m, t->site, r->ssite_buf, sizeof r->ssite_buf);
    r->err = t->err;
    r->err_message = t->err_message ? tm_model_string(m, t->err_message) : NULL;
    r->cancel_requests = t->cancel_requests;
    r->warnings = t->warnings;
    r->lost = t->lost != 0;
    r->finished = t->state >= TM_DONE;
}

void tr__ps_head(FILE *out, const tm_model *m, const tr_opts *o) {
    if (o->json) {
        tr__json_head(out, m, o);
        fputs("\"tasks\":[", out);
    } else {
        tr__text_header(out, m, o);
        fprintf(out, "%6s %-18s %-9s %8s %8s %8s %8s %6s  %-40s %-34s %s\n", "id", "name", "state",
                "age", "busy", "sched", "idle", "polls", "awaits", "await site", "spawn site");
    }
}

void tr__ps_row(FILE *out, const tr_row *r, const tr_opts *o, int first) {
    char age[16], busy[16], sched[16], idle[16];
    if (o->json) {
        fprintf(out, "%s{\"id\":%" PRIu64, first ? "" : ",", r->id);
        tr__json_u64_or_null(out, "parent", r->parent, r->parent != 0);
        fprintf(out, ",\"loop\":%" PRIu64 ",\"name\":", r->loop);
        tr_json_str(out, r->name);
        fprintf(out, ",\"state\":\"%s\",\"age_ns\":%" PRIu64 ",\"busy_ns\":%" PRIu64
                     ",\"scheduled_ns\":%" PRIu64 ",\"idle_ns\":%" PRIu64 ",\"polls\":%" PRIu64,
                r->state, r->age_ns, r->busy_ns, r->scheduled_ns, r->idle_ns, r->polls);
        tr__json_str_or_null(out, "awaits", r->awaits, r->awaits != NULL);
        tr__json_u64_or_null(out, "awaits_object", r->awaits_object, r->has_object);
        tr__json_str_or_null(out, "awaits_text", r->awaits_text, r->awaits != NULL);
        tr__json_str_or_null(out, "await_site", r->await_site, strcmp(r->await_site, "-") != 0);
        tr__json_str_or_null(out, "spawn_site", r->spawn_site, strcmp(r->spawn_site, "-") != 0);
        tr__json_err(out, r->err);
        tr__json_str_or_null(out, "error_message", r->err_message, r->err_message != NULL);
        fprintf(out, ",\"cancel_requests\":%u,\"lost\":%s,\"warnings\":%u}",
                r->cancel_requests, r->lost ? "true" : "false", r->warnings);
        return;
    }
    tr_fmt_dur(age, sizeof age, r->age_ns);
    tr_fmt_dur(busy, sizeof busy, r->busy_ns);
    tr_fmt_dur(sched, sizeof sched, r->scheduled_ns);
    tr_fmt_dur(idle, sizeof idle, r->idle_ns);
    fprintf(out, "%6" PRIu64 " ", r->id);
    ts_text_put(out, r->name, 18);
    fprintf(out, " %-9s %8s %8s %8s %8s %6" PRIu64 "  ", r->state, age, busy, sched, idle,
            r->polls);
    ts_text_put(out, r->awaits_text, 40);
    fputc(' ', out);
    ts_text_put(out, r->await_site, 34);
    fputc(' ', out);
    ts_text_put(out, r->spawn_site, 0);
    fputs(r->warnings ? "  !\n" : "\n", out);
}

void tr__ps_tail(FILE *out, const tm_model *m, const tr_opts *o, size_t hidden) {
    if (o->json) {
        fprintf(out, "],\"tasks_hidden\":%zu", hidden);
        tr__json_tail(out, m);
    } else {
        tr__hidden_note(out, hidden);
        tr_warnings(out, m, o);
    }
}

void tr_ps(FILE *out, const tm_model *m, const tr_opts *o) {
    tr_row r;
    int first = 1;
    tr__ps_head(out, m, o);
    for (size_t i = 0; i < tm_model_task_count(m); i++) {
        const tm_task *t = tm_model_task_at(m, i);
        if (!task_listed(t, o))
            continue;
        tr__row_from_task(m, t, &r);
        tr__ps_row(out, &r, o, first);
        first = 0;
    }
    tr__ps_tail(out, m, o, hidden_count(m, o));
}

/* ---- pstree ------------------------------------------------------------------ */

/* The listed tasks by parent id (then model order): a node finds its
 * children by binary search instead of a scan of every task, which made
 * pstree quadratic (50 s for the 50k tasks a flooded recording keeps). */
typedef struct kid_ref {
    uint64_t parent;
    size_t at;          /* index in the model */
} kid_ref;

typedef struct kid_index {
    kid_ref *v;
    size_t n;
} kid_index;

static int kid_cmp(const void *a, const void *b) {
    const kid_ref *x = a, *y = b;
    if (x->parent != y->parent)
        return x->parent < y->parent ? -1 : 1;
    return (x->at > y->at) - (x->at < y->at);
}

static int kid_index_build(kid_index *kx, const tm_model *m, const tr_opts *o,
                           const unsigned char *cut) {
    size_t n = tm_model_task_count(m);
    kx->n = 0;
    kx->v = malloc((n ? n : 1) * sizeof *kx->v);
    if (!kx->v)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const tm_task *t = tm_model_task_at(m, i);
        if (task_listed(t, o) && t->parent && !cut[i])
            kx->v[kx->n++] = (kid_ref){t->parent, i};
    }
    qsort(kx->v, kx->n, sizeof *kx->v, kid_cmp);
    return 0;
}

/* The first entry whose parent is id (or kx->n). */
static size_t kid_first(const kid_index *kx, uint64_t id) {
    size_t lo = 0, hi = kx->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (kx->v[mid].parent < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---- parent cycles ------------------------------------------------------------ */

/* A recording is data from outside: a damaged one may say that A's
 * parent is B and B's parent is A.  Such tasks reach no root, so a walk
 * down from the roots would print none of them (nor their children).
 * Every parent cycle among the listed tasks is found here; on each, the
 * task first in report order has its parent edge cut (cut[i] = 1: it is
 * printed as a root, and not as anyone's child), so every task is still
 * printed exactly once, and the report names the cycle's tasks. */
typedef struct id_ref {
    uint64_t id;
    size_t at;
} id_ref;

static int id_cmp(const void *a, const void *b) {
    const id_ref *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* The node index of task id, or (size_t)-1. */
static size_t node_index(const id_ref *ix, size_t n, uint64_t id) {
    id_ref key = {id, 0};
    const id_ref *r = id ? bsearch(&key, ix, n, sizeof *ix, id_cmp) : NULL;
    return r ? r->at : (size_t)-1;
}

void tr__cycles_free(tr_cycles *pc) {
    free(pc->cut);
    free(pc->ids);
    free(pc->len);
}

/* Walks each task's parent chain once (colours: 0 not seen, 1 on the
 * chain being walked, 2 done), so it is linear in the tasks. */
int tr__cycles_find(tr_cycles *pc, const tr_node *nodes, size_t n) {
    memset(pc, 0, sizeof *pc);
    pc->cut = calloc(n ? n : 1, 1);
    unsigned char *colour = calloc(n ? n : 1, 1);
    size_t *chain = malloc((n ? n : 1) * sizeof *chain);
    id_ref *ix = malloc((n ? n : 1) * sizeof *ix);
    pc->ids = malloc((n ? n : 1) * sizeof *pc->ids);
    pc->len = malloc((n ? n : 1) * sizeof *pc->len);
    int rc = -ENOMEM;
    if (!pc->cut || !colour || !chain || !ix || !pc->ids || !pc->len)
        goto out;
    for (size_t i = 0; i < n; i++)
        ix[i] = (id_ref){nodes[i].id, i};
    qsort(ix, n, sizeof *ix, id_cmp);
    for (size_t k = 0; k < n; k++) {
        size_t depth = 0, at = ix[k].at;
        while (at != (size_t)-1 && colour[at] == 0) {
            colour[at] = 1;
            chain[depth++] = at;
            at = node_index(ix, n, nodes[at].parent);
        }
        if (at != (size_t)-1 && colour[at] == 1) {
            /* the chain came back to itself: chain[from..depth) is a cycle */
            size_t from = depth - 1;
            while (chain[from] != at)
                from--;
            size_t first = chain[from];
            for (size_t c = from; c < depth; c++) {
                first = chain[c] < first ? chain[c] : first;
                pc->ids[pc->nids++] = nodes[chain[c]].id;
            }
            pc->cut[first] = 1;
            pc->len[pc->ncycles++] = depth - from;
        }
        for (size_t c = 0; c < depth; c++)
            colour[chain[c]] = 2;
    }
    rc = 0;
out:
    free(colour);
    free(chain);
    free(ix);
    if (rc)
        tr__cycles_free(pc);
    return rc;
}

void tr__cycles_put(FILE *out, const tr_cycles *pc, int json) {
    size_t at = 0;
    if (json)
        fputs(",\"parent_cycles\":[", out);
    for (size_t c = 0; c < pc->ncycles; c++) {
        if (json)
            fputs(c ? ",[" : "[", out);
        else
            fprintf(out, "damaged recording: %s", pc->len[c] == 1 ? "task" : "tasks");
        for (size_t k = 0; k < pc->len[c]; k++, at++) {
            if (json)
                fprintf(out, "%s%" PRIu64, k ? "," : "", pc->ids[at]);
            else if (k < 8) /* one line, however long the cycle */
                fprintf(out, " #%" PRIu64, pc->ids[at]);
        }
        if (json)
            fputc(']', out);
        else if (pc->len[c] == 1)
            fputs(" is its own parent; printed as a root\n", out);
        else {
            if (pc->len[c] > 8)
                fprintf(out, " ... (%zu tasks)", pc->len[c]);
            fputs(" form a parent cycle (each is its own ancestor); the first is printed "
                  "as a root\n", out);
        }
    }
    if (json)
        fputc(']', out);
}

/* The listed tasks' parent cycles, cut marked by model index. */
static int model_cycles(tr_cycles *pc, unsigned char **cut, const tm_model *m,
                        const tr_opts *o) {
    size_t n = tm_model_task_count(m), nl = 0;
    tr_node *nodes = malloc((n ? n : 1) * sizeof *nodes);
    size_t *at = malloc((n ? n : 1) * sizeof *at);
    *cut = calloc(n ? n : 1, 1);
    int rc = -ENOMEM;
    if (nodes && at && *cut) {
        for (size_t i = 0; i < n; i++) {
            const tm_task *t = tm_model_task_at(m, i);
            if (task_listed(t, o)) {
                at[nl] = i;
                nodes[nl++] = (tr_node){t->id, t->parent};
            }
        }
        rc = tr__cycles_find(pc, nodes, nl);
        for (size_t k = 0; rc == 0 && k < nl; k++)
            (*cut)[at[k]] = pc->cut[k];
    }
    free(nodes);
    free(at);
    if (rc) {
        free(*cut);
        *cut = NULL;
    }
    return rc;
}

/* ---- drawing ------------------------------------------------------------------ */

void tr__tree_row(FILE *out, const tr_row *r, const tr_opts *o, const char *prefix, int last,
                  int depth, size_t printed) {
    int awaiting = r->awaits != NULL;
    if (o->json) {
        fprintf(out, "%s{\"id\":%" PRIu64, printed ? "," : "", r->id);
        tr__json_u64_or_null(out, "parent", r->parent, r->parent != 0);
        fprintf(out, ",\"depth\":%d,\"name\":", depth);
        tr_json_str(out, r->name);
        fprintf(out, ",\"state\":\"%s\"", r->state);
        tr__json_str_or_null(out, "awaits", r->awaits_text, awaiting);
        tr__json_str_or_null(out, "await_site", r->await_site, strcmp(r->await_site, "-") != 0);
        tr__json_err(out, r->err);
        fprintf(out, ",\"warnings\":%u}", r->warnings);
    } else {
        fprintf(out, "%s%s#%" PRIu64 " ", prefix, depth ? (last ? "└── " : "├── ") : "", r->id);
        ts_text_put(out, r->name, 0);
        fprintf(out, " [%s]", r->state);
        if (awaiting) {
            fputs(" awaits ", out);
            ts_text_put(out, r->awaits_text, 0);
            fputs(" at ", out);
            ts_text_put(out, r->await_site, 0);
        }
        fputc('\n', out);
    }
}

int tr__tree_indent(char *prefix, size_t plen, int last, int depth, size_t *nlen) {
    size_t add = depth ? 4 : 0;
    if (plen + add + 8 >= 512 || depth > 100)
        return 0;
    if (depth)
        memcpy(prefix + plen, last ? "    " : "│   ", last ? 5 : 7), add = last ? 4 : 6;
    prefix[plen + add] = 0;
    *nlen = plen + add;
    return 1;
}

static void tree_node(FILE *out, const tm_model *m, const kid_index *kx, const tm_task *t,
                      const tr_opts *o, char *prefix, size_t plen, int last, int depth,
                      size_t *printed) {
    tr_row r;
    tr__row_from_task(m, t, &r);
    tr__tree_row(out, &r, o, prefix, last, depth, *printed);
    (*printed)++;
    /* children: tasks whose parent is t */
    size_t from = kid_first(kx, t->id), to = from, kids = 0, seen = 0, nlen;
    for (; to < kx->n && kx->v[to].parent == t->id; to++)
        kids += tm_model_task_at(m, kx->v[to].at) != t;
    if (!tr__tree_indent(prefix, plen, last, depth, &nlen))
        return;
    for (size_t k = from; k < to; k++) {
        const tm_task *c = tm_model_task_at(m, kx->v[k].at);
        if (c == t)
            continue;
        seen++;
        tree_node(out, m, kx, c, o, prefix, nlen, seen == kids, depth + 1, printed);
    }
    prefix[plen] = 0;
}

void tr__tree_tail(FILE *out, const tm_model *m, const tr_opts *o, size_t hidden,
                   size_t too_deep, const tr_cycles *pc) {
    if (o->json) {
        fprintf(out, "],\"tasks_hidden\":%zu,\"tasks_too_deep\":%zu", hidden, too_deep);
        tr__cycles_put(out, pc, 1);
        tr__json_tail(out, m);
    } else {
        if (too_deep)
            fprintf(out, "(%zu task%s nested too deep to draw not shown: ps lists them)\n",
                    too_deep, too_deep == 1 ? "" : "s");
        tr__hidden_note(out, hidden);
        tr_warnings(out, m, o);
    }
}

void tr_pstree(FILE *out, const tm_model *m, const tr_opts *o) {
    char prefix[520] = "";
    size_t printed = 0, listed = 0;
    kid_index kx;
    tr_cycles pc;
    unsigned char *cut;
    if (model_cycles(&pc, &cut, m, o)) {
        fprintf(stderr, "taskscope: out of memory\n");
        return;
    }
    if (kid_index_build(&kx, m, o, cut)) {
        tr__cycles_free(&pc);
        free(cut);
        fprintf(stderr, "taskscope: out of memory\n");
        return;
    }
    if (o->json) {
        tr__json_head(out, m, o);
        fputs("\"tasks\":[", out);
    } else {
        tr__text_header(out, m, o);
        tr__cycles_put(out, &pc, 0);
    }
    for (size_t i = 0; i < tm_model_task_count(m); i++) {
        const tm_task *t = tm_model_task_at(m, i);
        if (!task_listed(t, o))
            continue;
        listed++;
        const tm_task *p = tm_model_task(m, t->parent);
        if (p && task_listed(p, o) && p != t && !cut[i])
            continue; /* printed under its parent */
        tree_node(out, m, &kx, t, o, prefix, 0, 1, 0, &printed);
    }
    free(kx.v);
    free(cut);
    /* tree_node stops about 80 levels down (its recursion and the indent
     * are bounded): say so rather than drop the deeper tasks silently. */
    tr__tree_tail(out, m, o, hidden_count(m, o), listed > printed ? listed - printed : 0, &pc);
    tr__cycles_free(&pc);
}
