"""tests/tmpdir.py - where the Python tests' tmux servers put their sockets
(the C tests' counterpart is tests/tmpdir.h).

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
