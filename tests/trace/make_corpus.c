/*
 * make_corpus.c - writes the seed inputs of the reader's fuzz corpus
 * (tracer/fuzz_corpus/seed-*) from segimage.h: small valid segment
 * images exercising each part of the format.  Run by hand when the
 * format changes:
 *     build/tests/trace/make_corpus tracer/fuzz_corpus
 * The fuzzer's own finds are added next to them (fuzz_reader -merge=1).
 */
#include <stdio.h>

#include "segimage.h"

static int save(const char *dir, const char *name, segimage *s) {
    char path[4096];
    snprintf(path, sizeof path, "%s/seed-%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(s->buf, 1, s->len, f) != s->len || fclose(f) != 0) {
        perror(path);
        return 1;
    }
    seg_free(s);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    const uint32_t rs = TS_PAGE_SIZE; /* small inputs: a ring of one page */
    int err = 0;
    segimage s;

    seg_init(&s, 1, rs); /* one task's life, names and a site */
    seg_story(&s, 0, 5, 100);
    err |= save(dir, "story", &s);

    seg_init(&s, 2, rs); /* two rings to merge, one wrapped many times */
    for (int i = 0; i < 60; i++)
        seg_story(&s, (uint32_t)(i % 2 ? 1 : 0), (uint64_t)i + 2, (uint64_t)i * 7);
    err |= save(dir, "wrapped", &s);

    seg_init(&s, 1, rs); /* PADs, page tails, unknown types */
    {
        unsigned char big[TS_PAGE_SIZE] = {0};
        seg_emit(&s, 0, 120, 4088, big, 1);
        SEG_EMIT(&s, 0, task_resume, 2, .task = 1);
        seg_emit(&s, 0, 121, 4056, big, 3);
        SEG_EMIT(&s, 0, dropped, 4, .count = 17);
    }
    err |= save(dir, "pads", &s);

    seg_init(&s, 3, rs); /* everything else: state dump, block detection */
    {
        ts_seg_header *h = seg_hdr(&s);
        h->ticks0 = 1000, h->mono0_ns = 5000, h->ticks1 = 3000, h->mono1_ns = 6000;
        SEG_EMIT(&s, 0, dump_begin, 10, .generation = 1);
        seg_string(&s, 0, 4, "a rather longer task name, to have a tail of some size", 11);
        SEG_EMIT(&s, 0, task_state, 12, .task = 9, .parent = 1, .loop = 1, .object = 3,
                 .name = 4, .site = 0, .state = 2, .kind = 5, .await_site = 0, .requests = 1);
        SEG_EMIT(&s, 0, dump_end, 13, .generation = 1);
        SEG_EMIT(&s, 2, module, 14, .start = 0x400000, .end = 0x500000, .offset = 0, .path = 4);
        uint64_t pcs[48];
        for (int i = 0; i < 48; i++)
            pcs[i] = 0x400000 + (uint64_t)i * 64;
        seg_stack(&s, 2, 1, pcs, 48, 15);
        SEG_EMIT(&s, 2, loop_blocked, 16, .loop = 1, .task = 9, .elapsed_ns = 1, .step = 3,
                 .tid = 7, .thread_state = 'S', .syscall = 230, .stack = 1);
        SEG_EMIT(&s, 0, loop_unblocked, 17, .loop = 1, .task = 9, .duration_ns = 2, .step = 3);
        SEG_EMIT(&s, 0, task_cancel, 18, .task = 9, .by_task = 1, .requests = 1, .message = 4);
        SEG_EMIT(&s, 0, diagnostic, 19, .task = 9, .kind = 1, .err = -5, .site = 0, .message = 4);
    }
    err |= save(dir, "dump", &s);
    return err;
}
