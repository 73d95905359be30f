#!/usr/bin/env python3
"""pg_example.py - run the pg_client example against a PostgreSQL server of
its own.

usage: pg_example.py CHECKER EXECUTABLE SOURCE

Creates a cluster with initdb in a temporary directory, starts it with
pg_ctl on a free port of 127.0.0.1 (its socket directory inside the
temporary directory too), runs CHECKER (check_examples.py) on pg_client
with TASKSCOPE_PG_CONNINFO pointing at it, then stops the server and
removes the directory, whatever happened.  PostgreSQL refuses to run as
root, so as root the server runs as the 'postgres' user (runuser; setpriv
under a $TMPDIR closed to other users).
Exits 77 (meson's "skipped") with the reason when the PostgreSQL server
binaries, or a user to run them as, are missing.
"""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # importing tmpdir must not write into the source tree
from tmpdir import open_to_others  # noqa: E402  (this script's directory)

SKIP = 77


def server_bindir():
    """The newest /usr/lib/postgresql/N/bin holding initdb, pg_ctl and postgres."""
    found = []
    for d in glob.glob("/usr/lib/postgresql/*/bin"):
        if all(os.access(os.path.join(d, b), os.X_OK)
               for b in ("initdb", "pg_ctl", "postgres")):
            try:
                found.append((int(d.split("/")[-2]), d))
            except ValueError:
                pass
    return max(found)[1] if found else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    checker, exe, source = argv[1:]
    bindir = server_bindir()
    if not bindir:
        print("skipped: no PostgreSQL server in /usr/lib/postgresql/*/bin "
              "(install the 'postgresql' package)")
        return SKIP
    as_user = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            print("skipped: running as root and there is no 'postgres' user "
                  "to run the server as")
            return SKIP
        as_user = ["runuser", "-u", "postgres", "--"]

    tmp = tempfile.mkdtemp(prefix="taskscope-pg-")
    data = os.path.join(tmp, "data")
    log = os.path.join(tmp, "server.log")
    if owner:
        os.chown(tmp, owner.pw_uid, owner.pw_gid)
        if not open_to_others(tmp):
            # $TMPDIR is private (mode 0700, say): postgres could not pass
            # it.  It runs with the one capability to pass (and read)
            # other directories, and writes only in its own.
            as_user = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups",
                       "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", "--"]
    port = free_port()
    pg_ctl = as_user + [os.path.join(bindir, "pg_ctl"), "-D", data]
    started = False
    try:
        subprocess.run(as_user + [os.path.join(bindir, "initdb"), "-D", data,
                                  "-U", "postgres", "-A", "trust", "--no-sync",
                                  "--no-locale", "-E", "UTF8"],
                       check=True, stdout=subprocess.DEVNULL, cwd=tmp)
        opts = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off"
                % (port, tmp))
        subprocess.run(pg_ctl + ["-o", opts, "-l", log, "-w", "-t", "60",
                                 "start"],
                       check=True, stdout=subprocess.DEVNULL, cwd=tmp)
        started = True
        env = dict(os.environ)
        env["TASKSCOPE_PG_CONNINFO"] = (
            "hostaddr=127.0.0.1 port=%d user=postgres dbname=postgres "
            "connect_timeout=30" % port)
        return subprocess.run([sys.executable, checker, "pg_client", exe,
                               source], env=env).returncode
    except subprocess.CalledProcessError as e:
        print("FAIL pg_client: could not start the server: %s" % e)
        if os.path.exists(log):
            with open(log, errors="replace") as f:
                sys.stdout.write(f.read())
        return 1
    finally:
        if started:
            subprocess.run(pg_ctl + ["-m", "immediate", "-w", "stop"],
                           stdout=subprocess.DEVNULL, cwd=tmp)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
