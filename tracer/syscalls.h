/*
 * syscalls.h - system call names, from the table gen_syscalls.c writes
 * at build time out of the kernel's own list (<asm/unistd_64.h>).
 */
#ifndef TS_TRACER_SYSCALLS_H
#define TS_TRACER_SYSCALLS_H

/* The name of system call nr on this architecture, or NULL. */
const char *ts_syscall_name(int nr);
/* How many the table holds, and the i-th (by number). */
int ts_syscall_count(void);
void ts_syscall_at(int i, int *nr, const char **name);

#endif
