/*
 * notes.c - user annotations in the debug runtime: a few key/value fields
 * per task (ts_task_set_field) and log lines (ts_event_log).
 *
 * A field is written into the ring when it is set and kept with the task
 * (t->rare->notes, allocated on the first field, freed with the task), so every
 * state dump repeats it: a reader that attaches later still sees it.  A
 * log line is only an event; the flight recorder keeps the latest ones.
 *
 * Invariants: lengths are bounded (TS_FIELD_KEY_MAX, TS_FIELD_VALUE_MAX,
 * TS_FIELDS_PER_TASK, TS_LOG_MAX), so a program cannot grow a task or a
 * record without limit; fields are touched only on the task's own loop
 * thread (the dump runs there too), so they need no lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "taskscope/debug.h"
#include "trace.h"

struct ts__notes {
    unsigned n;
    struct note {
        uint32_t key_len, value_len;
        char key[TS_FIELD_KEY_MAX];
        char value[TS_FIELD_VALUE_MAX];
    } f[TS_FIELDS_PER_TASK];
};

static void emit_field(ts__ring *r, const ts_task *t, const struct note *f) {
    uint32_t len = f->key_len + f->value_len;
    uint32_t size = (uint32_t)((sizeof(ts_ev_task_field) + len + 7) & ~7u);
    ts_ev_task_field *e = ts__ring_reserve(r, TS_EV_task_field, size);
    if (!e)
        return;
    e->task = t->id;
    e->key_len = f->key_len;
    e->len = len;
    char *text = (char *)(e + 1);
    memcpy(text, f->key, f->key_len);
    memcpy(text + f->key_len, f->value, f->value_len);
    memset(text + len, 0, size - sizeof *e - len);
    ts__ring_commit(r, size);
}

int ts_task_set_field(ts_task *t, const char *key, const char *value) {
    if (!t || !key || t->state == TS__TASK_FREED)
        return -EINVAL;
    size_t klen = strlen(key), vlen = value ? strlen(value) : 0;
    if (!klen || klen > TS_FIELD_KEY_MAX || vlen > TS_FIELD_VALUE_MAX)
        return -EINVAL;
    if (ts__check_thread(t->loop, "ts_task_set_field"))
        return TS_EWRONGLOOP;
    struct ts__notes *n = t->rare ? t->rare->notes : NULL;
    unsigned i = 0;
    for (; n && i < n->n; i++)
        if (n->f[i].key_len == klen && !memcmp(n->f[i].key, key, klen))
            break;
    if (!vlen) { /* removal: the event says so with an empty value */
        if (n && i < n->n)
            n->f[i] = n->f[--n->n];
    } else {
        if (!n && (!ts__task_rare(t) || !(n = t->rare->notes = calloc(1, sizeof *n))))
            return -ENOMEM;
        if (i == n->n) {
            if (n->n == TS_FIELDS_PER_TASK)
                return -ENOSPC;
            n->n++;
        }
        struct note *f = &n->f[i];
        f->key_len = (uint32_t)klen, f->value_len = (uint32_t)vlen;
        memcpy(f->key, key, klen);
        memcpy(f->value, value, vlen);
    }
    ts__ring *r = ts__ring_self();
    if (r) {
        struct note removed = {.key_len = (uint32_t)klen};
        memcpy(removed.key, key, klen);
        emit_field(r, t, vlen ? &n->f[i] : &removed);
    }
    return 0;
}

int ts_event_log(const char *text) {
    if (!text)
        return -EINVAL;
    size_t len = strnlen(text, TS_LOG_MAX + 1);
    if (len > TS_LOG_MAX)
        len = TS_LOG_MAX; /* cut, as documented: a log line is a line */
    ts__ring *r = ts__ring_self();
    if (!r)
        return 0;
    uint32_t size = (uint32_t)((sizeof(ts_ev_log) + len + 7) & ~(size_t)7);
    ts_ev_log *e = ts__ring_reserve(r, TS_EV_log, size);
    if (!e)
        return 0; /* dropped and counted, like any event */
    ts_task *t = ts__current();
    e->task = t ? t->id : 0;
    e->len = (uint32_t)len;
    memcpy(e + 1, text, len);
    memset((char *)(e + 1) + len, 0, size - sizeof *e - len);
    ts__ring_commit(r, size);
    return 0;
}

void ts__tr_dump_task_fields(ts__ring *r, ts_task *t) {
    struct ts__notes *n = t->rare ? t->rare->notes : NULL;
    for (unsigned i = 0; n && i < n->n; i++)
        emit_field(r, t, &n->f[i]);
}

void ts__tr_notes_task_free(ts_task *t) {
    if (t->rare) {
        free(t->rare->notes);
        t->rare->notes = NULL;
    }
}
