/*
 * model_groups.c - see model_groups.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_groups.h"

static int grow_u32(uint32_t **arr, size_t *cap, size_t need) {
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    uint32_t *p = realloc(*arr, c * sizeof *p);
    if (!p)
        return -1;
    memset(p + *cap, 0, (c - *cap) * sizeof *p);
    *arr = p;
    *cap = c;
    return 0;
}

void tm_groups_free(tm_groups *g) {
    for (size_t i = 0; i < g->n; i++) {
        ts_hdr_free(&g->v[i].poll_ns);
        ts_hdr_free(&g->v[i].busy_ns);
    }
    free(g->v);
    free(g->by_site);
    free(g->by_name);
    memset(g, 0, sizeof *g);
}

tm_group *tm_groups_get(tm_groups *g, uint32_t gi) {
    return gi && gi <= g->n ? &g->v[gi - 1] : NULL;
}

/* A new group of kind k; past TM_MAX_GROUPS the last one ("(other)"). */
static uint32_t add(tm_groups *g, tm_group_kind k, uint32_t site, const char *prefix,
                    uint32_t name_id) {
    size_t *count = k == TM_GROUP_SITE ? &g->nsite : &g->nprefix;
    if (*count >= TM_MAX_GROUPS) {
        for (size_t i = g->n; i > 0; i--)
            if (g->v[i - 1].kind == k) {
                if (k == TM_GROUP_PREFIX)
                    snprintf(g->v[i - 1].prefix, sizeof g->v[i - 1].prefix, "(other)");
                else
                    g->v[i - 1].site = 0;
                return (uint32_t)i;
            }
    }
    if (g->n == g->cap) {
        size_t c = g->cap ? g->cap * 2 : 16;
        tm_group *p = realloc(g->v, c * sizeof *p);
        if (!p)
            return 0;
        g->v = p;
        g->cap = c;
    }
    tm_group *n = &g->v[g->n];
    memset(n, 0, sizeof *n);
    n->kind = k;
    n->site = site;
    n->first_name = name_id;
    if (prefix)
        snprintf(n->prefix, sizeof n->prefix, "%s", prefix);
    ts_hdr_init(&n->poll_ns, TS_HDR_HIGHEST, TS_HDR_SIGFIGS);
    ts_hdr_init(&n->busy_ns, TS_HDR_HIGHEST, TS_HDR_SIGFIGS);
    (*count)++;
    return (uint32_t)++g->n;
}

uint32_t tm_groups_site(tm_groups *g, uint32_t site, uint32_t name_id) {
    if (site > (1u << 24) || grow_u32(&g->by_site, &g->by_site_cap, (size_t)site + 1))
        return 0;
    if (!g->by_site[site])
        g->by_site[site] = add(g, TM_GROUP_SITE, site, NULL, name_id);
    return g->by_site[site];
}

void tm_name_prefix(const char *name, char *buf, size_t len) {
    size_t n = strlen(name), end = n;
    while (end && name[end - 1] >= '0' && name[end - 1] <= '9')
        end--;
    while (end && strchr("-_.:#/ ", name[end - 1]))
        end--;
    if (!end)
        end = n;
    if (!n) {
        snprintf(buf, len, "(unnamed)");
        return;
    }
    snprintf(buf, len, "%.*s", (int)(end < 4096 ? end : 4096), name);
}

uint32_t tm_groups_prefix(tm_groups *g, uint32_t name_id, const char *name) {
    if (name_id > (1u << 24) || grow_u32(&g->by_name, &g->by_name_cap, (size_t)name_id + 1))
        return 0;
    if (g->by_name[name_id])
        return g->by_name[name_id];
    char prefix[64];
    tm_name_prefix(name, prefix, sizeof prefix);
    uint32_t gi = 0;
    for (size_t i = 0; i < g->n && !gi; i++) /* once per distinct name */
        if (g->v[i].kind == TM_GROUP_PREFIX && !strcmp(g->v[i].prefix, prefix))
            gi = (uint32_t)i + 1;
    if (!gi)
        gi = add(g, TM_GROUP_PREFIX, 0, prefix, name_id);
    g->by_name[name_id] = gi;
    return gi;
}
