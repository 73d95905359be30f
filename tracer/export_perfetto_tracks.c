/*
 * export_perfetto_tracks.c - see export_perfetto_impl.h: packets, interned
 * names and track descriptors, encoded by protobuf-c and written at once.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "export.h"
#include "export_perfetto_impl.h"
#include "model.h"
#include "textsafe.h"

/* The one trusted sequence this exporter writes. */
#define PF_SEQUENCE 1

static const char *const ev_names[] = {
    [PF_N_RUN] = "run", [PF_N_SPAWN] = "spawn", [PF_N_WAKE] = "wake",
    [PF_N_CREATED] = "created", [PF_N_CANCEL] = "cancel requested", [PF_N_DONE] = "done",
    [PF_N_FAILED] = "failed", [PF_N_CANCELLED] = "cancelled", [PF_N_LOST] = "lost",
    [PF_N_SLOW_STEP] = "slow step", [PF_N_WARNING] = "warning", [PF_N_LAG] = "loop lag",
    [PF_N_READY] = "ready tasks", [PF_N_CRITICAL] = "critical path",
};

static const char *const arg_names[] = {
    [PF_A_SITE] = "site", [PF_A_PARENT] = "parent", [PF_A_STATUS] = "status",
    [PF_A_BY_TASK] = "by_task", [PF_A_REQUESTS] = "requests", [PF_A_MESSAGE] = "message",
    [PF_A_ERR] = "err", [PF_A_TASK] = "task", [PF_A_THREAD_STATE] = "thread_state",
    [PF_A_SYSCALL] = "syscall", [PF_A_STACK] = "stack", [PF_A_DURATION_NS] = "duration_ns",
    [PF_A_ELAPSED_NS] = "elapsed_ns", [PF_A_KIND] = "kind", [PF_A_OBJECT] = "object",
    [PF_A_WAITER] = "waiter",
};

/* protobuf-c appends the packed bytes here: straight into the stream
 * (or, for ts_export_perfetto_header, into memory). */
typedef struct file_buffer {
    ProtobufCBuffer base;
    pf_writer *w;
    uint8_t *mem;
    size_t len, cap;
} file_buffer;

static void file_append(ProtobufCBuffer *b, size_t len, const uint8_t *data) {
    file_buffer *fb = (file_buffer *)b;
    if (fb->mem) {
        size_t n = len < fb->cap - fb->len ? len : fb->cap - fb->len;
        memcpy(fb->mem + fb->len, data, n);
        fb->len += n;
        return;
    }
    if (fwrite(data, 1, len, fb->w->out) != len)
        fb->w->error = 1;
}

static void emit_packet(pf_writer *w, Perfetto__Protos__TracePacket *p);

/* The first packet clears the sequence's incremental state and interns
 * every fixed name; later packets only refer to them. */
static void start(pf_writer *w) {
    enum { NEV = PF_N_AWAIT0 + PF_WAIT_KINDS, NARG = PF_A_COUNT };
    static char await_names[PF_WAIT_KINDS][40];
    Perfetto__Protos__EventName en[NEV], *enp[NEV];
    Perfetto__Protos__DebugAnnotationName an[NARG], *anp[NARG];
    size_t ne = 0, na = 0;
    for (int i = 1; i < NEV; i++) {
        perfetto__protos__event_name__init(&en[ne]);
        en[ne].has_iid = 1;
        en[ne].iid = (uint64_t)i;
        if (i < PF_N_AWAIT0) {
            en[ne].name = (char *)ev_names[i];
        } else {
            snprintf(await_names[i - PF_N_AWAIT0], sizeof await_names[0], "await %s",
                     tm_wait_kind_name((uint32_t)(i - PF_N_AWAIT0)));
            en[ne].name = await_names[i - PF_N_AWAIT0];
        }
        enp[ne] = &en[ne];
        ne++;
    }
    for (int i = 1; i < NARG; i++) {
        perfetto__protos__debug_annotation_name__init(&an[na]);
        an[na].has_iid = 1;
        an[na].iid = (uint64_t)i;
        an[na].name = (char *)arg_names[i];
        anp[na] = &an[na];
        na++;
    }
    Perfetto__Protos__InternedData idata = PERFETTO__PROTOS__INTERNED_DATA__INIT;
    idata.n_event_names = ne;
    idata.event_names = enp;
    idata.n_debug_annotation_names = na;
    idata.debug_annotation_names = anp;
    Perfetto__Protos__TracePacket p = PERFETTO__PROTOS__TRACE_PACKET__INIT;
    p.has_sequence_flags = 1;
    p.sequence_flags = PERFETTO__PROTOS__TRACE_PACKET__SEQUENCE_FLAGS__SEQ_INCREMENTAL_STATE_CLEARED;
    p.has_first_packet_on_sequence = 1;
    p.first_packet_on_sequence = 1;
    p.interned_data = &idata;
    w->started = 1;
    emit_packet(w, &p);
}

