/*
 * server.c - where streams get their connections: servers
 * (asyncio.start_server) and client connections (asyncio.open_connection),
 * stream.h.
 *
 * A server has one listening socket per address and, for each, an accept
 * task; every accepted connection gets a stream and a handler task.  All
 * cleanup runs from done-watches on those tasks, never from the tasks'
 * own code, because a task cancelled before its first step (as happens to
 * every task at loop shutdown) never runs its function: the watch is the
 * one place that sees every ending.
 *
 * Invariants:
 *   - refs = the handle + one per accept task still unfinished + one per
 *     connection still being served; the memory goes with the last.
 *   - A listening fd is closed only by its accept task's watch, so it is
 *     never closed under a task parked on it.
 *   - An accepted fd belongs to its stream from the moment the stream
 *     exists; before that, every failure path closes it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net_impl.h"

struct listener {
    ts_server *srv;
    int fd;
    bool tcp;
    ts_task *task;              /* the accept task, NULL once finished */
    ts__done_watch watch;
};

struct conn {
    ts__node node;              /* on srv->conns */
    ts_server *srv;
    ts_stream *stream;
    bool handler_done;          /* the stream is being closed, handle gone */
    ts__done_watch watch;
};

struct ts_server {
    ts__obj obj;                /* first: no loop; creation site, live/freed */
    ts_stream_handler handler;
    void *arg;
    ts_server_opts opts;
    struct listener *ls;
    size_t nls;
    size_t naccepting;          /* accept tasks not finished */
    ts__node conns;
    size_t nconns;
    bool closed;
    bool handle_gone;
    int refs;
    ts__node closed_waiters;    /* wait_closed */
    ts__waiter *forever;        /* serve_forever's waiter, if any */
};

static void server_unref(ts_server *srv) {
    if (--srv->refs > 0)
        return;
    free(srv->ls);
    ts__obj_free(&srv->obj, srv->obj.freed);
}

/* 0 if the handle is live; else TS_EFREED, reported (objcheck.c).
 * Liveness only, as for a stream. */
static int server_check(const ts_server *srv, const char *what, const ts_site *site) {
    return srv->obj.magic == TS__OBJ_LIVE ? 0 : ts__obj_misuse(&srv->obj, what, site);
}

static void server_close(ts_server *srv);

static void check_closed(ts_server *srv) {
    if (!srv->closed || srv->naccepting > 0 || srv->nconns > 0)
        return;
    ts__node *n;
    while ((n = ts__list_first(&srv->closed_waiters)))
        ts__wake(ts__container_of(n, ts__waiter, node)->task, 0);
}

/* ---- client connections -------------------------------------------------------- */

/* The stream takes the fd; if it cannot be made, the fd is closed. */
static int wrap_fd(int fd, ts_stream **out) {
    int err = ts__stream_wrap(fd, true, out);
    if (err)
        close(fd);
    return err;
}

int ts_open_connection_at(const char *host, const char *port, ts_stream **out,
                          const ts_site *site) {
    int fd;
    int err = ts_tcp_connect_at(host, port, &fd, site);
    return err ? err : wrap_fd(fd, out);
}

int ts_open_unix_connection_at(const char *path, ts_stream **out,
                               const ts_site *site) {
    int fd;
    int err = ts_unix_connect_at(path, &fd, site);
    return err ? err : wrap_fd(fd, out);
}

/* ---- served connections ---------------------------------------------------------- */

static void *conn_main(void *arg) {
    struct conn *c = arg;
    int err = c->srv->handler(c->stream, c->srv->arg);
    if (err < 0)
        return ts_fail(err, err == -ECANCELED ? NULL : "connection handler failed");
    return NULL;
}

/* The connection's descriptor is closed: it is no longer being served. */
static void conn_closed(void *arg) {
    struct conn *c = arg;
    ts_server *srv = c->srv;
    ts__list_remove(&c->node);
    srv->nconns--;
    free(c);
    check_closed(srv);
    server_unref(srv);
}

/* The handler has returned: close its stream gracefully (what it wrote is
 * still sent); the connection counts until the descriptor is closed. */
static void conn_done(ts__done_watch *w, ts_task *t) {
    (void)t;
    struct conn *c = ts__container_of(w, struct conn, watch);
    ts_stream *s = c->stream;
    c->handler_done = true;
    ts__stream_on_closed(s, conn_closed, c);
    ts_stream_free(s);
}

static void start_conn(ts_server *srv, int fd, bool tcp) {
    static const ts_site site = {__FILE__, "ts_server accept", __LINE__};
    if (tcp)
        ts__set_nodelay(fd);
    struct conn *c = calloc(1, sizeof *c);
    if (!c || ts__stream_wrap(fd, true, &c->stream) < 0) {
        free(c);
        close(fd);
        return;
    }
    c->srv = srv;
    ts_spawn_opts o = {.stack_size = srv->opts.stack_size};
    ts_task *t = ts_spawn_at(&o, conn_main, c, "ts_server handler", &site);
    if (!t) {
        ts_stream_free(c->stream);
        free(c);
        return;
    }
    ts__list_push_back(&srv->conns, &c->node);
    srv->nconns++;
    srv->refs++;
    c->watch.fn = conn_done;
    ts__task_watch(t, &c->watch);
    ts_task_detach(t);
}

