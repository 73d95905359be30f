/*
 * where.c - reports on parked tasks' stacks and on user annotations (see
 * where.h).  Everything printed that came from the program (names,
 * symbols, paths, field values, log text) goes through textsafe.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "report_impl.h"
#include "where.h"

#define FRAMES_MAX 64

void tw_add_modules(ts_symbolizer *sym, const tm_model *m) {
    for (size_t i = 0; i < tm_model_module_count(m); i++) {
        const tm_module *mod = tm_model_module_at(m, i);
        ts_symbolizer_add_module(sym, mod->start, mod->end, mod->offset,
                                 tm_model_string(m, mod->path));
    }
}

int tw_task_frames(const tm_model *m, ts_symbolizer *sym, uint64_t task, ts_frame *out,
                   int max, tm_task_stack *info) {
    tm_task_stack st;
    if (tm_model_task_stack(m, task, &st))
        return -ENOENT;
    if (info)
        *info = st;
    int n = 0;
    for (uint32_t k = 0; k < st.depth && n < max; k++)
        ts_symbolize(sym, st.pcs[k], k > 0, &out[n++]);
    return n;
}

/* Is this task one whose stack `where` shows?  Live and not running. */
static int parked(const tm_task *t) {
    return t->state == TM_SUSPENDED || t->state == TM_READY;
}

static void text_frame(FILE *out, const ts_frame *f, int k) {
    fprintf(out, "    #%-2d ", k);
    ts_text_put(out, f->function, 0);
    if (f->file[0]) {
        const char *base = strrchr(f->file, '/');
        fputs(" at ", out);
        ts_text_put(out, base ? base + 1 : f->file, 0);
        fprintf(out, ":%d", f->line);
    }
    if (f->module[0]) {
        fputs(" (", out);
        ts_text_put(out, f->module, 0);
        fputc(')', out);
    }
    fprintf(out, " [%#" PRIx64 "]\n", f->pc);
}

static void json_frame(FILE *out, const ts_frame *f, int k) {
    fprintf(out, "%s{\"pc\":\"%#" PRIx64 "\",\"function\":", k ? "," : "", f->pc);
    tr_json_str(out, f->function);
    tr__json_str_or_null(out, "file", f->file, f->file[0] != 0);
    tr__json_u64_or_null(out, "line", (uint64_t)f->line, f->file[0] && f->line > 0);
    tr__json_str_or_null(out, "module", f->module, f->module[0] != 0);
    fputc('}', out);
}

/* Why a stack is missing or partial, in words (NULL: complete). */
static const char *flags_text(uint32_t flags) {
    if (flags & TM_STACK_NO_WALK)
        return "this runtime build cannot walk parked stacks (ucontext backend)";
    if (flags & TM_STACK_BAD_FP)
        return "the frame-pointer chain left the task's stack here (code built without frame pointers?)";
    if (flags & TM_STACK_TRUNCATED)
        return "deeper frames not recorded";
    return NULL;
}

/* Is t's loop blocked right now (an episode seen, not yet ended)?  Its
 * state dump, and so the stacks, come only when the step returns. */
static int loop_blocked_now(const tm_model *m, const tm_task *t) {
    for (size_t i = tm_model_blocked_count(m); i-- > 0;) {
        const tm_blocked *b = tm_model_blocked_at(m, i);
        if (b->loop == t->loop)
            return !b->duration_ns && !b->slow_only && !b->end_unseen;
    }
    return 0;
}

static void text_task(FILE *out, const tm_model *m, ts_symbolizer *sym, const tm_task *t) {
    char aw[256], dur[16];
    tr_awaits_text(m, t, aw, sizeof aw);
    fprintf(out, "\ntask #%" PRIu64 " ", t->id);
    ts_text_put(out, tm_task_name(m, t), 0);
    fprintf(out, " (%s", tm_task_state_name(t));
    if (t->state == TM_SUSPENDED) {
        fputs(", awaits ", out);
        ts_text_put(out, aw, 0);
    }
    uint32_t by = tm_model_task_canceller(m, t->id);
    if (by)
        fprintf(out, ", cancelled by taskscope cancel (pid %u)", by);
    fputs(")\n", out);
    ts_frame f[FRAMES_MAX];
    tm_task_stack st;
    int n = tw_task_frames(m, sym, t->id, f, FRAMES_MAX, &st);
    if (n < 0 && t->state == TM_READY && !t->polls) {
        fputs("    (not started yet: no stack)\n", out);
        return;
    }
    if (n < 0) {
        fputs(loop_blocked_now(m, t)
                  ? "    (no stack yet: its loop is blocked; the loop sends the stacks with "
                    "its state dump once the step returns)\n"
                  : "    (no stack recorded: not parked during a state dump, or over the "
                    "dump's limit of stacks)\n", out);
        return;
    }
    for (int k = 0; k < n; k++)
        text_frame(out, &f[k], k);
    const char *why = flags_text(st.flags);
    if (why)
        fprintf(out, "    ... %s\n", why);
    if (t->state_since_ns > st.ns) {
        tm_fmt_dur(dur, sizeof dur, tm_model_now(m) - st.ns);
        fprintf(out, "    (stack from %s ago; the task has run since)\n", dur);
    }
}