static void emit_packet(pf_writer *w, Perfetto__Protos__TracePacket *p) {
    if (!w->started)
        start(w);
    p->optional_trusted_packet_sequence_id_case =
        PERFETTO__PROTOS__TRACE_PACKET__OPTIONAL_TRUSTED_PACKET_SEQUENCE_ID_TRUSTED_PACKET_SEQUENCE_ID;
    p->trusted_packet_sequence_id = PF_SEQUENCE;
    Perfetto__Protos__Trace t = PERFETTO__PROTOS__TRACE__INIT;
    t.n_packet = 1;
    t.packet = &p;
    if (!w->mem) {
        /* Packed whole, then one fwrite: protobuf-c's buffer interface
         * appends field by field, which costs a call per field. */
        uint8_t small[2048];
        size_t n = perfetto__protos__trace__get_packed_size(&t);
        uint8_t *buf = n <= sizeof small ? small : malloc(n);
        if (!buf) {
            w->error = 1;
            return;
        }
        perfetto__protos__trace__pack(&t, buf);
        if (fwrite(buf, 1, n, w->out) != n)
            w->error = 1;
        if (buf != small)
            free(buf);
        w->packets++;
        return;
    }
    file_buffer fb = {.base = {.append = file_append}, .w = w, .mem = w->mem, .cap = w->memcap};
    perfetto__protos__trace__pack_to_buffer(&t, &fb.base);
    w->memlen = fb.len;
    w->packets++;
}

size_t ts_export_perfetto_header(uint8_t *buf, size_t cap) {
    pf_writer w = {.mem = buf, .memcap = cap};
    start(&w);
    return w.memlen;
}

void pf_event_init(pf_event *e, int type, uint64_t track, uint64_t name_iid, const char *name) {
    perfetto__protos__track_event__init(&e->ev);
    e->ev.has_type = 1;
    e->ev.type = (Perfetto__Protos__TrackEvent__Type)type;
    e->ev.has_track_uuid = 1;
    e->ev.track_uuid = track;
    if (name_iid) {
        e->ev.name_field_case = PERFETTO__PROTOS__TRACK_EVENT__NAME_FIELD_NAME_IID;
        e->ev.name_iid = name_iid;
    } else if (name) {
        e->ev.name_field_case = PERFETTO__PROTOS__TRACK_EVENT__NAME_FIELD_NAME;
        e->ev.name = (char *)name;
    }
    e->ev.debug_annotations = e->argp;
    e->flow = e->end_flow = e->end_flow2 = 0;
}

static Perfetto__Protos__DebugAnnotation *new_arg(pf_event *e, enum pf_arg name) {
    size_t i = e->ev.n_debug_annotations;
    if (i == PF_MAX_ARGS)
        return NULL;
    Perfetto__Protos__DebugAnnotation *a = &e->args[i];
    perfetto__protos__debug_annotation__init(a);
    a->name_field_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__NAME_FIELD_NAME_IID;
    a->name_iid = (uint64_t)name;
    e->argp[i] = a;
    e->ev.n_debug_annotations = i + 1;
    return a;
}

void pf_arg_uint(pf_event *e, enum pf_arg name, uint64_t v) {
    Perfetto__Protos__DebugAnnotation *a = new_arg(e, name);
    if (a) {
        a->value_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_UINT_VALUE;
        a->uint_value = v;
    }
}

void pf_arg_int(pf_event *e, enum pf_arg name, int64_t v) {
    Perfetto__Protos__DebugAnnotation *a = new_arg(e, name);
    if (a) {
        a->value_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_INT_VALUE;
        a->int_value = v;
    }
}

