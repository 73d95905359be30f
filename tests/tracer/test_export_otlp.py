#!/usr/bin/env python3
"""test_export_otlp.py - `export --format otlp` (issue 18 point 2).

Records real programs and checks, decoding with `protoc --decode` against
the upstream OTLP .proto files (third_party/opentelemetry-proto):
  - the protobuf file: one span per task of the recording, each parent
    link the spawning task's span in the same trace, times in order,
    status from the outcome, the blocked step as a span event, resource
    attributes (service.name from --service, process.pid, host.name);
  - --json: valid JSON (python's parser), one request per line, the same
    spans as the protobuf file, ids as hex;
  - --endpoint: against a local HTTP server (http.server, in this
    process) that decodes each POST with protoc: every span arrives, in
    batches; a 503 is retried; a 400 and a closed port end with exit 1
    and a message naming the collector; https:// is refused.
"""
import http.server
import json
import os
import socket
import sys
import threading

from tracer_util import Checker, expect, example, prog, record, rows, taskscope
from export_pb import OTLP_SERVICE, OTLP_TYPE, decode, one, parse

STATUS_OK, STATUS_ERROR = "STATUS_CODE_OK", "STATUS_CODE_ERROR"


def recorded(c, argv, name):
    path = c.path(name + ".db")
    if not os.path.exists(path):
        p = record(path, argv)
        expect(p.returncode == 0, "taskscope run %s: exit %d: %s" % (name, p.returncode, p.stderr))
    return path


def attrs(msg):
    out = {}
    for a in msg.get("attributes", []):
        v = one(a, "value")
        out[one(a, "key")] = one(v, "string_value", one(v, "int_value"))
    return out


def spans_of(requests):
    res, spans = [], []
    for req in requests:
        for rs in req.get("resource_spans", []):
            res.append(attrs(one(rs, "resource")))
            for ss in rs.get("scope_spans", []):
                spans.extend(ss.get("spans", []))
    return res, spans


def check_spans(path, spans, what):
    """One span per task; parents link within the trace; outcomes."""
    tasks = {r[0]: r for r in rows(path, "SELECT id, parent, state FROM tasks")}
    by_task = {}
    for s in spans:
        a = attrs(s)
        tid = a["taskscope.task.id"]
        expect(tid not in by_task, "%s: two spans for task #%d" % (what, tid))
        by_task[tid] = s
        expect(one(s, "end_time_unix_nano") >= one(s, "start_time_unix_nano"),
               "%s: span of #%d ends before it starts" % (what, tid))
        expect(one(s, "start_time_unix_nano") > 1_500_000_000 * 10**9,
               "%s: start time is not Unix time: %r" % (what, one(s, "start_time_unix_nano")))
    expect(set(by_task) == set(tasks), "%s: tasks %s but spans for %s"
           % (what, sorted(tasks), sorted(by_task)))
    for tid, (_, parent, state) in tasks.items():
        s = by_task[tid]
        if parent:
            p = by_task.get(parent)
            expect(p, "%s: #%d's parent #%d has no span" % (what, tid, parent))
            expect(one(s, "parent_span_id") == one(p, "span_id"),
                   "%s: #%d's parent_span_id is not #%d's span" % (what, tid, parent))
            expect(one(s, "trace_id") == one(p, "trace_id"),
                   "%s: #%d is not in its parent's trace" % (what, tid))
        else:
            expect(not one(s, "parent_span_id"), "%s: root #%d has a parent" % (what, tid))
        code = one(one(s, "status", {}), "code", "STATUS_CODE_UNSET")
        want = {"done": STATUS_OK, "failed": STATUS_ERROR, "cancelled": STATUS_ERROR}.get(state)
        if want:
            expect(code == want, "%s: #%d %s has status %s" % (what, tid, state, code))
    return by_task


def protobuf_file(c):
    path = recorded(c, [example("producer_consumer")], "pc")
    out = c.path("pc.otlp")
    taskscope("export", "--format", "otlp", "--service", "shop", path, "-o", out, expect_rc=0)
    with open(out, "rb") as f:
        req = parse(decode(f.read(), OTLP_SERVICE, OTLP_TYPE))
    res, spans = spans_of([req])
    expect(res and all(r["service.name"] == "shop" for r in res), "service.name %r" % res[:1])
    expect(all("process.pid" in r and "host.name" in r for r in res), "resource %r" % res[:1])
    expect(all(r.get("taskscope.clock") != "estimated" for r in res),
           "a new recording's clock offset was not used: %r" % res[:1])
    check_spans(path, spans, "producer_consumer")
    awaits = [e for s in spans for e in s.get("events", []) if one(e, "name") == "await"]
    expect(awaits, "producer_consumer: no await span events")


