/*
 * model_groups.h - the model's statistics groups (see tm_group in
 * model.h): internal to the model, which owns one tm_groups.
 *
 * Lookups are O(1) per task: a site's group by the site id, a name's
 * prefix group by the name's string id (computed once per name).  The
 * histograms are allocated on their first value.
 */
#ifndef TS_TRACER_MODEL_GROUPS_H
#define TS_TRACER_MODEL_GROUPS_H

#include "model.h"

typedef struct tm_groups {
    tm_group *v;
    size_t n, cap;
    size_t nsite, nprefix;
    uint32_t *by_site;          /* site id -> index + 1 */
    size_t by_site_cap;
    uint32_t *by_name;          /* name string id -> prefix group index + 1 */
    size_t by_name_cap;
} tm_groups;

void tm_groups_free(tm_groups *g);
/* The group (index + 1, 0 on no memory) of a task spawned at site /
 * named `name` (its text). */
uint32_t tm_groups_site(tm_groups *g, uint32_t site, uint32_t name_id);
uint32_t tm_groups_prefix(tm_groups *g, uint32_t name_id, const char *name);
/* index + 1 -> group, NULL for 0 */
tm_group *tm_groups_get(tm_groups *g, uint32_t gi);
/* The prefix of a task name, as grouped: trailing digits, then trailing
 * separators (- _ . : # / space) removed; the whole name if that leaves
 * nothing; "(unnamed)" for "". */
void tm_name_prefix(const char *name, char *buf, size_t len);

#endif