/* Strings must be valid UTF-8 in a proto string field: the traced
 * program's bytes are not trusted to be.  Each invalid byte becomes
 * U+FFFD; the copy is cut at a character boundary to fit. */
static void utf8_copy(char *dst, size_t cap, const char *s) {
    size_t o = 0, n = strlen(s);
    const unsigned char *p = (const unsigned char *)s;
    while (n && o + 4 < cap) {
        unsigned cp;
        size_t k = ts_utf8_next(p, n, &cp);
        if (!k) {
            memcpy(dst + o, "\xef\xbf\xbd", 3);
            o += 3;
            p++;
            n--;
            continue;
        }
        memcpy(dst + o, p, k);
        o += k;
        p += k;
        n -= k;
    }
    dst[o] = 0;
}

void pf_arg_str(pf_event *e, enum pf_arg name, const char *s) {
    size_t i = e->ev.n_debug_annotations;
    Perfetto__Protos__DebugAnnotation *a = new_arg(e, name);
    if (a) {
        utf8_copy(e->text[i], sizeof e->text[i], s ? s : "");
        a->value_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_STRING_VALUE;
        a->string_value = e->text[i];
    }
}

void pf_arg_frames(pf_event *e, const char *const *frames, size_t n) {
    Perfetto__Protos__DebugAnnotation *a = new_arg(e, PF_A_STACK);
    if (!a)
        return;
    if (n > PF_MAX_FRAMES)
        n = PF_MAX_FRAMES;
    for (size_t i = 0; i < n; i++) {
        perfetto__protos__debug_annotation__init(&e->frames[i]);
        e->frames[i].value_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_STRING_VALUE;
        e->frames[i].string_value = (char *)frames[i];
        e->framep[i] = &e->frames[i];
    }
    a->n_array_values = n;
    a->array_values = e->framep;
}

void pf_emit_event(pf_writer *w, pf_event *e, uint64_t ns) {
    if (e->flow) {
        e->ev.n_flow_ids = 1;
        e->ev.flow_ids = &e->flow;
    }
    size_t ends = 0;
    if (e->end_flow)
        e->end_flows[ends++] = e->end_flow;
    if (e->end_flow2)
        e->end_flows[ends++] = e->end_flow2;
    if (ends) {
        e->ev.n_terminating_flow_ids = ends;
        e->ev.terminating_flow_ids = e->end_flows;
    }
    Perfetto__Protos__TracePacket p = PERFETTO__PROTOS__TRACE_PACKET__INIT;
    p.has_timestamp = 1;
    p.timestamp = ns;
    p.has_sequence_flags = 1;
    p.sequence_flags = PERFETTO__PROTOS__TRACE_PACKET__SEQUENCE_FLAGS__SEQ_NEEDS_INCREMENTAL_STATE;
    p.data_case = PERFETTO__PROTOS__TRACE_PACKET__DATA_TRACK_EVENT;
    p.track_event = &e->ev;
    emit_packet(w, &p);
}

void pf_emit_counter(pf_writer *w, uint64_t track, uint64_t ns, int64_t v) {
    pf_event e;
    perfetto__protos__track_event__init(&e.ev);
    e.ev.has_type = 1;
    e.ev.type = PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_COUNTER;
    e.ev.has_track_uuid = 1;
    e.ev.track_uuid = track;
    e.ev.counter_value_field_case = PERFETTO__PROTOS__TRACK_EVENT__COUNTER_VALUE_FIELD_COUNTER_VALUE;
    e.ev.counter_value = v;
    e.flow = e.end_flow = e.end_flow2 = 0;
    pf_emit_event(w, &e, ns);
}

static void emit_track(pf_writer *w, Perfetto__Protos__TrackDescriptor *d) {
    Perfetto__Protos__TracePacket p = PERFETTO__PROTOS__TRACE_PACKET__INIT;
    p.data_case = PERFETTO__PROTOS__TRACE_PACKET__DATA_TRACK_DESCRIPTOR;
    p.track_descriptor = d;
    emit_packet(w, &p);
}