/* ---- accepting --------------------------------------------------------------- */

static bool out_of_resources(int err) {
    return err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM;
}

static void *accept_main(void *arg) {
    struct listener *l = arg;
    static const ts_site site = {__FILE__, "ts_server accept", __LINE__};
    while (!l->srv->closed) {
        int fd = ts_sock_accept_at(l->fd, NULL, NULL, &site);
        if (fd >= 0 && l->srv->closed) {
            /* On io_uring an accept can complete before the cancellation
             * reaches it: the server had not taken the connection up when
             * it closed, so it is dropped, as asyncio drops a transport
             * that cannot attach to a closed server. */
            close(fd);
            break;
        } else if (fd >= 0) {
            start_conn(l->srv, fd, l->tcp);
        } else if (out_of_resources(fd)) {
            /* Out of descriptors or memory: the pending connection stays in
             * the backlog; try again once some may have been freed
             * (asyncio waits likewise). */
            if (ts_sleep_at(0.1, &site) < 0)
                break;
        } else {
            break; /* cancelled (the server closes), or the socket broke */
        }
    }
    return NULL;
}

static void accept_done(ts__done_watch *w, ts_task *t) {
    (void)t;
    struct listener *l = ts__container_of(w, struct listener, watch);
    ts_server *srv = l->srv;
    close(l->fd);
    l->fd = -1;
    l->task = NULL;
    srv->naccepting--;
    if (!srv->closed)
        server_close(srv); /* the socket broke: the server cannot go on */
    check_closed(srv);
    server_unref(srv);
}

/* Make the server from listening fds (taken over, closed on failure). */
static int server_make(ts_stream_handler handler, void *arg, const int *fds,
                       const bool *tcp, size_t n, const ts_server_opts *opts,
                       ts_server **out, const ts_site *created) {
    static const ts_site site = {__FILE__, "ts_start_server", __LINE__};
    if (n == 0)
        return -EADDRNOTAVAIL;
    ts_server *srv = calloc(1, sizeof *srv);
    struct listener *ls = calloc(n, sizeof *ls);
    if (!srv || !ls) {
        free(srv);
        free(ls);
        for (size_t i = 0; i < n; i++)
            close(fds[i]);
        return -ENOMEM;
    }
    ts__obj_init(&srv->obj, NULL, "ts_server", created);
    srv->handler = handler;
    srv->arg = arg;
    if (opts)
        srv->opts = *opts;
    srv->ls = ls;
    srv->nls = n;
    srv->refs = 1;
    ts__list_init(&srv->conns);
    ts__list_init(&srv->closed_waiters);
    int err = 0;
    for (size_t i = 0; i < n; i++) {
        struct listener *l = &ls[i];
        l->srv = srv;
        l->fd = fds[i];
        l->tcp = tcp[i];
        l->task = err ? NULL : ts_spawn_at(NULL, accept_main, l, "ts_server accept", &site);
        if (!l->task) {
            err = -ENOMEM;
            continue; /* closed by ts_server_free below */
        }
        srv->naccepting++;
        srv->refs++;
        l->watch.fn = accept_done;
        ts__task_watch(l->task, &l->watch);
        ts_task_detach(l->task);
    }
    if (err) {
        ts_server_free(srv);
        return err;
    }
    *out = srv;
    return 0;
}

#define MAX_LISTENERS 16

int ts_start_server_at(ts_stream_handler handler, void *arg, const char *host,
                       const char *port, const ts_server_opts *opts,
                       ts_server **out, const ts_site *site) {
    if (!handler || !out)
        return -EINVAL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *res;
    int err = ts_getaddrinfo_at(host, port, &hints, &res, site);
    if (err)
        return err;
    int fds[MAX_LISTENERS];
    bool tcp[MAX_LISTENERS];
    size_t n = 0;
    for (struct addrinfo *ai = res; ai && n < MAX_LISTENERS && !err; ai = ai->ai_next) {
        int fd = ts__listen_socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol,
                                   ai->ai_addr, ai->ai_addrlen,
                                   opts ? opts->backlog : 0, opts && opts->reuse_port);
        if (fd < 0) {
            err = fd;
            break;
        }
        tcp[n] = true;
        fds[n++] = fd;
    }
    freeaddrinfo(res);
    if (err) {
        while (n > 0)
            close(fds[--n]);
        return err;
    }
    return server_make(handler, arg, fds, tcp, n, opts, out, site);
}

int ts_start_unix_server(ts_stream_handler handler, void *arg, const char *path,
                         const ts_server_opts *opts, ts_server **out) {
    if (!handler || !out)
        return -EINVAL;
    if (!ts__current())
        return TS_ENOTASK;
    int fd;
    int err = ts_unix_listen(path, opts ? opts->backlog : 0, &fd);
    if (err)
        return err;
    bool tcp = false;
    return server_make(handler, arg, &fd, &tcp, 1, opts, out, NULL);
}

/* ---- closing ----------------------------------------------------------------- */