static void json_task(FILE *out, const tm_model *m, ts_symbolizer *sym, const tm_task *t,
                      int first) {
    fprintf(out, "%s{\"task\":%" PRIu64 ",\"name\":", first ? "" : ",", t->id);
    tr_json_str(out, tm_task_name(m, t));
    fprintf(out, ",\"state\":\"%s\"", tm_task_state_name(t));
    const tm_field *fl;
    size_t nf = tm_model_task_fields(m, t->id, &fl);
    fputs(",\"fields\":{", out);
    for (size_t k = 0; k < nf; k++) {
        fputs(k ? "," : "", out);
        tr_json_str(out, fl[k].key);
        fputc(':', out);
        tr_json_str(out, fl[k].value);
    }
    fputc('}', out);
    uint32_t by = tm_model_task_canceller(m, t->id);
    tr__json_u64_or_null(out, "cancelled_by_pid", by, by != 0);
    ts_frame f[FRAMES_MAX];
    tm_task_stack st;
    int n = tw_task_frames(m, sym, t->id, f, FRAMES_MAX, &st);
    if (n < 0) {
        fputs(",\"stack_ns\":null,\"stale\":null,\"incomplete\":null,\"frames\":null}", out);
        return;
    }
    fprintf(out, ",\"stack_ns\":%" PRIu64 ",\"stale\":%s", st.ns,
            t->state_since_ns > st.ns ? "true" : "false");
    tr__json_str_or_null(out, "incomplete", flags_text(st.flags), flags_text(st.flags) != NULL);
    fputs(",\"frames\":[", out);
    for (int k = 0; k < n; k++)
        json_frame(out, &f[k], k);
    fputs("]}", out);
}

int tr_where(FILE *out, const tm_model *m, ts_symbolizer *sym, const tr_opts *o,
             uint64_t task) {
    const tm_task *only = task ? tm_model_task(m, task) : NULL;
    if (task && !only)
        return -ENOENT;
    tw_add_modules(sym, m);
    if (o->json) {
        tr__json_head(out, m, o);
        fputs("\"tasks\":[", out);
    } else {
        tr__text_header(out, m, o);
    }
    int shown = 0;
    for (size_t i = 0; i < tm_model_task_count(m); i++) {
        const tm_task *t = tm_model_task_at(m, i);
        if (!t || (only ? t != only : !parked(t)))
            continue;
        if (o->json)
            json_task(out, m, sym, t, !shown);
        else
            text_task(out, m, sym, t);
        shown++;
    }
    if (o->json) {
        fputc(']', out);
        tr__json_tail(out, m);
    } else if (!shown) {
        fputs("no parked task\n", out);
    }
    return 0;
}

void tr_stacks_section(FILE *out, const tm_model *m, ts_symbolizer *sym) {
    tw_add_modules(sym, m);
    fputs("\nstacks of parked tasks:\n", out);
    int shown = 0;
    for (size_t i = 0; i < tm_model_task_count(m); i++) {
        const tm_task *t = tm_model_task_at(m, i);
        if (t && parked(t)) {
            text_task(out, m, sym, t);
            shown++;
        }
    }
    if (!shown)
        fputs("  (none)\n", out);
}

void tr_fields_section(FILE *out, const tm_model *m) {
    fputs("\nfields:\n", out);
    int shown = 0;
    for (size_t i = 0; i < tm_model_task_count(m); i++) {
        const tm_task *t = tm_model_task_at(m, i);
        const tm_field *f;
        size_t n = t ? tm_model_task_fields(m, t->id, &f) : 0;
        uint32_t by = t ? tm_model_task_canceller(m, t->id) : 0;
        if (!n && !by)
            continue;
        fprintf(out, "  task #%" PRIu64 " ", t->id);
        ts_text_put(out, tm_task_name(m, t), 0);
        fputc(':', out);
        if (by)
            fprintf(out, " (cancelled by taskscope cancel (pid %u))", by);
        for (size_t k = 0; k < n; k++) {
            fputc(' ', out);
            ts_text_put(out, f[k].key, 0);
            fputc('=', out);
            ts_text_put(out, f[k].value, 0);
        }
        fputc('\n', out);
        shown++;
    }
    if (!shown)
        fputs("  (none)\n", out);
    size_t nlogs = tm_model_log_count(m);
    fprintf(out, "\nlog (%zu line%s):\n", nlogs, nlogs == 1 ? "" : "s");
    for (size_t i = 0; i < nlogs; i++) {
        const tm_log *l = tm_model_log_at(m, i);
        char ago[16];
        tm_fmt_dur(ago, sizeof ago, tm_model_now(m) > l->ns ? tm_model_now(m) - l->ns : 0);
        fprintf(out, "  %8s ago", ago);
        if (l->task) {
            fprintf(out, "  task #%" PRIu64 " ", l->task);
            ts_text_put(out, tr__task_name(m, l->task), 0);
        } else {
            fputs("  (no task)", out);
        }
        fputs(": ", out);
        ts_text_put(out, l->text, 0);
        fputc('\n', out);
    }
}
