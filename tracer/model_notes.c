/*
 * model_notes.c - what the model keeps per task beyond its state (issue
 * 15): the stack each state dump walked for a parked task, the user's
 * fields (ts_task_set_field), and the log lines (ts_event_log).
 *
 * Kept apart from tm_task (a few tasks have them, and a task's record is
 * copied and evicted freely) in a table by task id.  Every text comes
 * from a record and is copied with its length checked; nothing assumes a
 * terminator.  The live model keeps the last TM_LOG_KEEP log lines; a
 * model of a recording (keep_all) keeps every one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model_impl.h"
#include "model_notes.h"

#define TM_LOG_KEEP 10000
#define FIELDS_MAX 8     /* as the runtime's TS_FIELDS_PER_TASK */

struct note {
    uint64_t task;
    uint64_t stack_ns;
    uint32_t flags, depth;
    uint64_t *pcs;       /* NULL: no stack seen */
    uint32_t nfields;
    tm_field f[FIELDS_MAX];
    uint32_t canceller_pid;  /* taskscope cancel's pid, 0 none */
};

struct tm_notes {
    struct note *v;
    size_t n, cap;
    tm_idmap ids;
    tm_log *logs;
    size_t nlogs, logs_cap, logs_head; /* a ring once TM_LOG_KEEP is reached (live) */
};

static char *copy(const char *s, size_t n) {
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = 0;
    }
    return c;
}

static void note_clear(struct note *e) {
    free(e->pcs);
    for (uint32_t k = 0; k < e->nfields; k++)
        free(e->f[k].key), free(e->f[k].value);
}

/* Before the table grows: forget the notes of tasks the model no longer
 * has (the live model evicts finished tasks), and the stacks of finished
 * ones, so a long live session keeps notes in proportion to the tasks it
 * holds. */
static void sweep(tm_model *m, struct tm_notes *ns) {
    for (size_t i = 0; i < ns->n;) {
        struct note *e = &ns->v[i];
        const tm_task *t = tm_model_task(m, e->task);
        if (t && t->state >= TM_DONE && e->pcs) {
            free(e->pcs);
            e->pcs = NULL, e->depth = 0;
        }
        if (t) {
            i++;
            continue;
        }
        note_clear(e);
        tm_idmap_del(&ns->ids, e->task);
        if (i != --ns->n) {
            *e = ns->v[ns->n];
            tm_idmap_put(&ns->ids, e->task, (uint32_t)i); /* replaces: no allocation */
        }
    }
}

static struct note *note_get(tm_model *m, uint64_t task, int create) {
    struct tm_notes *ns = m->notes;
    if (!ns) {
        if (!create || !(ns = m->notes = calloc(1, sizeof *ns)))
            return NULL;
    }
    uint32_t i;
    if (tm_idmap_get(&ns->ids, task, &i))
        return &ns->v[i];
    if (!create)
        return NULL;
    if (ns->n == ns->cap && ns->n >= 1024)
        sweep(m, ns);
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 16;
        struct note *v = realloc(ns->v, cap * sizeof *v);
        if (!v)
            return NULL;
        ns->v = v, ns->cap = cap;
    }
    if (tm_idmap_put(&ns->ids, task, (uint32_t)ns->n))
        return NULL;
    struct note *e = &ns->v[ns->n++];
    memset(e, 0, sizeof *e);
    e->task = task;
    return e;
}

void tm__on_task_stack(tm_model *m, const ts_ev_task_stack *e, uint64_t ns) {
    struct note *n = e->task ? note_get(m, e->task, 1) : NULL;
    if (!n)
        return;
    uint64_t *pcs = malloc(((size_t)e->depth + 1) * 8);
    if (!pcs)
        return;
    memcpy(pcs, e + 1, (size_t)e->depth * 8);
    free(n->pcs);
    n->pcs = pcs;
    n->depth = e->depth;
    n->flags = e->flags;
    n->stack_ns = ns;
}

void tm__on_task_field(tm_model *m, const ts_ev_task_field *e) {
    if (!e->task || !e->key_len || e->key_len > e->len)
        return;
    struct note *n = note_get(m, e->task, 1);
    if (!n)
        return;
    const char *text = (const char *)(e + 1);
    uint32_t vlen = e->len - e->key_len;
    uint32_t i = 0;
    for (; i < n->nfields; i++)
        if (strlen(n->f[i].key) == e->key_len && !memcmp(n->f[i].key, text, e->key_len))
            break;
    if (!vlen) { /* removed */
        if (i < n->nfields) {
            free(n->f[i].key), free(n->f[i].value);
            n->f[i] = n->f[--n->nfields];
        }
        return;
    }
    if (i == n->nfields) {
        if (n->nfields == FIELDS_MAX)
            return;
        char *k = copy(text, e->key_len);
        if (!k)
            return;
        n->f[n->nfields++] = (tm_field){k, NULL};
    }
    char *v = copy(text + e->key_len, vlen);
    if (!v)
        return;
    free(n->f[i].value);
    n->f[i].value = v;
}