def blocked(c):
    path = recorded(c, [prog("prog_block")], "block")
    out = c.path("block.otlp")
    taskscope("export", "--format", "otlp", path, "-o", out, expect_rc=0)
    with open(out, "rb") as f:
        _, spans = spans_of([parse(decode(f.read(), OTLP_SERVICE, OTLP_TYPE))])
    by_task = check_spans(path, spans, "prog_block")
    ev = [e for s in spans for e in s.get("events", []) if one(e, "name") == "blocked the loop"]
    expect(ev, "prog_block: no 'blocked the loop' span event")
    a = attrs(ev[0])
    expect(a.get("taskscope.duration_ns", 0) >= 250_000_000, "blocked event %r" % a)
    expect("code.stacktrace" in a, "blocked event without a stack: %r" % a)
    del by_task


def json_file(c):
    path = recorded(c, [prog("prog_hostile")], "hostile")
    out, pb = c.path("hostile.otlp.json"), c.path("hostile.otlp")
    taskscope("export", "--format", "otlp", "--json", path, "-o", out, expect_rc=0)
    taskscope("export", "--format", "otlp", path, "-o", pb, expect_rc=0)
    with open(out, "rb") as f:
        lines = f.read().split(b"\n")
    expect(lines[-1] == b"", "OTLP/JSON does not end with a newline")
    docs = []
    for ln in lines[:-1]:
        try:
            docs.append(json.loads(ln.decode("utf-8")))
        except ValueError as e:
            raise AssertionError("OTLP/JSON line is not valid JSON: %s" % e)
    spans = [s for d in docs for rs in d["resourceSpans"] for ss in rs["scopeSpans"]
             for s in ss["spans"]]
    with open(pb, "rb") as f:
        _, pspans = spans_of([parse(decode(f.read(), OTLP_SERVICE, OTLP_TYPE))])
    check_spans(path, pspans, "prog_hostile")
    expect(len(spans) == len(pspans), "JSON has %d spans, protobuf %d" % (len(spans), len(pspans)))
    for s, p in zip(spans, pspans):
        expect(len(s["traceId"]) == 32 and len(s["spanId"]) == 16, "ids %r" % s)
        expect(s["name"] == one(p, "name"), "names differ: %r %r" % (s["name"], one(p, "name")))
        expect(s["startTimeUnixNano"] == str(one(p, "start_time_unix_nano")), "start times")


class Collector(http.server.BaseHTTPRequestHandler):
    """A local OTLP/HTTP endpoint: decodes each POST with protoc."""
    script = []       # status codes to answer, in order (then 200)
    requests = []
    paths = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Collector.paths.append((self.path, self.headers["Content-Type"]))
        code = Collector.script.pop(0) if Collector.script else 200
        if code == 200:
            Collector.requests.append(parse(decode(body, OTLP_SERVICE, OTLP_TYPE)))
        self.send_response(code)
        self.send_header("Content-Type", "application/x-protobuf")
        reply = b"" if code == 200 else b"bad \x1b[31m request"
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *a):
        pass


def endpoint(c):
    path = recorded(c, [prog("prog_many"), "1500"], "many")
    n = rows(path, "SELECT count(*) FROM tasks")[0][0]
    expect(n > 512, "prog_many has only %d tasks: no batching to see" % n)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    url = "http://127.0.0.1:%d" % srv.server_address[1]
    try:
        Collector.script, Collector.requests, Collector.paths = [503], [], []
        p = taskscope("export", "--format", "otlp", "--endpoint", url, path, expect_rc=0)
        _, spans = spans_of(Collector.requests)
        check_spans(path, spans, "prog_many via OTLP/HTTP")
        expect(len(Collector.requests) >= 2, "%d spans in %d request(s): no batching"
               % (len(spans), len(Collector.requests)))
        expect(all(pth == ("/v1/traces", "application/x-protobuf") for pth in Collector.paths),
               "requests went to %r" % Collector.paths[:2])
        expect("1 retries" in p.stderr and "%d spans sent" % n in p.stderr,
               "summary %r" % p.stderr)
        # A collector that refuses: exit 1, its status and words (escaped).
        Collector.script, Collector.requests = [200, 400], []
        p = taskscope("export", "--format", "otlp", "--endpoint", url + "/v1/traces", path)
        expect(p.returncode == 1, "refused: exit %d" % p.returncode)
        expect("HTTP 400" in p.stderr and url in p.stderr and "\x1b" not in p.stderr,
               "refused: %r" % p.stderr)
        sent = sum(len(s) for s in [spans_of(Collector.requests)[1]])
        expect("%d spans in 1 requests were accepted" % sent in p.stderr, "%r" % p.stderr)
    finally:
        srv.shutdown()
        srv.server_close()
    # Nobody listening: retried, then a clear error.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = taskscope("export", "--format", "otlp", "--endpoint", "http://127.0.0.1:%d" % port, path)
    expect(p.returncode == 1 and "cannot connect" in p.stderr and "gave up after" in p.stderr,
           "closed port: exit %d %r" % (p.returncode, p.stderr))
    p = taskscope("export", "--format", "otlp", "--endpoint", "https://127.0.0.1:1", path)
    expect(p.returncode == 2 and "https is not supported" in p.stderr, "https: %r" % p.stderr)


def main():
    c = Checker("export_otlp")
    c.check(protobuf_file)
    c.check(blocked)
    c.check(json_file)
    c.check(endpoint)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
