"""export_pb.py - decoding exported protobuf files for the export tests.

Every exported file is decoded with the real schema by `protoc --decode`
(protobuf-compiler), never by a parser of our own: the upstream .proto
files vendored in third_party/, and for Perfetto also the full upstream
perfetto_trace.proto (export_data/perfetto_trace.proto.gz, copied from
google/perfetto for this check only).  protoc's text output is then read
into nested dicts: each field is a list of values (repeated or not), each
message a dict.
"""
import atexit
import codecs
import gzip
import os
import shutil
import subprocess
import tempfile

from tracer_util import CheckFailed, SOURCE_ROOT, expect

PROTOC = os.environ.get("TS_PROTOC", shutil.which("protoc") or "protoc")
THIRD = os.path.join(SOURCE_ROOT, "third_party")
PERFETTO_SUBSET = ("perfetto", "protos/perfetto/trace/taskscope_subset.proto")
OTLP_SERVICE = ("opentelemetry-proto",
                "opentelemetry/proto/collector/trace/v1/trace_service.proto")
OTLP_TYPE = "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest"
_upstream_dir = None


def upstream_perfetto():
    """The full upstream perfetto_trace.proto, unpacked once: (dir, file)."""
    global _upstream_dir
    if _upstream_dir is None:
        _upstream_dir = tempfile.mkdtemp(prefix="perfetto-proto-")
        # one per test process, left behind by every run until removed here
        atexit.register(shutil.rmtree, _upstream_dir, ignore_errors=True)
        src = os.path.join(SOURCE_ROOT, "tests/tracer/export_data/perfetto_trace.proto.gz")
        with gzip.open(src, "rb") as f, \
                open(os.path.join(_upstream_dir, "perfetto_trace.proto"), "wb") as g:
            g.write(f.read())
    return (_upstream_dir, "perfetto_trace.proto")


def decode(data, schema, msg_type):
    """protoc --decode; returns the text form, or fails the check."""
    root, proto = schema
    if not os.path.isabs(root):
        root = os.path.join(THIRD, root)
    p = subprocess.run([PROTOC, "--proto_path=" + root, "--decode=" + msg_type, proto],
                       input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    expect(p.returncode == 0, "protoc --decode=%s with %s refused it: %s"
           % (msg_type, proto, p.stderr.decode(errors="replace")[:500]))
    return p.stdout.decode("utf-8")


def _value(v):
    if v.startswith('"'):
        raw = codecs.escape_decode(v[1:-1].encode("utf-8"))[0]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw   # a bytes field (trace and span ids)
    if v in ("true", "false"):
        return v == "true"
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v   # an enum name


def parse(text):
    """protoc's text format into {field: [values]}; messages are dicts."""
    root = {}
    stack = [root]
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line == "}":
            stack.pop()
        elif line.endswith("{"):
            child = {}
            stack[-1].setdefault(line[:-1].strip(), []).append(child)
            stack.append(child)
        else:
            key, _, v = line.partition(": ")
            stack[-1].setdefault(key, []).append(_value(v))
    if len(stack) != 1:
        raise CheckFailed("unbalanced protoc output")
    return root


def one(msg, field, default=None):
    v = msg.get(field)
    return v[0] if v else default
