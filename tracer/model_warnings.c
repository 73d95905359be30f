/*
 * model_warnings.c - the warnings a human should see (model.h): added as
 * the model finds them, their text updated when what they describe
 * changes (a blocked episode ends, more events are dropped), marked dirty
 * until the session has written them to the recording, and merged back
 * from a recording without repeating what the replay found itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_impl.h"

/* Returns the warning's index + 1, or 0 on no memory. */
uint32_t tm__add_warning(tm_model *m, tm_warning_kind kind, uint64_t ns, uint64_t task,
                         uint64_t resource, const char *text) {
    if (m->nwarnings == m->warnings_cap) {
        size_t cap = m->warnings_cap ? m->warnings_cap * 2 : 16;
        tm_warning *w = realloc(m->warnings, cap * sizeof *w);
        if (!w)
            return 0;
        m->warnings = w;
        m->warnings_cap = cap;
    }
    tm_warning *w = &m->warnings[m->nwarnings++];
    w->kind = kind;
    w->ns = ns;
    w->task = task;
    w->resource = resource;
    w->dirty = 1;
    m->ndirty++;
    snprintf(w->text, sizeof w->text, "%s", text);
    tm_task *t = tm_model_task(m, task);
    if (t)
        t->warnings |= kind;
    return (uint32_t)m->nwarnings;
}

/* A warning's text changed (an episode ended): the recording must learn. */
void tm__set_warning_text(tm_model *m, uint32_t wi, const char *text) {
    if (!wi || wi > m->nwarnings)
        return;
    tm_warning *w = &m->warnings[wi - 1];
    if (!strcmp(w->text, text))
        return;
    snprintf(w->text, sizeof w->text, "%s", text);
    if (!w->dirty) {
        w->dirty = 1;
        m->ndirty++;
    }
}

/* One warning for all drops, its count kept current. */
void tm__note_drops(tm_model *m, uint64_t ns) {
    if (!m->dropped)
        return;
    char text[200];
    snprintf(text, sizeof text,
             "%llu events dropped: the reader fell behind, so some task states and "
             "timings are incomplete", (unsigned long long)m->dropped);
    if (!m->drops_warning)
        m->drops_warning = tm__add_warning(m, TM_WARN_DROPS, ns, 0, 0, text);
    else
        tm__set_warning_text(m, m->drops_warning, text);
}

int tm_model_merge_warning(tm_model *m, tm_warning_kind kind, uint64_t ns, uint64_t task,
                           uint64_t resource, const char *text) {
    int by_time = kind != TM_WARN_DEADLOCK && kind != TM_WARN_STUCK && kind != TM_WARN_DROPS;
    for (size_t i = 0; i < m->nwarnings; i++) {
        const tm_warning *w = &m->warnings[i];
        if (w->kind == kind && w->task == task && (!by_time || w->ns == ns))
            return 0;
    }
    const tm_task *t = tm_model_task(m, task);
    if (kind == TM_WARN_DEADLOCK && t && (t->warnings & TM_WARN_DEADLOCK))
        return 0; /* the same cycle, reported from another of its members */
    uint32_t wi = tm__add_warning(m, kind, ns, task, resource, text);
    if (wi && kind == TM_WARN_DROPS)
        m->drops_warning = wi;
    return wi != 0;
}
