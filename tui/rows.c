/*
 * rows.c - see rows.h.
 *
 * Invariants:
 *   - keys[0..nkeys) are the tasks that passed the filter at the last
 *     build, each with its sort key; ids are unique, so the order
 *     (key, then id) is total and a partial sort is well defined.
 *   - The match caches are valid for built_filter only; a new filter text
 *     clears them.  Site texts never change once known, so their cache
 *     lives as long as the rows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rows.h"

struct tui_key {
    uint64_t k;           /* numeric key (unused for text columns) */
    const char *s;        /* text key, or NULL */
    uint64_t id;
    uint64_t parent;      /* tree: parent id if the parent is shown, else 0 */
    uint8_t context;
};

typedef struct tui_key key;

static const char *const COL_NAMES[COL_COUNT] = {
    "ID", "NAME", "STATE", "TOTAL", "BUSY", "SCHED", "IDLE", "POLLS",
    "AWAITS", "AWAIT SITE", "SPAWN SITE", "!"};

const char *tui_col_name(tui_col c) { return c < COL_COUNT ? COL_NAMES[c] : "?"; }

int tui_col_descending(tui_col c) {
    return c == COL_TOTAL || c == COL_BUSY || c == COL_SCHED || c == COL_IDLE ||
           c == COL_POLLS || c == COL_WARN;
}

void tui_rows_init(tui_rows *r) {
    memset(r, 0, sizeof *r);
    r->sort = COL_ID;
}

void tui_rows_free(tui_rows *r) {
    free(r->keys);
    free(r->tree_rows);
    free(r->str_match);
    free(r->site_match);
    for (size_t i = 0; i < r->site_text_cap; i++)
        free(r->site_text[i]);
    free(r->site_text);
    free(r->set);
    memset(r, 0, sizeof *r);
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *p = realloc(*arr, c * elem);
    if (!p)
        return -ENOMEM;
    memset((char *)p + *cap * elem, 0, (c - *cap) * elem);
    *arr = p;
    *cap = c;
    return 0;
}

/* ---- filter ------------------------------------------------------------- */

static int text_matches(const char *text, const char *filter) {
    return strcasestr(text, filter) != NULL;
}

static int string_matches(tui_rows *r, const tm_model *m, uint32_t id) {
    if (!id || grow((void **)&r->str_match, &r->str_cap, (size_t)id + 1, 1))
        return 0;
    if (!r->str_match[id]) {
        const char *s = tm_model_string(m, id);
        if (!*s)
            return 0; /* not known yet: do not cache */
        r->str_match[id] = text_matches(s, r->filter) ? 2 : 1;
    }
    return r->str_match[id] == 2;
}

static const char *site_text(tui_rows *r, const tm_model *m, uint32_t id) {
    if (!id || !tm_model_site(m, id) ||
        grow((void **)&r->site_text, &r->site_text_cap, (size_t)id + 1, sizeof(char *)))
        return "-";
    if (!r->site_text[id]) {
        char buf[256];
        tm_model_site_text(m, id, buf, sizeof buf);
        r->site_text[id] = strdup(buf);
        if (!r->site_text[id])
            return "-";
    }
    return r->site_text[id];
}

static int site_matches(tui_rows *r, const tm_model *m, uint32_t id) {
    if (!id || !tm_model_site(m, id) || grow((void **)&r->site_match, &r->site_cap, (size_t)id + 1, 1))
        return 0;
    if (!r->site_match[id])
        r->site_match[id] = text_matches(site_text(r, m, id), r->filter) ? 2 : 1;
    return r->site_match[id] == 2;
}

/* Which state and wait kind names match: once per build, not per task. */
static void match_names(tui_rows *r) {
    for (unsigned i = 0; i < sizeof r->state_match; i++)
        r->state_match[i] = text_matches(tm_state_name((tm_state)i), r->filter);
    for (unsigned i = 0; i < sizeof r->kind_match; i++)
        r->kind_match[i] = i && text_matches(tm_wait_kind_name(i), r->filter);
}