void ts_server_close(ts_server *srv) {
    if (!server_check(srv, "ts_server_close", NULL))
        server_close(srv);
}

static void server_close(ts_server *srv) {
    if (srv->closed)
        return;
    srv->closed = true;
    for (size_t i = 0; i < srv->nls; i++) {
        struct listener *l = &srv->ls[i];
        /* Stop listening now, as asyncio's close() does: the fd stays open
         * until its accept task has left it (see the invariants), but on
         * TCP shutdown ends the listen state at once (the kernel refuses
         * new connections and resets the backlog), where the backlog
         * would otherwise take them in until the cancelled task runs (a
         * turn or more, an io_uring cancel round trip on that backend).
         * Not on Unix sockets: there shutdown does not end the listen
         * state, and a pending io_uring ACCEPT on it then never completed,
         * not even when cancelled (test_start_unix_server_1 hung). */
        if (l->fd >= 0 && l->tcp)
            (void)shutdown(l->fd, SHUT_RD);
        if (l->task)
            ts_task_cancel(l->task, "server closed");
        else if (l->fd >= 0) {
            close(l->fd); /* never got an accept task */
            l->fd = -1;
        }
    }
    if (srv->forever) {
        ts__waiter *w = srv->forever;
        srv->forever = NULL;
        ts__wake(w->task, 0);
    }
    check_closed(srv);
}

/* A stream whose handler has returned is closing already and stays
 * allocated until closed (it is on the list until then), so aborting it
 * is safe and drops what it still had to send; fn may unlink and free
 * the current entry, which the list walk allows. */
static void for_each_conn(ts_server *srv, void (*fn)(ts_stream *), bool closing_too) {
    ts__list_foreach(it, &srv->conns) {
        struct conn *c = ts__container_of(it, struct conn, node);
        if (closing_too || !c->handler_done)
            fn(c->stream);
    }
}

void ts_server_close_clients(ts_server *srv) {
    if (!server_check(srv, "ts_server_close_clients", NULL))
        for_each_conn(srv, ts_stream_close, false);
}

void ts_server_abort_clients(ts_server *srv) {
    if (!server_check(srv, "ts_server_abort_clients", NULL))
        for_each_conn(srv, ts__stream_abort, true);
}

int ts_server_wait_closed_at(ts_server *srv, const ts_site *site) {
    int check = server_check(srv, "ts_server_wait_closed", site);
    if (check)
        return check;
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    int err = 0;
    srv->refs++;
    while (!srv->closed || srv->naccepting > 0 || srv->nconns > 0) {
        ts__waiter w;
        ts__waiter_init(&w, self);
        ts__list_push_back(&srv->closed_waiters, &w.node);
        err = ts__park(&w, TS_WAIT_FD, (const void *)(intptr_t)(srv->nls ? srv->ls[0].fd : -1), site);
        if (err < 0)
            break;
    }
    server_unref(srv);
    return err;
}

int ts_serve_forever_at(ts_server *srv, const ts_site *site) {
    int check = server_check(srv, "ts_serve_forever", site);
    if (check)
        return check;
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    if (srv->closed)
        return 0;
    if (srv->forever)
        return -EBUSY;
    ts__waiter w;
    ts__waiter_init(&w, self);
    /* Cleared below before w goes out of scope. */
    // cppcheck-suppress autoVariables
    srv->forever = &w;
    int fd = srv->nls > 0 ? srv->ls[0].fd : -1;
    int err = ts__park(&w, TS_WAIT_FD, (const void *)(intptr_t)fd, site);
    if (srv->forever == &w)
        srv->forever = NULL;
    if (err < 0)
        server_close(srv);
    return err;
}

/* The function behind the pre-site ABI (the header's macro calls the _at
 * form); kept for binaries built before. */
void (ts_server_free)(ts_server *srv) { ts_server_free_at(srv, NULL); }

void ts_server_free_at(ts_server *srv, const ts_site *site) {
    if (!srv || server_check(srv, "ts_server_free", site) || srv->handle_gone)
        return;
    srv->handle_gone = true;
    server_close(srv);
    /* Freed for its user from now on; the memory goes with the last
     * reference (server_unref). */
    srv->obj.magic = TS__OBJ_FREED;
    srv->obj.freed = site;
    server_unref(srv);
}

int ts_server_port(const ts_server *srv) {
    if (!ts__obj_readable(&srv->obj, "ts_server_port"))
        return TS_EFREED;
    if (srv->closed || srv->nls == 0 || srv->ls[0].fd < 0)
        return -EBADF;
    return ts_sock_port(srv->ls[0].fd);
}

int ts_server_fd(const ts_server *srv, size_t i) {
    /* None once closed (asyncio's sockets is () after close()): the fds
     * still open until their accept tasks leave are no longer the user's. */
    return ts__obj_readable(&srv->obj, "ts_server_fd") && !srv->closed && i < srv->nls
               ? srv->ls[i].fd
               : -1;
}

size_t ts_server_connections(const ts_server *srv) {
    return ts__obj_readable(&srv->obj, "ts_server_connections") ? srv->nconns : 0;
}
