#!/usr/bin/env python3
"""test_export_perfetto.py - `export --format perfetto` (issue 18 point 1).

Records real programs (the gather and producer_consumer examples,
prog_block, which blocks its loop, and prog_hostile, whose task names are
escape sequences and invalid UTF-8), exports each, and decodes the file
with `protoc --decode=perfetto.protos.Trace` against both the vendored
subset and the full upstream perfetto_trace.proto; the two decodings must
be identical (the subset keeps upstream numbering, and the file uses no
field the subset lacks).  Then the structure: every task of the recording
has its track, under the process track, described before use; every event
names a described track; slices begin and end in pairs; timestamps never
go back on a track; every flow that ends was started; the loop's counter
tracks carry values; the blocked episode is a slice on the loop thread's
track with its stack as an annotation.  Finally the export replaces its
own earlier output but not another file (the safe-output rules).
"""
import os
import sys
from collections import defaultdict

from tracer_util import (Checker, CheckFailed, expect, example, prog, record, rows,
                         taskscope)
from export_pb import PERFETTO_SUBSET, decode, one, parse, upstream_perfetto

PROCESS_UUID = 7
BEGIN, END, INSTANT, COUNTER = ("TYPE_SLICE_BEGIN", "TYPE_SLICE_END", "TYPE_INSTANT",
                                "TYPE_COUNTER")


def recorded(c, argv, name):
    path = c.path(name + ".db")
    if not os.path.exists(path):
        p = record(path, argv)
        expect(p.returncode == 0, "taskscope run %s: exit %d: %s" % (name, p.returncode, p.stderr))
    return path


def export(c, path, name):
    out = c.path(name + ".pftrace")
    p = taskscope("export", "--format", "perfetto", path, "-o", out, expect_rc=0)
    expect(p.stdout == "", "export wrote to stdout")
    with open(out, "rb") as f:
        data = f.read()
    sub = decode(data, PERFETTO_SUBSET, "perfetto.protos.Trace")
    up = decode(data, upstream_perfetto(), "perfetto.protos.Trace")
    expect(sub == up, "%s: the subset and upstream perfetto_trace.proto decode differently"
           % name)
    expect("\n  1: " not in up and not up.startswith("1:"),
           "%s: fields unknown to the upstream schema" % name)
    return parse(up)["packet"]


def structure(packets, path, what):
    """Check the trace's structure; returns (tracks, events per track)."""
    first = packets[0]
    expect(one(first, "sequence_flags") == 1 and one(first, "interned_data"),
           "%s: the first packet does not clear the state and intern names" % what)
    names = {one(n, "iid"): one(n, "name")
             for n in one(first, "interned_data")["event_names"]}
    anames = {one(n, "iid"): one(n, "name")
              for n in one(first, "interned_data")["debug_annotation_names"]}
    tracks = {}
    per_track = defaultdict(list)
    depth = defaultdict(int)
    last = {}
    flows = set()
    for p in packets:
        expect(one(p, "trusted_packet_sequence_id") == 1, "%s: packet off sequence 1" % what)
        d = one(p, "track_descriptor")
        if d:
            tracks[one(d, "uuid")] = d
            continue
        e = one(p, "track_event")
        if not e:
            continue
        ts = one(p, "timestamp")
        uuid = one(e, "track_uuid")
        expect(uuid in tracks, "%s: event on track %r before its descriptor" % (what, uuid))
        expect(ts is not None and ts >= last.get(uuid, 0),
               "%s: time goes back on track %r: %r after %r" % (what, uuid, ts, last.get(uuid)))
        last[uuid] = ts
        typ = one(e, "type")
        if typ == BEGIN:
            depth[uuid] += 1
        elif typ == END:
            depth[uuid] -= 1
            expect(depth[uuid] >= 0, "%s: slice end without begin on %r" % (what, uuid))
        for f in e.get("flow_ids", []):
            flows.add(f)
        for f in e.get("terminating_flow_ids", []):
            expect(f in flows, "%s: flow %r ends before it starts" % (what, f))
        ev = dict(e)
        ev["ts"] = ts
        ev["name_text"] = names.get(one(e, "name_iid")) or one(e, "name")
        ev["args"] = {anames.get(one(a, "name_iid")): a for a in e.get("debug_annotations", [])}
        per_track[uuid].append(ev)
    for uuid, n in depth.items():
        expect(n == 0, "%s: %d slices left open on track %r" % (what, n, uuid))
    proc = tracks.get(PROCESS_UUID)
    expect(proc and one(proc, "process"), "%s: no process track" % what)
    # Every task of the recording: a track "#id name" under the process.
    for (tid,) in rows(path, "SELECT id FROM tasks"):
        d = tracks.get(tid << 3 | 1)
        expect(d, "%s: task #%d has no track" % (what, tid))
        expect(one(d, "parent_uuid") == PROCESS_UUID, "%s: task #%d not under the process"
               % (what, tid))
        expect(one(d, "name").startswith("#%d " % tid), "%s: track name %r" % (what, one(d, "name")))
        evs = per_track[tid << 3 | 1]
        expect(any(e["name_text"] == "created" for e in evs), "%s: #%d not created" % (what, tid))
    return tracks, per_track