void pf_describe_process(pf_writer *w, int32_t pid, const char *name) {
    char nm[256];
    utf8_copy(nm, sizeof nm, name);
    Perfetto__Protos__ProcessDescriptor pd = PERFETTO__PROTOS__PROCESS_DESCRIPTOR__INIT;
    pd.has_pid = 1;
    pd.pid = pid;
    pd.process_name = nm;
    Perfetto__Protos__TrackDescriptor d = PERFETTO__PROTOS__TRACK_DESCRIPTOR__INIT;
    d.has_uuid = 1;
    d.uuid = PF_PROCESS_UUID;
    d.process = &pd;
    emit_track(w, &d);
}

static void describe_counter(pf_writer *w, uint64_t uuid, uint64_t parent, const char *name,
                             Perfetto__Protos__CounterDescriptor__Unit unit) {
    Perfetto__Protos__CounterDescriptor cd = PERFETTO__PROTOS__COUNTER_DESCRIPTOR__INIT;
    cd.has_unit = 1;
    cd.unit = unit;
    Perfetto__Protos__TrackDescriptor d = PERFETTO__PROTOS__TRACK_DESCRIPTOR__INIT;
    d.has_uuid = 1;
    d.uuid = uuid;
    d.has_parent_uuid = 1;
    d.parent_uuid = parent;
    d.static_or_dynamic_name_case = PERFETTO__PROTOS__TRACK_DESCRIPTOR__STATIC_OR_DYNAMIC_NAME_NAME;
    d.name = (char *)name;
    d.counter = &cd;
    emit_track(w, &d);
}

/* A loop with a known thread gets a thread track (the UI groups it with
 * the process); one whose thread is unknown a plain named track. */
void pf_describe_loop(pf_writer *w, uint64_t loop, int32_t pid, uint32_t tid) {
    char name[64];
    snprintf(name, sizeof name, "loop %" PRIu64, loop);
    Perfetto__Protos__ThreadDescriptor td = PERFETTO__PROTOS__THREAD_DESCRIPTOR__INIT;
    Perfetto__Protos__TrackDescriptor d = PERFETTO__PROTOS__TRACK_DESCRIPTOR__INIT;
    d.has_uuid = 1;
    d.uuid = pf_loop_uuid(loop);
    if (tid) {
        td.has_pid = 1;
        td.pid = pid;
        td.has_tid = 1;
        td.tid = tid;
        td.thread_name = name;
        d.thread = &td;
    } else {
        d.has_parent_uuid = 1;
        d.parent_uuid = PF_PROCESS_UUID;
        d.static_or_dynamic_name_case =
            PERFETTO__PROTOS__TRACK_DESCRIPTOR__STATIC_OR_DYNAMIC_NAME_NAME;
        d.name = name;
    }
    emit_track(w, &d);
    char lag[80], ready[80];
    snprintf(lag, sizeof lag, "loop %" PRIu64 " lag", loop);
    snprintf(ready, sizeof ready, "loop %" PRIu64 " ready tasks", loop);
    describe_counter(w, pf_lag_uuid(loop), PF_PROCESS_UUID, lag,
                     PERFETTO__PROTOS__COUNTER_DESCRIPTOR__UNIT__UNIT_TIME_NS);
    describe_counter(w, pf_ready_uuid(loop), PF_PROCESS_UUID, ready,
                     PERFETTO__PROTOS__COUNTER_DESCRIPTOR__UNIT__UNIT_COUNT);
}

void pf_describe_task(pf_writer *w, uint64_t task, const char *name, const char *site) {
    char label[300], desc[300];
    char safe[256];
    utf8_copy(safe, sizeof safe, name);
    snprintf(label, sizeof label, "#%" PRIu64 " %s", task, safe);
    utf8_copy(desc, sizeof desc, site ? site : "");
    Perfetto__Protos__TrackDescriptor d = PERFETTO__PROTOS__TRACK_DESCRIPTOR__INIT;
    d.has_uuid = 1;
    d.uuid = pf_task_uuid(task);
    d.has_parent_uuid = 1;
    d.parent_uuid = PF_PROCESS_UUID;
    d.static_or_dynamic_name_case = PERFETTO__PROTOS__TRACK_DESCRIPTOR__STATIC_OR_DYNAMIC_NAME_NAME;
    d.name = label;
    if (desc[0] && strcmp(desc, "-"))
        d.description = desc;
    emit_track(w, &d);
}
