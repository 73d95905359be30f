"""tests/tmpdir.py - the Python tests' side of tests/tmpdir.h: where their
tmux servers put their sockets, and whether other users can reach $TMPDIR.

Also open_to_others(), for the tests that run a program as another user
(nobody, postgres) on files under $TMPDIR, which may be private (mode
0700, as `mktemp -d` makes it).

`tmux -L NAME` puts the server's socket in /tmp/tmux-UID/ whatever
$TMPDIR says, and leaves it there after kill-server: every run of a
tmux-driven test added one to /tmp.  These tests run `tmux -S PATH`
instead, PATH from tmux_socket(), and remove_socket(PATH) once the
server is killed.  Everything else goes through tempfile, which already
honours $TMPDIR.
"""
import os
import tempfile


def tmux_socket(name):
    """$TMPDIR/NAME-PID (/tmp when TMPDIR is unset).  A socket's path must
    fit sockaddr_un's sun_path (108 bytes, its NUL included): under a
    $TMPDIR too long for that, the socket goes in /tmp, the one short
    directory every system has, rather than tmux failing to start."""
    base = "%s-%d" % (name, os.getpid())
    path = os.path.join(tempfile.gettempdir(), base)
    return path if len(path.encode()) < 108 else os.path.join("/tmp", base)


def remove_socket(path):
    """Remove a killed tmux server's socket (tmux leaves it behind)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def open_to_others(path):
    """Whether every directory above path lets other users through."""
    d = os.path.dirname(os.path.abspath(path))
    while True:
        if not os.stat(d).st_mode & 0o001:
            return False
        if d == "/":
            return True
        d = os.path.dirname(d)
