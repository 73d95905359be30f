/*
 * tsb_abi.h - the records the BPF programs (taskscope.bpf.c) hand to the
 * user-space collector through the BPF ring buffer, and the knobs the
 * collector sets in the programs' read-only data before loading them.
 *
 * Compiled twice: by clang for the BPF target (after vmlinux.h, which
 * defines __u64 and friends) and by the host compiler for the collector
 * (after <linux/types.h>).  So only fixed-width kernel types, no padding
 * holes, and every struct a multiple of 8 bytes.
 *
 * These are raw facts as the kernel saw them: user pointers (sites,
 * objects) are still pointers and strings are inline bytes.  The
 * collector (translate.c) turns them into the schema's ts_ev_* records,
 * interning strings and sites, so the decoder and the model see the same
 * stream as from the debug runtime's shared-memory ring.
 */
#ifndef TS_BPF_TSB_ABI_H
#define TS_BPF_TSB_ABI_H

/* Kinds of raw record (tsb_hdr.kind). */
enum tsb_kind {
    TSB_EVENT = 1,  /* tsb_event: one schema event, fields in a[] */
    TSB_SITE = 2,   /* tsb_site: a ts_site's contents, keyed by its address */
    TSB_BLOCK = 3,  /* tsb_block: a loop thread blocked in a system call */
    TSB_TASK_STACK = 4, /* tsb_task_stack: a parked task's stack (state dump) */
};

/* Event classes: what the user can choose to trace (--bpf-events). */
enum tsb_class {
    TSB_C_TASKS = 0,    /* task_*, loop_*, slow_step, diagnostic */
    TSB_C_FUTURES = 1,  /* future_create / future_done */
    TSB_C_SYNC = 2,     /* resource_*, queue_depth */
    TSB_C_JOBS = 3,     /* job_submit / job_start / job_done */
    TSB_C_SYSCALLS = 4, /* blocking system calls of loop threads */
    TSB_C_COUNT = 5,
};

/* The schema's resource kind of a queue (resource_create.kind), as the
 * state dump's dump_resource probe passes it: only a queue has a depth. */
#define TSB_RES_QUEUE 6

#define TSB_STR_MAX 64      /* task names, messages (longer ones are cut) */
#define TSB_FILE_MAX 160
#define TSB_FUNC_MAX 64
#define TSB_STACK_MAX 64    /* user frames captured for a blocked syscall */

struct tsb_hdr {
    __u64 ns;               /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
    __u32 tid;
    __u16 kind;             /* enum tsb_kind */
    __u16 type;             /* TSB_EVENT: the TS_EV_* id */
};

/* One schema event.  a[] holds the event's fields in events.def order,
 * except that a site field holds the ts_site address and a string field
 * the string's address, its text (if BPF could read it) in str; has_str
 * says whether it could.  BPF cannot fault pages in, so a string on a
 * page the program has not touched yet is read by the collector instead,
 * from the address. */
#define TSB_EVENT_FIELDS 10   /* task_state, the widest event, has 10 */

struct tsb_event {
    struct tsb_hdr h;
    __u64 a[TSB_EVENT_FIELDS];
    __u32 has_str;
    __u32 pad;
    char str[TSB_STR_MAX];
};

/* The contents of a ts_site { const char *file, *func; int line; },
 * sent once per address (the BPF side remembers which it sent). */
struct tsb_site {
    struct tsb_hdr h;
    __u64 addr;
    __u64 file_addr;        /* for the collector to read what BPF could not */
    __u64 func_addr;
    __u32 line;
    __u32 pad;
    char file[TSB_FILE_MAX];
    char func[TSB_FUNC_MAX];
};

/* A system call of a loop thread that took at least the block
 * threshold.  Two views of its user stack: stack[], the kernel's
 * frame-pointer walk (innermost first), which goes wrong through code
 * built without frame pointers (glibc), and copy[], the raw stack from
 * the stack pointer up, with the registers the collector needs to unwind
 * it with the modules' DWARF call-frame information (as perf does). */
enum tsb_reg { TSB_R_IP, TSB_R_SP, TSB_R_BP, TSB_R_BX, TSB_R_R12, TSB_R_R13, TSB_R_R14,
               TSB_R_R15, TSB_NREGS };
#define TSB_STACK_COPY 8192

struct tsb_block {
    struct tsb_hdr h;
    __u64 loop;             /* 0: unknown (attached after loop_create) */
    __u64 task;             /* running task, 0 if none (loop code) */
    __s64 nr;               /* system call number */
    __u64 duration_ns;      /* enter to exit */
    __u64 offcpu_ns;        /* of which switched out */
    __u64 regs[TSB_NREGS];  /* user registers at the call (x86-64; ip and
                             * sp elsewhere) */
    __u32 state;            /* 'S', 'D' (went to sleep) or 'R' (on CPU) */
    __s32 stack_bytes;      /* bytes of stack[] filled, or -errno */
    __u32 copy_bytes;       /* bytes of copy[] read from regs[TSB_R_SP] */
    __u32 pad;
    __u64 stack[TSB_STACK_MAX];
    __u8 copy[TSB_STACK_COPY];
};

/* A parked task's call stack, from the state dump (the task_stack
 * probe): the runtime walked it in-process along the frame-pointer chain
 * inside the task's own stack, exactly as the debug runtime's ring dump
 * does, and the program copied the walked addresses.  depth is clamped
 * to TSB_TASK_DEPTH here and checked again by the collector. */
#define TSB_TASK_DEPTH 32

struct tsb_task_stack {
    struct tsb_hdr h;
    __u64 task;
    __u32 flags;            /* the task_stack event's flags */
    __u32 depth;            /* addresses in pcs[] */
    __u64 pcs[TSB_TASK_DEPTH];
};

#endif