def examples(c, name):
    path = recorded(c, [example(name)], name)
    packets = export(c, path, name)
    tracks, per_track = structure(packets, path, name)
    runs = [e for evs in per_track.values() for e in evs if e["name_text"] == "run"]
    expect(runs, "%s: no run slices" % name)
    ends = sum(len(e.get("terminating_flow_ids", [])) for e in runs)
    expect(ends > 0, "%s: no spawn or wake flow reaches a run slice" % name)
    counters = [u for u, d in tracks.items() if one(d, "counter")]
    expect(len(counters) >= 2, "%s: no counter tracks (lag, ready)" % name)
    values = [e for u in counters for e in per_track[u] if one(e, "type") == COUNTER]
    expect(values, "%s: counter tracks are empty" % name)
    awaits = [e for evs in per_track.values() for e in evs
              if (e["name_text"] or "").startswith("await ")]
    expect(awaits, "%s: no await slices" % name)


def blocked(c):
    path = recorded(c, [prog("prog_block")], "block")
    packets = export(c, path, "block")
    tracks, per_track = structure(packets, path, "prog_block")
    loops = [u for u, d in tracks.items() if one(d, "thread")]
    expect(loops, "prog_block: no loop thread track")
    sl = [e for u in loops for e in per_track[u] if (e["name_text"] or "").startswith("BLOCKED")]
    expect(sl, "prog_block: no BLOCKED slice on the loop thread's track")
    # the stack is on the slice's begin, or (walked after the report) on
    # its end: Perfetto merges an end's annotations into the slice
    track = next(u for u in loops if sl[0] in per_track[u])
    evs = per_track[track]
    i = evs.index(sl[0])
    end = next((e for e in evs[i + 1:] if one(e, "type") == END), {"args": {}})
    stack = sl[0]["args"].get("stack") or end["args"].get("stack")
    expect(stack and stack.get("array_values"), "prog_block: the blocked slice has no stack")
    frames = [one(f, "string_value") for f in stack["array_values"]]
    symbolized = any(".c:" in f for f in frames)   # built with libdw
    expect(all(frames) and (not symbolized or any("freeze_the_loop" in f for f in frames)),
           "prog_block: stack frames %r" % frames)


def hostile(c):
    path = recorded(c, [prog("prog_hostile")], "hostile")
    packets = export(c, path, "hostile")
    structure(packets, path, "prog_hostile")


def safe_output(c):
    path = recorded(c, [example("gather")], "gather")
    out = c.path("again.pftrace")
    taskscope("export", "--format", "perfetto", path, "-o", out, expect_rc=0)
    taskscope("export", "--format", "perfetto", path, "-o", out, expect_rc=0)  # its own: replaced
    notes = c.path("notes.bin")
    with open(notes, "wb") as f:
        f.write(b"\x0a\x05hello")
    p = taskscope("export", "--format", "perfetto", path, "-o", notes)
    expect(p.returncode == 2, "export over a file that is not an export: exit %d" % p.returncode)
    expect(open(notes, "rb").read() == b"\x0a\x05hello", "notes.bin changed")


def main():
    c = Checker("export_perfetto")
    c.check(examples, "gather")
    c.check(examples, "producer_consumer")
    c.check(blocked)
    c.check(hostile)
    c.check(safe_output)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
