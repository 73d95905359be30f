/*
 * switch_aarch64.S - coroutine context switch for AArch64 (AAPCS64).
 *
 * Saves the callee-saved registers x19-x28, the frame pointer x29, the
 * link register x30 and the low halves of v8-v15 (d8-d15, the only FP
 * state AAPCS64 preserves across calls) on the current stack, stores sp in
 * from->sp, loads to->sp, restores the same frame and returns through x30.
 *
 * A fresh context (see ctx_make.c) holds entry in x19, its argument in
 * x20, and x30 = ts__ctx_entry, whose CFI marks the return address
 * undefined so unwinders stop at a coroutine's first frame.
 */
    .text

/* The 160-byte frame every saved context leaves on its stack: x19-x28,
 * x29/x30, d8-d15.  ctx_make.c builds the same frame. */
.macro SAVE_FRAME
    sub     sp, sp, #160
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8,  d9,  [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
.endm

.macro RESTORE_FRAME_AND_RET
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8,  d9,  [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #160
    ret
.endm

    .p2align 4
    .globl  ts__ctx_switch
    .hidden ts__ctx_switch
    .type   ts__ctx_switch, %function
ts__ctx_switch:
    .cfi_startproc
    SAVE_FRAME
    mov     x2, sp
    str     x2, [x0]
    ldr     x2, [x1]
    mov     sp, x2
    RESTORE_FRAME_AND_RET
    .cfi_endproc
    .size   ts__ctx_switch, .-ts__ctx_switch

/*
 * ts__ctx_start(from, stack, entry, arg): save the current context in from
 * (the first half of ts__ctx_switch), then start entry(arg) on the top of
 * stack through ts__ctx_entry, without building a frame for it first.
 * stack points to a ts__stack: base at offset 0, size at offset 8.
 */
    .p2align 4
    .globl  ts__ctx_start
    .hidden ts__ctx_start
    .type   ts__ctx_start, %function
ts__ctx_start:
    .cfi_startproc
    SAVE_FRAME
    mov     x4, sp
    str     x4, [x0]
    ldp     x4, x5, [x1]
    add     x4, x4, x5
    and     x4, x4, #~15
    mov     sp, x4
    mov     x29, #0             /* terminates frame-pointer walks */
    mov     x30, #0
    mov     x19, x2
    mov     x20, x3
    b       ts__ctx_entry
    .cfi_endproc
    .size   ts__ctx_start, .-ts__ctx_start

/*
 * ts__ctx_jump(to): resume to, abandoning the current context (a finished
 * task): the second half of ts__ctx_switch alone.
 */
    .p2align 4
    .globl  ts__ctx_jump
    .hidden ts__ctx_jump
    .type   ts__ctx_jump, %function
ts__ctx_jump:
    .cfi_startproc
    ldr     x2, [x0]
    mov     sp, x2
    RESTORE_FRAME_AND_RET
    .cfi_endproc
    .size   ts__ctx_jump, .-ts__ctx_jump

    .p2align 4
    .globl  ts__ctx_entry
    .hidden ts__ctx_entry
    .type   ts__ctx_entry, %function
ts__ctx_entry:
    .cfi_startproc
    .cfi_undefined x30
    mov     x0, x20
    blr     x19
    brk     #0                  /* entry functions never return */
    .cfi_endproc
    .size   ts__ctx_entry, .-ts__ctx_entry

    .section .note.GNU-stack,"",%progbits
