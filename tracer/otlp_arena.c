/*
 * otlp_arena.c - the memory one OTLP batch is built in (export_otlp_impl.h):
 * bump allocation in 64 KiB chunks, all freed at once after the batch is
 * sent, so building a span costs no free() and a batch cannot leak.
 */
#include <stdlib.h>
#include <string.h>

#include "export_otlp_impl.h"
#include "textsafe.h"

struct otlp_chunk {
    struct otlp_chunk *next;
    _Alignas(16) unsigned char data[];
};

#define CHUNK (64 * 1024)

void *otlp_alloc(otlp_arena *a, size_t size) {
    size = (size + 15) & ~(size_t)15;
    if (!a->head || a->cap - a->used < size) {
        size_t cap = size > CHUNK ? size : CHUNK;
        struct otlp_chunk *c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = a->head;
        a->head = c;
        a->used = 0;
        a->cap = cap;
    }
    void *p = a->head->data + a->used;
    a->used += size;
    memset(p, 0, size);
    return p;
}

/* Proto3 strings must be valid UTF-8 (protoc and collectors refuse the
 * message otherwise); the traced program's names are not trusted to be:
 * each invalid byte becomes U+FFFD. */
char *otlp_strdup(otlp_arena *a, const char *s) {
    size_t n = strlen(s);
    char *d = otlp_alloc(a, 3 * n + 1);
    if (!d)
        return NULL;
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (n) {
        unsigned cp;
        size_t k = ts_utf8_next(p, n, &cp);
        if (!k) {
            memcpy(d + o, "\xef\xbf\xbd", 3);
            o += 3;
            p++;
            n--;
            continue;
        }
        memcpy(d + o, p, k);
        o += k;
        p += k;
        n -= k;
    }
    d[o] = 0;
    return d;
}

void otlp_arena_free(otlp_arena *a) {
    while (a->head) {
        struct otlp_chunk *c = a->head;
        a->head = c->next;
        free(c);
    }
    a->used = a->cap = 0;
}
