/*
 * unwind.h - unwinding a blocked loop thread's user stack in user space,
 * from the registers and stack bytes the BPF program copied at the
 * system call, with the modules' DWARF call-frame information (elfutils
 * libdwfl, as perf --call-graph=dwarf does).  Unlike the kernel's
 * frame-pointer walk it goes through code built without frame pointers,
 * such as glibc's wrappers around the call.
 */
#ifndef TS_BPF_UNWIND_H
#define TS_BPF_UNWIND_H

#include <linux/types.h>
#include <stddef.h>
#include <stdint.h>

#include "procinfo.h"
#include "tsb_abi.h"

/* Fill pcs (innermost first: the pc, then return addresses) from b,
 * with the modules of maps; pid names the mount namespace of their
 * paths.  Returns the number of frames, 0 if it could not unwind (no
 * libdw, another architecture, no CFI for the pc). */
size_t tsb_unwind(const tsb_maps *maps, int pid, const struct tsb_block *b, uint64_t *pcs,
                  size_t max);

#endif
