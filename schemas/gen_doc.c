/*
 * gen_doc.c - writes schemas/README.md, the reference of the trace
 * format, from events.def and trace_format.h.
 *
 *   gen_doc                 print the reference on stdout
 *   gen_doc --write FILE    write it to FILE
 *   gen_doc --check FILE    exit 1 if FILE differs (a meson test runs this,
 *                           so the committed reference cannot go stale)
 *
 * Events, fields, docs, offsets and sizes all come from the definitions
 * (X-macros and sizeof/offsetof).  The segment structs are not X-macros,
 * so their tables below list each member by hand; a check that the listed
 * members tile the struct exactly makes a member added to trace_format.h
 * without its line here fail the build's test instead of going unnoticed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace_format.h"

static char *out;
static size_t out_len, out_cap;

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(out ? out + out_len : NULL, out ? out_cap - out_len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            exit(2);
        if (out && out_len + (size_t)n < out_cap) {
            out_len += (size_t)n;
            return;
        }
        out_cap = (out_cap + (size_t)n + 1) * 2;
        out = realloc(out, out_cap);
        if (!out)
            exit(2);
    }
}

/* ---- events ----------------------------------------------------------------- */

struct field {
    const char *type, *name, *doc;
    size_t size;
    int tail;
};

#define TS_EVENT(name, id, doc, fields) static const struct field f_##name[] = {fields{0}};
#define TS_FIELD(type, fname, doc) {#type, #fname, doc, sizeof(ts_##type), 0},
#define TS_TAIL(type, fname, doc) {#type, #fname, doc, 0, 1},
#include "events.def"
#undef TS_EVENT
#undef TS_FIELD
#undef TS_TAIL

struct event {
    const char *name, *doc;
    int id;
    size_t size;
    const struct field *fields;
};

static const struct event events[] = {
#define TS_EVENT(name, id, doc, fields) {#name, doc, id, sizeof(ts_ev_##name), f_##name},
#define TS_FIELD(type, fname, doc)
#define TS_TAIL(type, fname, doc)
#include "events.def"
#undef TS_EVENT
#undef TS_FIELD
#undef TS_TAIL
};

static int has_tail(const struct event *e) {
    for (const struct field *f = e->fields; f->name; f++)
        if (f->tail)
            return 1;
    return 0;
}

static void event_index(void) {
    emit("| id | event | record size | what it says |\n|---:|---|---:|---|\n");
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++)
        emit("| %d | [`%s`](#%s) | %zu%s | %s |\n", events[i].id, events[i].name, events[i].name,
             events[i].size, has_tail(&events[i]) ? "+" : "",
             events[i].doc);
    emit("\n");
}

static void event_detail(const struct event *e) {
    const struct field *tail = NULL;
    emit("### %s\n\nid %d, %zu bytes. %s.\n\n", e->name, e->id, e->size, e->doc);
    emit("| offset | field | type | meaning |\n|---:|---|---|---|\n");
    emit("| 0 | header | ts_ev_header | timestamp, type = %d, size, spare |\n", e->id);
    size_t off = sizeof(ts_ev_header);
    for (const struct field *f = e->fields; f->name; f++) {
        if (f->tail) {
            tail = f;
            continue;
        }
        emit("| %zu | `%s` | %s | %s |\n", off, f->name, f->type, f->doc);
        off += f->size;
    }
    if (off < e->size)
        emit("| %zu | | padding | zero, up to the 8-byte multiple |\n", off);
    if (tail)
        emit("| %zu | `%s[]` | %s | %s; the record's size covers it, padded to 8 |\n", e->size,
             tail->name, !strcmp(tail->type, "bytes") ? "bytes" : "u64 array", tail->doc);
    emit("\n");
}

/* ---- structs listed by hand, checked to tile ---------------------------------- */

struct member {
    const char *name;
    size_t off, size, align;
    const char *doc;
};

#define M(type, field, doc)                                                  \
    {#field, offsetof(type, field), sizeof(((type *)0)->field),             \
     __alignof__(((type *)0)->field), doc}

/* The listed members must tile the struct: each starts where the previous
 * ended, give or take the padding its alignment needs, and the last ends
 * within the struct's own alignment of its size.  A gap any larger is a
 * member nobody listed. */
