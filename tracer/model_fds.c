/*
 * model_fds.c - what each fd is, from fd_info events (issue 19).
 *
 * A table indexed by fd number holds the latest description of each
 * ("KIND ADDRESS"); an fd reused is simply described again.  fds are small
 * numbers: the table grows to the largest fd seen, up to FD_MAX (an fd
 * beyond it goes undescribed rather than growing the table without bound
 * on a hostile recording).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../schemas/trace_format.h"
#include "model_fds.h"
#include "model_impl.h"

#define FD_MAX (1 << 20)

static const char *kind_name(uint32_t k) {
    static const char *const K[] = {"other", "tcp", "udp", "unix", "unix_dgram", "file"};
    return k < sizeof K / sizeof *K ? K[k] : "other";
}

void tm__on_fd_info(tm_model *m, const ts_ev_fd_info *e) {
    if (e->fd < 0 || e->fd >= FD_MAX || e->h.size < sizeof *e || e->len > e->h.size - sizeof *e)
        return;
    if ((size_t)e->fd >= m->fds_cap) {
        size_t cap = m->fds_cap ? m->fds_cap : 64;
        while (cap <= (size_t)e->fd)
            cap *= 2;
        char **p = realloc(m->fds, cap * sizeof *p);
        if (!p)
            return;
        memset(p + m->fds_cap, 0, (cap - m->fds_cap) * sizeof *p);
        m->fds = p;
        m->fds_cap = cap;
    }
    if (e->how == 7) { /* closed by the runtime: nothing now */
        free(m->fds[e->fd]);
        m->fds[e->fd] = NULL;
        return;
    }
    const char *kind = kind_name(e->kind);
    char *t = malloc(strlen(kind) + 1 + e->len + 1);
    if (!t)
        return;
    size_t kl = strlen(kind);
    memcpy(t, kind, kl);
    t[kl] = ' ';
    memcpy(t + kl + 1, e + 1, e->len);
    t[kl + 1 + e->len] = '\0';
    free(m->fds[e->fd]);
    m->fds[e->fd] = t;
}

void tm__fds_free(tm_model *m) {
    for (size_t i = 0; i < m->fds_cap; i++)
        free(m->fds[i]);
    free(m->fds);
    m->fds = NULL;
    m->fds_cap = 0;
}

int tm__fds_clone(tm_model *dst, const tm_model *src) {
    dst->fds = NULL;
    dst->fds_cap = 0;
    if (!src->fds_cap)
        return 0;
    char **p = calloc(src->fds_cap, sizeof *p);
    if (!p)
        return -1;
    dst->fds = p;
    dst->fds_cap = src->fds_cap;
    for (size_t i = 0; i < src->fds_cap; i++)
        if (src->fds[i] && !(p[i] = strdup(src->fds[i])))
            return -1;
    return 0;
}

const char *tm_model_fd_text(const tm_model *m, int64_t fd) {
    return fd >= 0 && (uint64_t)fd < m->fds_cap ? m->fds[fd] : NULL;
}