static int task_matches(tui_rows *r, const tm_model *m, const tm_task *t) {
    if (!r->filter[0])
        return 1;
    if (r->filter[0] == '#')
        return strtoull(r->filter + 1, NULL, 10) == t->id;
    if ((t->state < sizeof r->state_match && r->state_match[t->state]) ||
        string_matches(r, m, t->name) || site_matches(r, m, t->site))
        return 1;
    if (t->state == TM_SUSPENDED || t->wait_kind)
        return site_matches(r, m, t->await_site) ||
               (t->wait_kind < sizeof r->kind_match && r->kind_match[t->wait_kind]);
    return 0;
}

/* ---- keys --------------------------------------------------------------- */

static uint64_t state_rank(tm_state s) {
    /* what needs attention first: running, ready, suspended, then the end */
    switch (s) {
    case TM_RUNNING: return 0;
    case TM_READY: return 1;
    case TM_SUSPENDED: return 2;
    case TM_FAILED: return 3;
    case TM_CANCELLED: return 4;
    default: return 5;
    }
}

static void make_key(tui_rows *r, const tm_model *m, const tm_task *t, key *k) {
    uint64_t busy, sched, idle;
    k->id = t->id;
    k->s = NULL;
    k->k = 0;
    k->parent = t->parent;
    k->context = 0;
    switch (r->sort) {
    case COL_ID: k->k = t->id; break;
    case COL_NAME: k->s = tm_model_string(m, t->name); break;
    case COL_STATE: k->k = state_rank(t->state); break;
    case COL_TOTAL: {
        uint64_t end = t->state >= TM_DONE ? t->done_ns : tm_model_now(m);
        k->k = end > t->created_ns ? end - t->created_ns : 0;
        break;
    }
    case COL_BUSY: tm_task_times(m, t, &busy, &sched, &idle); k->k = busy; break;
    case COL_SCHED: tm_task_times(m, t, &busy, &sched, &idle); k->k = sched; break;
    case COL_IDLE: tm_task_times(m, t, &busy, &sched, &idle); k->k = idle; break;
    case COL_POLLS: k->k = t->polls; break;
    case COL_AWAITS:
        k->k = t->state == TM_SUSPENDED
                   ? ((uint64_t)(t->wait_kind & 0xff) << 56) | (t->wait_obj & 0xffffffffffffffull)
                   : 0;
        break;
    case COL_ASITE: k->s = t->state == TM_SUSPENDED ? site_text(r, m, t->await_site) : "-"; break;
    case COL_SSITE: k->s = site_text(r, m, t->site); break;
    case COL_WARN: k->k = t->warnings; break;
    default: break;
    }
}

/* a before b in display order?  (r->desc is set by the build.) */
static inline int before(const tui_rows *r, const key *a, const key *b) {
    int c;
    if (a->s || b->s)
        c = strcmp(a->s ? a->s : "", b->s ? b->s : "");
    else
        c = a->k < b->k ? -1 : a->k > b->k;
    if (c)
        return r->desc ? c > 0 : c < 0;
    return a->id < b->id;
}

/* ---- partial sort ----------------------------------------------------------- */