static void struct_table(const char *name, size_t size, size_t align, const struct member *m,
                         size_t n) {
    size_t end = 0;
    emit("`%s`, %zu bytes:\n\n| offset | size | field | meaning |\n|---:|---:|---|---|\n", name,
         size);
    for (size_t i = 0; i < n; i++) {
        if (m[i].off < end || m[i].off - end >= m[i].align) {
            fprintf(stderr, "gen_doc: %s.%s does not follow %s: trace_format.h changed, "
                            "update gen_doc.c\n", name, m[i].name, i ? m[i - 1].name : "the start");
            exit(2);
        }
        emit("| %zu | %zu | `%s` | %s |\n", m[i].off, m[i].size, m[i].name, m[i].doc);
        end = m[i].off + m[i].size;
    }
    if (size - end >= align) {
        fprintf(stderr, "gen_doc: %s has members after %s that are not listed: update "
                        "gen_doc.c\n", name, m[n - 1].name);
        exit(2);
    }
    emit("\n");
}

static const struct member seg_members[] = {
    M(ts_seg_header, magic, "`" TS_SEG_MAGIC "`, written last: a reader that sees it sees a complete header"),
    M(ts_seg_header, version, "schema version (TS_SCHEMA_VERSION)"),
    M(ts_seg_header, header_size, "sizeof(ts_seg_header)"),
    M(ts_seg_header, total_size, "bytes in the whole segment (must equal the file size)"),
    M(ts_seg_header, pid, "the process"),
    M(ts_seg_header, uid, "its effective uid"),
    M(ts_seg_header, start_time, "/proc/PID/stat field 22: with pid, tells this process's segment from one it inherited across fork"),
    M(ts_seg_header, max_rings, "ring slots"),
    M(ts_seg_header, ring_size, "bytes per ring: a power of two, a multiple of the page"),
    M(ts_seg_header, rings_offset, "where the ring headers start"),
    M(ts_seg_header, data_offset, "where ring data starts; ring i at data_offset + i * ring_size"),
    M(ts_seg_header, calib_seq, "seqlock over the calibration (odd while it changes)"),
    M(ts_seg_header, ticks0, "event clock at creation"),
    M(ts_seg_header, mono0_ns, "CLOCK_MONOTONIC at the same moment"),
    M(ts_seg_header, ticks1, "a later event clock reading (refreshed every second)"),
    M(ts_seg_header, mono1_ns, "CLOCK_MONOTONIC at that moment"),
    M(ts_seg_header, attach_request, "a reader increments it to ask for a state dump"),
    M(ts_seg_header, attach_done, "the runtime stores the request it answered, after the dump"),
    M(ts_seg_header, reader_pid, "the live reader's pid, 0 if none"),
    M(ts_seg_header, reader_heartbeat_ns, "CLOCK_MONOTONIC of the reader's last sign of life"),
    M(ts_seg_header, block_threshold_ns, "block detection threshold"),
    M(ts_seg_header, slow_step_ns, "slow-step threshold"),
    M(ts_seg_header, watch_scan_ns,
      "CLOCK_MONOTONIC at the start of the watchdog's latest finished scan of the loops"),
    M(ts_seg_header, loops, "one ts_loop_slot per loop (block detection state)"),
    M(ts_seg_header, runtime_version, "runtime version string"),
    M(ts_seg_header, exe, "/proc/self/exe at creation"),
    M(ts_seg_header, command, "the command channel (one ts_seg_command): `taskscope cancel`"),
};

static const struct member command_members[] = {
    M(ts_seg_command, claim, "reader: the pid holding the channel (CAS from 0), 0 free; the runtime frees it with its answer"),
    M(ts_seg_command, seq, "reader: the request's number, stored last (release)"),
    M(ts_seg_command, loop, "reader: the loop that owns the task"),
    M(ts_seg_command, task, "reader: the task"),
    M(ts_seg_command, op, "reader: 1 cancel"),
    M(ts_seg_command, pid, "reader: the requesting process (the runtime checks its uid)"),
    M(ts_seg_command, msg_len, "reader: bytes of msg"),
    M(ts_seg_command, pad, "zero"),
    M(ts_seg_command, msg, "reader: the cancel message, not terminated"),
    M(ts_seg_command, done_seq, "runtime: the last request answered (release)"),
    M(ts_seg_command, result, "runtime: 0 applied, or -ESRCH, -EALREADY, -ENOENT, -EPERM, -EINVAL"),
    M(ts_seg_command, pad2, "zero"),
};

