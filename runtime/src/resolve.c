/*
 * resolve.c - getaddrinfo off the loop (ts_getaddrinfo).
 *
 * Numeric hosts and ports are resolved inline: getaddrinfo then neither
 * blocks nor touches the network.  Names go to the loop's default executor.
 *
 * The executor gives a cancelled awaiter no way to tell a job that will
 * never run (dropped from the queue) from one that is running or about to:
 * either way it returns -ECANCELED.  A lookup's result is an allocation, so
 * ownership cannot follow "whoever runs last" naively.  Instead every
 * lookup is a record in a process-wide registry, under reg_mu, and the
 * worker is handed only the record's id, never its address:
 *   - QUEUED: the worker, if it ever runs, finds the id and marks RUNNING;
 *     a cancelled awaiter that still sees QUEUED removes and frees the
 *     record, and a worker starting later finds nothing and returns.
 *   - RUNNING: a cancelled awaiter sets `abandoned`; the worker frees the
 *     record and its result when getaddrinfo returns.
 *   - DONE: the result is there; whoever removes the record frees it.
 * So each record and each result has exactly one owner at every moment,
 * and nothing leaks on cancellation.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "net_impl.h"

enum lookup_state { LOOKUP_QUEUED, LOOKUP_RUNNING, LOOKUP_DONE };

struct lookup {
    ts__node node;          /* on the registry */
    uint64_t id;
    enum lookup_state state;
    bool abandoned;
    char *host, *port;      /* copies: the caller may be gone */
    struct addrinfo hints;
    struct addrinfo *res;
    int gai, sys_errno;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static ts__node registry = {&registry, &registry};
static uint64_t next_id = 1;

/* getaddrinfo's EAI_* codes as the negative errno values net.h lists. */
static int gai_to_errno(int gai, int sys_errno) {
    switch (gai) {
    case 0:
        return 0;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
        return -ENXIO;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_BADFLAGS:
    case EAI_SERVICE:
        return -EINVAL;
    case EAI_FAMILY:
        return -EAFNOSUPPORT;
    case EAI_SOCKTYPE:
        return -ESOCKTNOSUPPORT;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_SYSTEM:
        return sys_errno ? -sys_errno : -EIO;
    default:
        return -EIO;
    }
}

static void lookup_free(struct lookup *lk) {
    if (lk->res)
        freeaddrinfo(lk->res);
    free(lk->host);
    free(lk->port);
    free(lk);
}

/* Under reg_mu. */
static struct lookup *find(uint64_t id) {
    ts__list_foreach(it, &registry) {
        struct lookup *lk = ts__container_of(it, struct lookup, node);
        if (lk->id == id)
            return lk;
    }
    return NULL;
}

/* On a worker thread. */
static void *lookup_job(void *arg) {
    uint64_t id = (uint64_t)(uintptr_t)arg;
    pthread_mutex_lock(&reg_mu);
    struct lookup *lk = find(id);
    if (lk)
        lk->state = LOOKUP_RUNNING;
    pthread_mutex_unlock(&reg_mu);
    if (!lk)
        return NULL; /* the awaiter gave up before we started */

    struct addrinfo *res = NULL;
    int gai = getaddrinfo(lk->host, lk->port, &lk->hints, &res);
    int sys_errno = errno;

    pthread_mutex_lock(&reg_mu);
    lk->res = res;
    lk->gai = gai;
    lk->sys_errno = sys_errno;
    lk->state = LOOKUP_DONE;
    bool orphan = lk->abandoned;
    if (orphan)
        ts__list_remove(&lk->node);
    pthread_mutex_unlock(&reg_mu);
    if (orphan)
        lookup_free(lk);
    return NULL;
}

static char *dup_or_null(const char *s, bool *oom) {
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

/* Resolve on the executor; see the ownership rules at the top. */
static int resolve_in_thread(const char *host, const char *port,
                             const struct addrinfo *hints,
                             struct addrinfo **out, const ts_site *site) {
    struct lookup *lk = calloc(1, sizeof *lk);
    if (!lk)
        return -ENOMEM;
    bool oom = false;
    lk->host = dup_or_null(host, &oom);
    lk->port = dup_or_null(port, &oom);
    lk->hints = *hints;
    if (oom) {
        lookup_free(lk);
        return -ENOMEM;
    }
    pthread_mutex_lock(&reg_mu);
    lk->id = next_id++;
    ts__list_push_back(&registry, &lk->node);
    pthread_mutex_unlock(&reg_mu);

    int err = ts_run_in_executor_at(NULL, lookup_job, (void *)(uintptr_t)lk->id,
                                    NULL, site);
    pthread_mutex_lock(&reg_mu);
    if (lk->state == LOOKUP_RUNNING) {
        lk->abandoned = true; /* the worker frees it */
        pthread_mutex_unlock(&reg_mu);
        return err ? err : -EIO;
    }
    ts__list_remove(&lk->node);
    pthread_mutex_unlock(&reg_mu);
    if (!err && lk->state == LOOKUP_DONE) {
        err = gai_to_errno(lk->gai, lk->sys_errno);
        if (!err) {
            *out = lk->res;
            lk->res = NULL;
        }
    } else if (!err) {
        err = -EIO; /* cannot happen: the job returned without running */
    }
    lookup_free(lk);
    return err;
}

static bool is_numeric_host(const char *host) {
    unsigned char buf[sizeof(struct in6_addr)];
    return !host || inet_pton(AF_INET, host, buf) == 1 ||
           inet_pton(AF_INET6, host, buf) == 1;
}

static bool is_numeric_port(const char *port) {
    if (!port)
        return true;
    if (!*port)
        return false;
    for (const char *p = port; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

int ts_getaddrinfo_at(const char *host, const char *port,
                      const struct addrinfo *hints, struct addrinfo **res,
                      const ts_site *site) {
    if (!res || (!host && !port))
        return -EINVAL;
    struct addrinfo h = {0};
    if (hints)
        h = *hints;
    h.ai_addr = NULL;
    h.ai_canonname = NULL;
    h.ai_next = NULL;
    h.ai_addrlen = 0;
    if (is_numeric_host(host) && is_numeric_port(port)) {
        h.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
        int gai = getaddrinfo(host, port, &h, res);
        return gai_to_errno(gai, errno);
    }
    if (!ts__current())
        return TS_ENOTASK;
    return resolve_in_thread(host, port, &h, res, site);
}
