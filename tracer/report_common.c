/*
 * report_common.c - the parts every report shares (report_impl.h) and the
 * text helpers the TUI uses too (report.h).
 */
#include <inttypes.h>
#include <string.h>

#include "model_fds.h"
#include "report_impl.h"
#include "syscalls.h"
#include "taskscope/error.h"

void tr_json_str(FILE *out, const char *s) { ts_json_put(out, s); }

void tr_fmt_dur(char *buf, size_t len, uint64_t ns) { tm_fmt_dur(buf, len, ns); }

void tr_syscall_text(char *buf, size_t len, int nr) {
    const char *n = nr == -1 ? "-" : ts_syscall_name(nr);
    if (n)
        snprintf(buf, len, "%s", n);
    else
        snprintf(buf, len, "syscall %d", nr);
}

/* What a task awaits, in words: "sleep", "task #12 name",
 * lock "cache" (cache.c:12), or the address when the resource has no
 * name or site (tm_resource_text). */
void tr_awaits_text(const tm_model *m, const tm_task *t, char *buf, size_t len) {
    if (t->state != TM_SUSPENDED && !(t->state == TM_READY && t->wait_kind == 4)) {
        snprintf(buf, len, "-");
        return;
    }
    if (t->wait_kind == 1) {
        const tm_task *o = tm_model_task(m, t->wait_obj);
        snprintf(buf, len, "task #%" PRIu64 " %s", t->wait_obj,
                 o ? tm_model_string(m, o->name) : "");
    } else if (t->wait_kind == 3 || t->wait_kind == 4 || !t->wait_obj) {
        snprintf(buf, len, "%s", tm_wait_kind_name(t->wait_kind));
    } else if (t->wait_kind == 13) {
        /* what the runtime said the fd is (fd_info), as why says it */
        const char *ft = tm_model_fd_text(m, (int64_t)t->wait_obj);
        if (ft)
            snprintf(buf, len, "fd %" PRIu64 " (%s)", t->wait_obj, ft);
        else
            snprintf(buf, len, "fd %" PRIu64, t->wait_obj);
    } else if (tm_wait_kind_is_resource(t->wait_kind)) {
        tm_resource_text(m, t->wait_kind, t->wait_obj, buf, len);
    } else {
        snprintf(buf, len, "%s %#" PRIx64, tm_wait_kind_name(t->wait_kind), t->wait_obj);
    }
}

const char *tr__task_name(const tm_model *m, uint64_t id) {
    const tm_task *t = tm_model_task(m, id);
    return t ? tm_task_name(m, t) : "";
}

/* Live tasks are never evicted, so counting those in memory is exact;
 * "known" counts evicted ones too. */
static void counts(const tm_model *m, size_t *live, size_t *known) {
    *live = 0;
    for (size_t i = 0; i < tm_model_task_count(m); i++) {
        const tm_task *t = tm_model_task_at(m, i);
        *live += t && t->state < TM_DONE;
    }
    *known = (size_t)tm_model_tasks_seen(m);
}

void tr__json_u64_or_null(FILE *out, const char *key, uint64_t v, int present) {
    if (present)
        fprintf(out, ",\"%s\":%" PRIu64, key, v);
    else
        fprintf(out, ",\"%s\":null", key);
}

void tr__json_str_or_null(FILE *out, const char *key, const char *s, int present) {
    fprintf(out, ",\"%s\":", key);
    if (present)
        ts_json_put(out, s);
    else
        fputs("null", out);
}

void tr__json_err(FILE *out, int32_t err) {
    if (!err) {
        fputs(",\"err\":null,\"err_code\":null", out);
        return;
    }
    const char *name = ts_err_name(err);
    fputs(",\"err\":", out);
    if (strcmp(name, "UNKNOWN"))
        ts_json_put(out, name);
    else
        fprintf(out, "\"error %d\"", (int)err);
    fprintf(out, ",\"err_code\":%d", (int)err);
}

void tr__json_head(FILE *out, const tm_model *m, const tr_opts *o) {
    size_t live, known;
    counts(m, &live, &known);
    fprintf(out, "{\"format_version\":%d,\"source\":", TR_FORMAT_VERSION);
    ts_json_put(out, o->source ? o->source : "");
    tr__json_str_or_null(out, "status", o->status, o->status != NULL);
    fprintf(out, ",\"dropped\":%" PRIu64 ",\"tasks_known\":%zu,\"tasks_live\":%zu,", tm_model_dropped(m),
            known, live);
}

void tr__json_tail(FILE *out, const tm_model *m) {
    fprintf(out, ",\"warnings\":[");
    for (size_t i = 0; i < tm_model_warning_count(m); i++) {
        const tm_warning *w = tm_model_warning_at(m, i);
        /* "kind" first: scripts (and tests/bpf) look for {"kind":"deadlock" */
        fprintf(out, "%s{\"kind\":\"%s\",\"time_ns\":%" PRIu64, i ? "," : "",
                tm_warning_kind_name(w->kind), w->ns);
        tr__json_u64_or_null(out, "task", w->task, w->task != 0);
        tr__json_u64_or_null(out, "resource", w->resource, w->resource != 0);
        fputs(",\"text\":", out);
        ts_json_put(out, w->text);
        fputs(",\"hint\":", out);
        ts_json_put(out, tm_warning_kind_hint(w->kind));
        fputc('}', out);
    }
    fprintf(out, "]}\n");
}

void tr__text_header(FILE *out, const tm_model *m, const tr_opts *o) {
    size_t live, known;
    counts(m, &live, &known);
    ts_text_put(out, o->source ? o->source : "trace", 0);
    if (o->status) {
        fputs(" (", out);
        ts_text_put(out, o->status, 0);
        fputc(')', out);
    }
    fprintf(out, ": %zu live tasks, %zu known, %zu loops, %" PRIu64 " events", live, known,
            tm_model_loop_count(m), tm_model_events(m));
    if (tm_model_dropped(m))
        fprintf(out, ", %" PRIu64 " EVENTS DROPPED (the reader fell behind)", tm_model_dropped(m));
    fputc('\n', out);
}

size_t tr_warnings(FILE *out, const tm_model *m, const tr_opts *o) {
    size_t n = tm_model_warning_count(m);
    if (o->json || !n)
        return n;
    fprintf(out, "\nwarnings:\n");
    for (size_t i = 0; i < n; i++) {
        const tm_warning *w = tm_model_warning_at(m, i);
        fputs("  ! ", out);
        ts_text_put(out, w->text, 0);
        fputc('\n', out);
        /* what to do, once per kind: a list of forty blocked episodes
         * needs the advice once */
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = tm_model_warning_at(m, j)->kind == w->kind;
        if (!seen && *tm_warning_kind_hint(w->kind))
            fprintf(out, "    what to do: %s\n", tm_warning_kind_hint(w->kind));
    }
    return n;
}