static const struct member ring_members[] = {
    M(ts_ring_header, head, "bytes published (release store by the producer)"),
    M(ts_ring_header, dropped, "events dropped because the live reader fell behind, total"),
    M(ts_ring_header, generation, "bumped each time a thread claims the slot"),
    M(ts_ring_header, tid, "kernel thread id of the owner"),
    M(ts_ring_header, role, "1 loop, 2 executor worker, 3 watchdog, 0 other"),
    M(ts_ring_header, in_use, "1 while a thread owns the ring"),
    M(ts_ring_header, fatal_signal, "the signal killing the process, on the crashing thread's ring (else 0)"),
    M(ts_ring_header, name, "thread name, NUL-terminated"),
    M(ts_ring_header, tail, "bytes consumed (release store by the live reader; own cache line)"),
    M(ts_ring_header, pad1, "zero"),
};

static const struct member slot_members[] = {
    M(ts_loop_slot, loop, "loop id, 0 = slot free"),
    M(ts_loop_slot, step, "step counter, odd while a step runs"),
    M(ts_loop_slot, step_start, "event clock at the step's start"),
    M(ts_loop_slot, task, "running task id, 0 for a callback"),
    M(ts_loop_slot, blocked_step, "the step the watchdog reported as blocked"),
    M(ts_loop_slot, dump_gen, "the attach generation this loop last answered with a state dump"),
    M(ts_loop_slot, tid, "loop thread id"),
    M(ts_loop_slot, pad, "zero"),
};

static const struct member hdr_members[] = {
    M(ts_ev_header, ts, "event clock ticks (see the calibration)"),
    M(ts_ev_header, type, "event id; 0 = PAD"),
    M(ts_ev_header, size, "bytes in the record, header included; a multiple of 8"),
    M(ts_ev_header, spare, "zero"),
};