static void swap(key *a, key *b) {
    key t = *a;
    *a = *b;
    *b = t;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static size_t rnd(size_t n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (size_t)(rng_state % n);
}

/* Partition a[lo, hi) around a random pivot; returns its final place. */
static size_t partition(const tui_rows *r, key *a, size_t lo, size_t hi) {
    swap(&a[lo + rnd(hi - lo)], &a[hi - 1]);
    key *p = &a[hi - 1];
    size_t store = lo;
    for (size_t i = lo; i + 1 < hi; i++)
        if (before(r, &a[i], p))
            swap(&a[i], &a[store++]);
    swap(&a[store], &a[hi - 1]);
    return store;
}

static void insertion_sort(const tui_rows *r, key *a, size_t lo, size_t hi) {
    for (size_t i = lo + 1; i < hi; i++)
        for (size_t j = i; j > lo && before(r, &a[j], &a[j - 1]); j--)
            swap(&a[j], &a[j - 1]);
}

/* Make a[from, to) hold, in order, what a full sort of a[lo, hi) would
 * put there: expected O(hi - lo + k log k) for k = to - from. */
static void partial_sort(const tui_rows *r, key *a, size_t lo, size_t hi, size_t from, size_t to) {
    while (hi - lo > 16) {
        size_t q = partition(r, a, lo, hi);
        if (q < from) {
            lo = q + 1;
        } else if (q >= to) {
            hi = q;
        } else {
            partial_sort(r, a, lo, q, from, to);
            lo = q + 1;
        }
    }
    insertion_sort(r, a, lo, hi);
}

static const tui_rows *sort_ctx;
static int cmp_keys(const void *x, const void *y) {
    const key *a = x, *b = y;
    return before(sort_ctx, a, b) ? -1 : before(sort_ctx, b, a) ? 1 : 0;
}

/* ---- tree ---------------------------------------------------------------- */

static size_t hash(uint64_t id) {
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    id ^= id >> 33;
    return (size_t)id;
}

/* The ids present and where each is in keys[] (open addressing, at most
 * half full, id 0 = empty). */
static void set_put(tui_rows *r, uint64_t id, uint32_t idx) {
    for (size_t h = hash(id) & (r->set_cap - 1);; h = (h + 1) & (r->set_cap - 1))
        if (!r->set[h].id || r->set[h].id == id) {
            r->set[h].id = id;
            r->set[h].idx = idx;
            return;
        }
}

static int set_build(tui_rows *r, size_t want) {
    size_t cap = 64;
    while (cap < want * 2 + 2)
        cap *= 2;
    if (cap > r->set_cap) {
        struct tui_slot *p = realloc(r->set, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        r->set = p;
        r->set_cap = cap;
    }
    memset(r->set, 0, r->set_cap * sizeof *r->set);
    for (size_t i = 0; i < r->nkeys; i++)
        set_put(r, r->keys[i].id, (uint32_t)i);
    return 0;
}

/* Index of id in keys[], or -1. */
static long set_find(const tui_rows *r, uint64_t id) {
    if (!id)
        return -1;
    for (size_t h = hash(id) & (r->set_cap - 1);; h = (h + 1) & (r->set_cap - 1)) {
        if (r->set[h].id == id)
            return r->set[h].idx;
        if (!r->set[h].id)
            return -1;
    }
}

/* With a filter, a match's ancestors are shown too (dimmed), so the tree
 * still says where it hangs. */
static int add_context(tui_rows *r, const tm_model *m) {
    size_t n = r->nkeys;
    for (size_t i = 0; i < n; i++) {
        const tm_task *t = tm_model_task(m, r->keys[i].parent);
        for (int depth = 0; t && depth < 256; depth++) {
            if (set_find(r, t->id) >= 0 || (!r->show_finished && t->state >= TM_DONE))
                break;
            if (grow((void **)&r->keys, &r->keys_cap, r->nkeys + 1, sizeof *r->keys))
                return -ENOMEM;
            key *k = &r->keys[r->nkeys++];
            make_key(r, m, t, k);
            k->context = 1;
            if (r->nkeys * 2 + 2 > r->set_cap && set_build(r, r->nkeys * 2))
                return -ENOMEM;
            set_put(r, t->id, (uint32_t)(r->nkeys - 1));
            t = tm_model_task(m, t->parent);
        }
    }
    return 0;
}

static int cmp_tree(const void *x, const void *y) {
    const key *a = x, *b = y;
    if (a->parent != b->parent)
        return a->parent < b->parent ? -1 : 1;
    return cmp_keys(a, b);
}

#define MAX_DEPTH 65535

struct frame {
    uint32_t next, end;   /* children still to emit: keys[next, end) */
};

/* Depth first from keys[root], children in sort order; kids[i] is the
 * range of keys[i]'s children (keys sorted by parent). */
static void emit_subtree(tui_rows *r, size_t root, const struct frame *kids, uint8_t *done,
                         struct frame *stack, size_t maxd, size_t *nrows, int last_root) {
    uint64_t mask = last_root ? 1 : 0;
    r->tree_rows[(*nrows)++] = (tui_row){r->keys[root].id, mask, 0, r->keys[root].context};
    done[root] = 1;
    stack[0] = kids[root];
    size_t sp = 1;
    while (sp) {
        struct frame *f = &stack[sp - 1];
        if (f->next >= f->end) {
            sp--;
            continue;
        }
        size_t i = f->next++;
        if (done[i])
            continue; /* reached twice: only through a parent cycle */
        done[i] = 1;
        uint16_t depth = (uint16_t)sp;
        if (depth < 64) {
            mask &= ~(~0ull << depth); /* the ancestors' bits stay */
            if (f->next >= f->end)
                mask |= 1ull << depth;
        }
        r->tree_rows[(*nrows)++] = (tui_row){r->keys[i].id, mask, depth, r->keys[i].context};
        if (sp < maxd && kids[i].next < kids[i].end)
            stack[sp++] = kids[i];
    }
}

static int build_tree(tui_rows *r, const tm_model *m) {
    if (set_build(r, r->nkeys) || (r->filter[0] && add_context(r, m)))
        return -ENOMEM;
    for (size_t i = 0; i < r->nkeys; i++)
        if (r->keys[i].parent == r->keys[i].id || set_find(r, r->keys[i].parent) < 0)
            r->keys[i].parent = 0;
    sort_ctx = r;
    qsort(r->keys, r->nkeys, sizeof *r->keys, cmp_tree);
    if (set_build(r, r->nkeys) ||
        grow((void **)&r->tree_rows, &r->tree_cap, r->nkeys + 1, sizeof *r->tree_rows))
        return -ENOMEM;
    size_t n = r->nkeys, maxd = n + 1 < MAX_DEPTH ? n + 1 : MAX_DEPTH;
    struct frame *kids = calloc(n + 1, sizeof *kids);
    struct frame *stack = malloc(maxd * sizeof *stack);
    uint8_t *done = calloc(n + 1, 1);
    if (!kids || !stack || !done) {
        free(kids);
        free(stack);
        free(done);
        return -ENOMEM;
    }
    /* one pass over the sibling groups: each is its parent's children */
    size_t roots = 0;
    for (size_t g = 0; g < n;) {
        size_t e = g;
        while (e < n && r->keys[e].parent == r->keys[g].parent)
            e++;
        long p = set_find(r, r->keys[g].parent);
        if (!r->keys[g].parent)
            roots = e;
        else if (p >= 0)
            kids[p] = (struct frame){(uint32_t)g, (uint32_t)e};
        g = e;
    }
    size_t nrows = 0;
    for (size_t i = 0; i < roots; i++)
        emit_subtree(r, i, kids, done, stack, maxd, &nrows, i + 1 == roots);
    /* whatever no root reaches (a parent cycle in hostile data) */
    for (size_t i = roots; i < n; i++)
        if (!done[i])
            emit_subtree(r, i, kids, done, stack, maxd, &nrows, 1);
    free(kids);
    free(stack);
    free(done);
    r->count = nrows;
    return 0;
}

/* ---- build and window ------------------------------------------------------------ */

int tui_rows_build(tui_rows *r, const tm_model *m) {
    if (strcmp(r->filter, r->built_filter)) {
        if (r->str_match)
            memset(r->str_match, 0, r->str_cap);
        if (r->site_match)
            memset(r->site_match, 0, r->site_cap);
        memcpy(r->built_filter, r->filter, sizeof r->filter);
    }
    r->desc = tui_col_descending(r->sort) ^ (r->reverse != 0);
    if (r->filter[0])
        match_names(r);
    size_t n = tm_model_task_count(m);
    if (grow((void **)&r->keys, &r->keys_cap, n + 1, sizeof *r->keys))
        return -ENOMEM;
    r->nkeys = r->total = r->live = 0;
    for (size_t i = 0; i < n; i++) {
        const tm_task *t = tm_model_task_at(m, i);
        if (!t)
            continue;
        r->total++;
        r->live += t->state < TM_DONE;
        if ((!r->show_finished && t->state >= TM_DONE) || !task_matches(r, m, t))
            continue;
        make_key(r, m, t, &r->keys[r->nkeys++]);
    }
    r->count = r->nkeys;
    if (r->tree)
        return build_tree(r, m);
    return 0;
}

size_t tui_rows_window(tui_rows *r, size_t start, size_t n, tui_row *out) {
    if (start >= r->count)
        return 0;
    if (n > r->count - start)
        n = r->count - start;
    if (r->tree) {
        memcpy(out, r->tree_rows + start, n * sizeof *out);
        return n;
    }
    partial_sort(r, r->keys, 0, r->nkeys, start, start + n);
    for (size_t i = 0; i < n; i++)
        out[i] = (tui_row){r->keys[start + i].id, 0, 0, 0};
    return n;
}
