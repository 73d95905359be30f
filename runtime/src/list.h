/*
 * list.h - intrusive circular doubly-linked lists.
 *
 * A node not on any list has next == NULL, so "is it linked?" is one load
 * and removal is idempotent.  That is what lets a waker and a cancelling
 * task both try to unlink the same waiter without coordinating.
 */
#ifndef TS_LIST_H
#define TS_LIST_H

#include <stddef.h>

typedef struct ts__node {
    struct ts__node *prev, *next;
} ts__node;

#define ts__container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline void ts__list_init(ts__node *head) { head->prev = head->next = head; }
static inline int ts__list_empty(const ts__node *head) { return head->next == head; }
static inline int ts__node_linked(const ts__node *n) { return n->next != NULL; }

static inline void ts__list_push_back(ts__node *head, ts__node *n) {
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void ts__list_push_front(ts__node *head, ts__node *n) {
    n->next = head->next;
    n->prev = head;
    head->next->prev = n;
    head->next = n;
}

static inline void ts__list_remove(ts__node *n) {
    if (!n->next)
        return;
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = NULL;
}

static inline ts__node *ts__list_pop_front(ts__node *head) {
    ts__node *n = head->next;
    if (n == head)
        return NULL;
    ts__list_remove(n);
    return n;
}

static inline ts__node *ts__list_first(const ts__node *head) {
    return head->next == head ? NULL : head->next;
}

/* Move every node of src to the end of dst, leaving src empty. */
static inline void ts__list_splice(ts__node *dst, ts__node *src) {
    if (ts__list_empty(src))
        return;
    src->next->prev = dst->prev;
    dst->prev->next = src->next;
    src->prev->next = dst;
    dst->prev = src->prev;
    ts__list_init(src);
}

#define ts__list_foreach(it, head) \
    for (ts__node *it = (head)->next, *it##_next = it->next; it != (head); \
         it = it##_next, it##_next = it->next)

#endif