#define TABLE(type, arr) \
    struct_table(#type, sizeof(type), __alignof__(type), arr, sizeof arr / sizeof arr[0])

/* ---- the page ------------------------------------------------------------------- */

static void generate(void) {
    emit("# The taskscope trace format (schema version %d)\n\n", TS_SCHEMA_VERSION);
    emit("<!-- Generated by schemas/gen_doc.c from events.def and trace_format.h. Do not edit:\n"
         "     run `ninja -C <build> schema-doc` after changing either. -->\n\n");
    emit("The debug runtime (`libtaskscope-debug`) records what the runtime does as small\n"
         "binary records in per-thread rings in shared memory; the tracer reads them\n"
         "(`tracer/reader.h`). `events.def` defines every event once; the record structs\n"
         "(`trace_format.h`), the reader's decoder and this page are generated from it.\n\n");
    emit("## Conventions\n\n"
         "- Every record starts with the 16-byte `ts_ev_header`; its `size` covers the\n"
         "  whole record and is a multiple of 8. Fixed fields follow, 64-bit ones first,\n"
         "  packed; a variable-length tail, if any, follows the padded fixed part.\n"
         "- Task, loop, future and resource ids are process-unique 64-bit numbers (0 =\n"
         "  none); futures and resources are identified by their address.\n"
         "- Strings and call sites are interned: a `string` or `site` record precedes\n"
         "  their first use and later records carry the 32-bit id (0 = none). Ids are\n"
         "  unique in the process; a state dump replays all of them.\n"
         "- Durations are nanoseconds; `err` fields are 0 or a negative errno-style code.\n"
         "- Ids never change meaning; a new event takes a new id and bumps the version.\n\n");
    emit("## Events\n\n");
    event_index();
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++)
        event_detail(&events[i]);
    emit("## Record header\n\n");
    TABLE(ts_ev_header, hdr_members);
    emit("A record of type 0 (PAD) carries nothing: skip `size` bytes.\n\n");
    emit("## The segment\n\n"
         "One per process: a memfd named `%s` (`%%d` = pid), mode 0600, created by\n"
         "the first loop and sealed against shrinking and growing, so no side can\n"
         "take SIGBUS through its mapping. Readers find it among `/proc/PID/fd` (the\n"
         "link reads `/memfd:taskscope.PID (deleted)`); it has no other name, so\n"
         "nothing is left behind after any exit, and it lives on while a reader holds\n"
         "it (the end of a killed program's trace can still be read). It holds the\n"
         "header, %u ring headers, then %u rings of `ring_size` bytes (default %u,\n"
         "%u .. %u, `TASKSCOPE_RING_SIZE`). The runtime reads back only what a reader\n"
         "may write (`tail`, `attach_request`, `reader_pid`, `reader_heartbeat_ns`, the\n"
         "command channel's request, copied before it is checked) and clamps it; `loops[]` and the thresholds are copies for readers. A crash\n"
         "snapshot (`schemas/crash_snapshot.h`) holds a copy of the segment.\n\n",
         TS_SEG_NAME_FMT, TS_MAX_RINGS, TS_MAX_RINGS, TS_RING_SIZE_DEFAULT, TS_RING_SIZE_MIN, TS_RING_SIZE_MAX);
    TABLE(ts_seg_header, seg_members);
    TABLE(ts_loop_slot, slot_members);
    TABLE(ts_seg_command, command_members);
    TABLE(ts_ring_header, ring_members);
    emit("## Rings\n\n"
         "- One single-producer ring per emitting thread (loop threads, executor workers,\n"
         "  the watchdog). A thread claims a free slot; positions carry on from the slot's\n"
         "  previous owner, so a reader's tail stays meaningful.\n"
         "- Positions (`head`, `tail`) are byte counts since the ring started, never\n"
         "  wrapped; the byte at position p is at offset p %% ring_size.\n"
         "- The ring is cut into pages of %u bytes and a record never crosses one: a\n"
         "  writer that cannot fit a record in the rest of a page fills it with a PAD\n"
         "  record (or, if fewer than 16 bytes are left, leaves them: a reader skips a\n"
         "  page tail shorter than a header). Every page boundary is a record boundary.\n"
         "- The producer publishes `head` with a release store in batches (every %d\n"
         "  events, before its thread may sleep, and whenever it starts a new page), never\n"
         "  per event. It never writes into the page after the one its published `head`\n"
         "  is in, so with no live reader the bytes from (the end of head's page -\n"
         "  ring_size) up to `head` are intact; older ones may be overwritten.\n"
         "- Flight recorder: with no live reader the producer overwrites its oldest data,\n"
         "  so a reader that comes late gets the most recent window.\n"
         "- Live reader: a reader stores each ring's `tail`, then its pid in `reader_pid`\n"
         "  and refreshes `reader_heartbeat_ns` at least every second. While the heartbeat\n"
         "  is under 2 s old the producer never writes more than `ring_size` past `tail`:\n"
         "  what does not fit is dropped, counted in `dropped`, and reported as a\n"
         "  `dropped` event as soon as there is room.\n"
         "- Attach handshake: the reader increments `attach_request`; each loop, at its\n"
         "  next iteration (the watchdog wakes a loop idle in its poll), writes a state\n"
         "  dump into its ring: `dump_begin`, every interned string and site,\n"
         "  `loop_create`, one `task_state` per live task, each live resource\n"
         "  (`resource_create`, plus `resource_acquired` for a held lock and `queue_depth`\n"
         "  for a queue), `dump_end`; it publishes it and stores the request in its slot's\n"
         "  `dump_gen` and in `attach_done`.\n"
         "- Clock: `ns = mono0_ns + (ts - ticks0) * (mono1_ns - mono0_ns) / (ticks1 -\n"
         "  ticks0)`, reading the four words under `calib_seq`.\n\n",
         TS_PAGE_SIZE, 64);
    emit("## What a reader checks\n\n"
         "Owner uid = the process's, mode 0600, magic, version, `header_size`,\n"
         "`total_size` = file size, ring count and size, offsets inside the file,\n"
         "`start_time`; then for each record: `size` >= 16, a multiple of 8, inside its\n"
         "page and below `head`, at least the type's record size, a tail that fits (a\n"
         "`string`'s `len`, a `stack`'s `depth`). A bad record costs the rest of its page;\n"
         "an unknown type is skipped by its size.\n");
}

static int compare(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    char *buf = malloc(out_len + 2);
    size_t n = buf ? fread(buf, 1, out_len + 1, f) : 0;
    fclose(f);
    int same = buf && n == out_len && !memcmp(buf, out, out_len);
    free(buf);
    if (!same)
        fprintf(stderr, "%s is out of date: regenerate it with `ninja -C <build> schema-doc`\n",
                path);
    return !same;
}

int main(int argc, char **argv) {
    generate();
    if (argc == 3 && !strcmp(argv[1], "--check"))
        return compare(argv[2]);
    FILE *f = stdout;
    if (argc == 3 && !strcmp(argv[1], "--write"))
        f = fopen(argv[2], "wb");
    else if (argc != 1) {
        fprintf(stderr, "usage: gen_doc [--write FILE | --check FILE]\n");
        return 2;
    }
    if (!f || fwrite(out, 1, out_len, f) != out_len || (f != stdout && fclose(f) != 0)) {
        perror("gen_doc");
        return 1;
    }
    return 0;
}
