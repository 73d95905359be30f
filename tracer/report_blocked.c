/*
 * report_blocked.c - `taskscope blocked`: every blocked-loop episode and
 * slow step, with the thread's state, the system call and the symbolized
 * stack the watchdog captured.  An episode that has ended reports its full
 * duration (the same figure as its warning); one still going on reports
 * how long it had lasted when last seen, marked ongoing.
 *
 * The watchdog sends an episode's stack after its report (session.c
 * waits for it only briefly): an ongoing episode whose stack is not in
 * yet says so, and is not shown as one that has no stack.
 */
#include <inttypes.h>
#include <string.h>

#include "report_impl.h"

static const char *thread_state_words(char c) {
    switch (c) {
    case 'R': return "running on CPU";
    case 'S': return "sleeping";
    case 'D': return "uninterruptible sleep";
    case 'T': return "stopped";
    case 't': return "stopped by a tracer";
    case 'Z': return "zombie";
    default: return NULL;
    }
}

static void frame(FILE *out, const ts_frame *f, uint32_t k, int json) {
    if (json) {
        fprintf(out, "%s{\"pc\":\"%#" PRIx64 "\",\"function\":", k ? "," : "", f->pc);
        tr_json_str(out, f->function);
        tr__json_str_or_null(out, "file", f->file, f->file[0] != 0);
        tr__json_u64_or_null(out, "line", (uint64_t)f->line, f->file[0] && f->line > 0);
        tr__json_str_or_null(out, "module", f->module, f->module[0] != 0);
        fputc('}', out);
        return;
    }
    const char *base = strrchr(f->file, '/');
    fprintf(out, "    #%-2u %#014" PRIx64 " ", k, f->pc);
    ts_text_put(out, f->function, 0);
    if (f->file[0]) {
        fputs(" at ", out);
        ts_text_put(out, base ? base + 1 : f->file, 0);
        fprintf(out, ":%d", f->line);
    }
    if (f->module[0]) {
        fputs(" (", out);
        ts_text_put(out, f->module, 0);
        fputc(')', out);
    }
    fputc('\n', out);
}

/* Where an episode's stack stands: captured (frames follow), being
 * captured (reported, ongoing, its stack record not read yet), or none
 * (a slow step, a stack the watchdog could not take, or one not read). */
static const char *stack_status(const tm_model *m, const tm_blocked *b, int ongoing) {
    uint32_t depth = 0;
    if (b->slow_only || !b->stack)
        return "none";
    if (tm_model_stack(m, b->stack, &depth))
        return depth ? "captured" : "none";
    return ongoing ? "capturing" : "none";
}

void tr_blocked(FILE *out, const tm_model *m, ts_symbolizer *sym, const tr_opts *o) {
    for (size_t i = 0; i < tm_model_module_count(m); i++) {
        const tm_module *mod = tm_model_module_at(m, i);
        ts_symbolizer_add_module(sym, mod->start, mod->end, mod->offset,
                                 tm_model_string(m, mod->path));
    }
    if (o->json) {
        tr__json_head(out, m, o);
        fputs("\"episodes\":[", out);
    } else {
        tr__text_header(out, m, o);
    }
    size_t n = tm_model_blocked_count(m);
    if (!n && !o->json)
        fprintf(out, "no blocked loop and no slow step recorded\n");
    for (size_t i = 0; i < n; i++) {
        const tm_blocked *b = tm_model_blocked_at(m, i);
        const tm_task *t = tm_model_task(m, b->task);
        char dur[16], sc[64], ssite[256];
        int ongoing = !b->duration_ns && !b->slow_only;
        /* The model's now: on a live process, the last drain of the rings */
        uint64_t ns = tm_blocked_length(b, tm_model_now(m));
        tr_fmt_dur(dur, sizeof dur, ns);
        tr_syscall_text(sc, sizeof sc, b->syscall);
        tm_model_site_text(m, t ? t->site : 0, ssite, sizeof ssite);
        const char *what = b->slow_only ? "slow step" : ongoing ? "BLOCKED NOW" : "blocked";
        const char *words = thread_state_words(b->thread_state);
        const char *state = b->slow_only ? "-" : b->syscall >= 0 ? "blocked in syscall"
                                              : b->thread_state == 'R' ? "busy on CPU" : "off CPU";
        uint32_t depth = 0;
        const uint64_t *pcs = tm_model_stack(m, b->stack, &depth);
        const char *stack = stack_status(m, b, ongoing);
        if (o->json) {
            fprintf(out, "%s{\"kind\":\"%s\",\"loop\":%" PRIu64 ",\"task\":%" PRIu64,
                    i ? "," : "", b->slow_only ? "slow_step" : "blocked", b->loop, b->task);
            tr__json_str_or_null(out, "task_name", t ? tm_model_string(m, t->name) : "", t != NULL);
            fprintf(out, ",\"duration_ns\":%" PRIu64 ",\"ongoing\":%s", ns,
                    ongoing ? "true" : "false");
            if (b->thread_state && !b->slow_only)
                fprintf(out, ",\"thread_state\":\"%c\"", b->thread_state);
            else
                fputs(",\"thread_state\":null", out);
            tr__json_str_or_null(out, "thread_state_name", words, words && !b->slow_only);
            if (b->syscall >= 0) {
                fprintf(out, ",\"syscall\":%d,\"syscall_name\":", b->syscall);
                tr_json_str(out, sc);
            } else {
                fputs(",\"syscall\":null,\"syscall_name\":null", out);
            }
            tr__json_str_or_null(out, "spawn_site", ssite, strcmp(ssite, "-") != 0);
            fprintf(out, ",\"stack_status\":\"%s\",\"stack\":[", stack);
        } else {
            fprintf(out, "\n%s %s: loop %" PRIu64 ", task #%" PRIu64 " ", what, dur, b->loop,
                    b->task);
            ts_text_put(out, t ? tm_model_string(m, t->name) : "?", 0);
            fputs(" (spawned at ", out);
            ts_text_put(out, ssite, 0);
            fputs(")\n", out);
            if (!b->slow_only)
                fprintf(out, "  thread %u %s%s%s%s%s%s\n", b->tid, state,
                        b->syscall >= 0 ? ": " : "", b->syscall >= 0 ? sc : "",
                        words ? " (" : "", words ? words : "", words ? ")" : "");
            if (!strcmp(stack, "capturing"))
                fputs("  stack: being captured by the watchdog (not in yet: run again to see "
                      "it)\n", out);
            else if (!b->slow_only && !depth)
                fputs("  stack: none captured\n", out);
        }
        for (uint32_t k = 0; k < depth; k++) {
            ts_frame f;
            ts_symbolize(sym, pcs[k], k > 0, &f);
            frame(out, &f, k, o->json);
        }
        if (o->json)
            fprintf(out, "]}");
    }
    if (o->json) {
        fputc(']', out);
        tr__json_tail(out, m);
    } else {
        tr_warnings(out, m, o);
    }
}
