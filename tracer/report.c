/*
 * report.c - ps and pstree (see report.h; blocked and stats have files of
 * their own).  Text tables are fixed-width so they read in an 80-column
 * terminal, every program-supplied string cut and escaped by
 * ts_text_put; JSON is one document per report, stable field names.
 */
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

static void hidden_note(FILE *out, const tm_model *m, const tr_opts *o) {
    size_t hidden = hidden_count(m, o);
    if (hidden)
        fprintf(out, "(%zu finished task%s not shown: --all lists them)\n", hidden,
                hidden == 1 ? "" : "s");
}

void tr_ps(FILE *out, const tm_model *m, const tr_opts *o) {
    char age[16], busy[16], sched[16], idle[16], aw[160], asite[256], ssite[256];
    uint64_t now = tm_model_now(m);
    if (o->json) {
        tr__json_head(out, m, o);
        fputs("\"tasks\":[", out);
    } else {
        tr__text_header(out, m, o);
        fprintf(out, "%6s %-18s %-9s %8s %8s %8s %8s %6s  %-40s %-34s %s\n", "id", "name", "state",
                "age", "busy", "sched", "idle", "polls", "awaits", "await site", "spawn site");
    }
    int first = 1;
    for (size_t i = 0; i < tm_model_task_count(m); i++) {
        const tm_task *t = tm_model_task_at(m, i);
        if (!task_listed(t, o))
            continue;
        uint64_t b, s, id;
        tm_task_times(m, t, &b, &s, &id);
        uint64_t end = t->state >= TM_DONE ? t->done_ns : now;
        tr_awaits_text(m, t, aw, sizeof aw);
        int awaiting = strcmp(aw, "-") != 0;
        /* the await site only while it awaits: a finished task waits nowhere */
        tm_model_site_text(m, awaiting ? t->await_site : 0, asite, sizeof asite);
        tm_model_site_text(m, t->site, ssite, sizeof ssite);
        if (o->json) {
            fprintf(out, "%s{\"id\":%" PRIu64, first ? "" : ",", t->id);
            tr__json_u64_or_null(out, "parent", t->parent, t->parent != 0);
            fprintf(out, ",\"loop\":%" PRIu64 ",\"name\":", t->loop);
            tr_json_str(out, tm_task_name(m, t));
            fprintf(out, ",\"state\":\"%s\",\"age_ns\":%" PRIu64 ",\"busy_ns\":%" PRIu64
                         ",\"scheduled_ns\":%" PRIu64 ",\"idle_ns\":%" PRIu64 ",\"polls\":%" PRIu64,
                    tm_task_state_name(t), end - t->created_ns, b, s, id, t->polls);
            tr__json_str_or_null(out, "awaits", tm_wait_kind_name(t->wait_kind), awaiting);
            /* (fd 0 is an object; task or resource id 0 is none) */
            tr__json_u64_or_null(out, "awaits_object", t->wait_obj,
                                 awaiting && (t->wait_obj || t->wait_kind == 13));
            tr__json_str_or_null(out, "awaits_text", aw, awaiting);
            tr__json_str_or_null(out, "await_site", asite, strcmp(asite, "-") != 0);
            tr__json_str_or_null(out, "spawn_site", ssite, strcmp(ssite, "-") != 0);
            tr__json_err(out, t->err);
            tr__json_str_or_null(out, "error_message", tm_model_string(m, t->err_message),
                                 t->err_message != 0);
            fprintf(out, ",\"cancel_requests\":%u,\"lost\":%s,\"warnings\":%u}",
                    t->cancel_requests, t->lost ? "true" : "false", t->warnings);
            first = 0;
            continue;
        }
        tr_fmt_dur(age, sizeof age, end - t->created_ns);
        tr_fmt_dur(busy, sizeof busy, b);
        tr_fmt_dur(sched, sizeof sched, s);
        tr_fmt_dur(idle, sizeof idle, id);
        fprintf(out, "%6" PRIu64 " ", t->id);
        ts_text_put(out, tm_task_name(m, t), 18);
        fprintf(out, " %-9s %8s %8s %8s %8s %6" PRIu64 "  ", tm_task_state_name(t), age, busy,
                sched, idle, t->polls);
        ts_text_put(out, aw, 40);
        fputc(' ', out);
        ts_text_put(out, asite, 34);
        fputc(' ', out);
        ts_text_put(out, ssite, 0);
        fputs(t->warnings ? "  !\n" : "\n", out);
    }
    if (o->json) {
        fprintf(out, "],\"tasks_hidden\":%zu", hidden_count(m, o));
        tr__json_tail(out, m);
    } else {
        hidden_note(out, m, o);
        tr_warnings(out, m, o);
    }
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
 * task first in model order has its parent edge cut (cut[i] = 1: it is
 * printed as a root, and not as anyone's child), so every task is still
 * printed exactly once, and the report names the cycle's tasks. */
typedef struct parent_cycles {
    unsigned char *cut;     /* by model index */
    uint64_t *ids;          /* every cycle's task ids, one cycle after another */
    size_t *len;            /* each cycle's length */
    size_t nids, ncycles;
} parent_cycles;

typedef struct id_ref {
    uint64_t id;
    size_t at;
} id_ref;

static int id_cmp(const void *a, const void *b) {
    const id_ref *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* The model index of the listed task id, or (size_t)-1. */
static size_t listed_index(const id_ref *ix, size_t n, uint64_t id) {
    id_ref key = {id, 0};
    const id_ref *r = id ? bsearch(&key, ix, n, sizeof *ix, id_cmp) : NULL;
    return r ? r->at : (size_t)-1;
}

static void parent_cycles_free(parent_cycles *pc) {
    free(pc->cut);
    free(pc->ids);
    free(pc->len);
}

/* Walks each listed task's parent chain once (colours: 0 not seen, 1 on
 * the chain being walked, 2 done), so it is linear in the tasks. */
static int parent_cycles_find(parent_cycles *pc, const tm_model *m, const tr_opts *o) {
    size_t n = tm_model_task_count(m), nix = 0;
    memset(pc, 0, sizeof *pc);
    pc->cut = calloc(n ? n : 1, 1);
    unsigned char *colour = calloc(n ? n : 1, 1);
    size_t *chain = malloc((n ? n : 1) * sizeof *chain);
    id_ref *ix = malloc((n ? n : 1) * sizeof *ix);
    pc->ids = malloc((n ? n : 1) * sizeof *pc->ids);
    pc->len = malloc((n ? n : 1) * sizeof *pc->len);
    int rc = -1;
    if (!pc->cut || !colour || !chain || !ix || !pc->ids || !pc->len)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const tm_task *t = tm_model_task_at(m, i);
        if (task_listed(t, o))
            ix[nix++] = (id_ref){t->id, i};
    }
    qsort(ix, nix, sizeof *ix, id_cmp);
    for (size_t k = 0; k < nix; k++) {
        size_t depth = 0, at = ix[k].at;
        while (at != (size_t)-1 && colour[at] == 0) {
            colour[at] = 1;
            chain[depth++] = at;
            at = listed_index(ix, nix, tm_model_task_at(m, at)->parent);
        }
        if (at != (size_t)-1 && colour[at] == 1) {
            /* the chain came back to itself: chain[from..depth) is a cycle */
            size_t from = depth - 1;
            while (chain[from] != at)
                from--;
            size_t first = chain[from];
            for (size_t c = from; c < depth; c++) {
                first = chain[c] < first ? chain[c] : first;
                pc->ids[pc->nids++] = tm_model_task_at(m, chain[c])->id;
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
        parent_cycles_free(pc);
    return rc;
}

/* Text: one line per cycle.  JSON: "parent_cycles":[[id,...],...]. */
static void parent_cycles_put(FILE *out, const parent_cycles *pc, int json) {
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

static void tree_node(FILE *out, const tm_model *m, const kid_index *kx, const tm_task *t,
                      const tr_opts *o, char *prefix, size_t plen, int last, int depth,
                      size_t *printed) {
    char aw[160], asite[256];
    tr_awaits_text(m, t, aw, sizeof aw);
    int awaiting = strcmp(aw, "-") != 0;
    tm_model_site_text(m, awaiting ? t->await_site : 0, asite, sizeof asite);
    if (o->json) {
        fprintf(out, "%s{\"id\":%" PRIu64, *printed ? "," : "", t->id);
        tr__json_u64_or_null(out, "parent", t->parent, t->parent != 0);
        fprintf(out, ",\"depth\":%d,\"name\":", depth);
        tr_json_str(out, tm_task_name(m, t));
        fprintf(out, ",\"state\":\"%s\"", tm_task_state_name(t));
        tr__json_str_or_null(out, "awaits", aw, awaiting);
        tr__json_str_or_null(out, "await_site", asite, strcmp(asite, "-") != 0);
        tr__json_err(out, t->err);
        fprintf(out, ",\"warnings\":%u}", t->warnings);
    } else {
        fprintf(out, "%s%s#%" PRIu64 " ", prefix, depth ? (last ? "└── " : "├── ") : "", t->id);
        ts_text_put(out, tm_task_name(m, t), 0);
        fprintf(out, " [%s]", tm_task_state_name(t));
        if (awaiting) {
            fputs(" awaits ", out);
            ts_text_put(out, aw, 0);
            fputs(" at ", out);
            ts_text_put(out, asite, 0);
        }
        fputc('\n', out);
    }
    (*printed)++;
    /* children: tasks whose parent is t */
    size_t from = kid_first(kx, t->id), to = from, kids = 0, seen = 0;
    for (; to < kx->n && kx->v[to].parent == t->id; to++)
        kids += tm_model_task_at(m, kx->v[to].at) != t;
    size_t add = depth ? 4 : 0;
    if (plen + add + 8 >= 512 || depth > 100)
        return;
    if (depth)
        memcpy(prefix + plen, last ? "    " : "│   ", last ? 5 : 7), add = last ? 4 : 6;
    prefix[plen + add] = 0;
    for (size_t k = from; k < to; k++) {
        const tm_task *c = tm_model_task_at(m, kx->v[k].at);
        if (c == t)
            continue;
        seen++;
        tree_node(out, m, kx, c, o, prefix, plen + add, seen == kids, depth + 1, printed);
    }
    prefix[plen] = 0;
}

void tr_pstree(FILE *out, const tm_model *m, const tr_opts *o) {
    char prefix[520] = "";
    size_t printed = 0, listed = 0;
    kid_index kx;
    parent_cycles pc;
    if (parent_cycles_find(&pc, m, o)) {
        fprintf(stderr, "taskscope: out of memory\n");
        return;
    }
    if (kid_index_build(&kx, m, o, pc.cut)) {
        parent_cycles_free(&pc);
        fprintf(stderr, "taskscope: out of memory\n");
        return;
    }
    if (o->json) {
        tr__json_head(out, m, o);
        fputs("\"tasks\":[", out);
    } else {
        tr__text_header(out, m, o);
        parent_cycles_put(out, &pc, 0);
    }
    for (size_t i = 0; i < tm_model_task_count(m); i++) {
        const tm_task *t = tm_model_task_at(m, i);
        if (!task_listed(t, o))
            continue;
        listed++;
        const tm_task *p = tm_model_task(m, t->parent);
        if (p && task_listed(p, o) && p != t && !pc.cut[i])
            continue; /* printed under its parent */
        tree_node(out, m, &kx, t, o, prefix, 0, 1, 0, &printed);
    }
    free(kx.v);
    /* tree_node stops about 80 levels down (its recursion and the indent
     * are bounded): say so rather than drop the deeper tasks silently. */
    size_t too_deep = listed > printed ? listed - printed : 0;
    if (o->json) {
        fprintf(out, "],\"tasks_hidden\":%zu,\"tasks_too_deep\":%zu", hidden_count(m, o),
                too_deep);
        parent_cycles_put(out, &pc, 1);
        tr__json_tail(out, m);
    } else {
        if (too_deep)
            fprintf(out, "(%zu task%s nested too deep to draw not shown: ps lists them)\n",
                    too_deep, too_deep == 1 ? "" : "s");
        hidden_note(out, m, o);
        tr_warnings(out, m, o);
    }
    parent_cycles_free(&pc);
}