void tm__on_cancel_request(tm_model *m, const ts_ev_cancel_request *e) {
    struct note *n = e->task && !e->result ? note_get(m, e->task, 1) : NULL;
    if (n)
        n->canceller_pid = e->requester ? e->requester : UINT32_MAX;
}

uint32_t tm_model_task_canceller(const tm_model *m, uint64_t task) {
    struct note *n = m->notes ? note_get((tm_model *)m, task, 0) : NULL;
    return n ? n->canceller_pid : 0;
}

void tm__on_log(tm_model *m, const ts_ev_log *e, uint64_t ns) {
    struct tm_notes *s = m->notes;
    if (!s && !(s = m->notes = calloc(1, sizeof *s)))
        return;
    char *text = copy((const char *)(e + 1), e->len);
    if (!text)
        return;
    if (!m->keep_all && s->nlogs == TM_LOG_KEEP) { /* the oldest makes room */
        tm_log *old = &s->logs[s->logs_head];
        free((char *)old->text);
        *old = (tm_log){ns, e->task, text};
        s->logs_head = (s->logs_head + 1) % TM_LOG_KEEP;
        return;
    }
    if (s->nlogs == s->logs_cap) {
        size_t cap = s->logs_cap ? s->logs_cap * 2 : 64;
        tm_log *v = realloc(s->logs, cap * sizeof *v);
        if (!v) {
            free(text);
            return;
        }
        s->logs = v, s->logs_cap = cap;
    }
    s->logs[s->nlogs++] = (tm_log){ns, e->task, text};
}

void tm__notes_free(tm_model *m) {
    struct tm_notes *s = m->notes;
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        note_clear(&s->v[i]);
    free(s->v);
    tm_idmap_free(&s->ids);
    for (size_t i = 0; i < s->nlogs; i++)
        free((char *)s->logs[i].text);
    free(s->logs);
    free(s);
    m->notes = NULL;
}

int tm__notes_clone(tm_model *dst, const tm_model *src) {
    const struct tm_notes *s = src->notes;
    dst->notes = NULL;
    if (!s)
        return 0;
    struct tm_notes *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    dst->notes = c;
    int ok = 1;
    if (s->n && (c->v = calloc(s->n, sizeof *c->v)) != NULL)
        c->cap = s->n;
    for (size_t i = 0; ok && c->v && i < s->n; i++) {
        const struct note *e = &s->v[i];
        struct note *d = &c->v[c->n++];
        *d = *e;
        d->nfields = 0;
        d->pcs = NULL;
        if (e->pcs && !(d->pcs = malloc(e->depth * sizeof *d->pcs)))
            ok = 0;
        else if (e->pcs)
            memcpy(d->pcs, e->pcs, e->depth * sizeof *d->pcs);
        for (uint32_t k = 0; ok && k < e->nfields; k++) {
            d->f[k].key = copy(e->f[k].key, strlen(e->f[k].key));
            d->f[k].value = copy(e->f[k].value, strlen(e->f[k].value));
            d->nfields = k + 1;
            ok = d->f[k].key && d->f[k].value;
        }
        ok = ok && !tm_idmap_put(&c->ids, d->task, (uint32_t)i);
    }
    ok = ok && (!s->n || c->v);
    if (ok && s->nlogs && (c->logs = calloc(s->nlogs, sizeof *c->logs)) != NULL)
        c->logs_cap = s->nlogs;
    for (size_t i = 0; ok && c->logs && i < s->nlogs; i++) {
        c->logs[i] = s->logs[i];
        c->logs[i].text = copy(s->logs[i].text, strlen(s->logs[i].text));
        c->nlogs = i + 1;
        ok = c->logs[i].text != NULL;
    }
    ok = ok && (!s->nlogs || c->logs);
    c->logs_head = s->logs_head;
    if (!ok) {
        tm__notes_free(dst);
        return -ENOMEM;
    }
    return 0;
}

int tm_model_task_stack(const tm_model *m, uint64_t task, tm_task_stack *out) {
    struct note *n = m->notes ? note_get((tm_model *)m, task, 0) : NULL;
    if (!n || !n->pcs)
        return -ENOENT;
    *out = (tm_task_stack){n->stack_ns, n->flags, n->depth, n->pcs};
    return 0;
}

size_t tm_model_task_fields(const tm_model *m, uint64_t task, const tm_field **fields) {
    struct note *n = m->notes ? note_get((tm_model *)m, task, 0) : NULL;
    *fields = n ? n->f : NULL;
    return n ? n->nfields : 0;
}

size_t tm_model_log_count(const tm_model *m) {
    return m->notes ? ((struct tm_notes *)m->notes)->nlogs : 0;
}

const tm_log *tm_model_log_at(const tm_model *m, size_t i) {
    const struct tm_notes *s = m->notes;
    return &s->logs[(s->logs_head + i) % s->nlogs];
}
