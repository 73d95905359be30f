/*
 * fiber.h - tell the sanitizers about stack switches.
 *
 * AddressSanitizer keeps shadow state per stack; without these calls it
 * mistakes a coroutine stack for stack-buffer overflow and its fake-stack
 * frames leak.  Each switch is bracketed: start_switch before, with the
 * destination stack's bounds; finish_switch after, on the new stack.  A
 * context that is leaving for good passes NULL as fake-stack save, which
 * lets ASan free its fake frames.  In other builds these are empty.
 */
#ifndef TS_FIBER_H
#define TS_FIBER_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define TS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TS_ASAN 1
#endif
#endif

#ifdef TS_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom,
                                    size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save,
                                     const void **bottom_old, size_t *size_old);
static inline void ts__fiber_start(void **save, const void *bottom, size_t size) {
    __sanitizer_start_switch_fiber(save, bottom, size);
}
static inline void ts__fiber_finish(void *save, const void **bottom, size_t *size) {
    __sanitizer_finish_switch_fiber(save, bottom, size);
}
/* A stack taken from the pool (or mapped where an old one was) may carry
 * the poison of frames that a task destroyed mid-suspension never
 * unwound; a fresh coroutine starts from clean shadow memory. */
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
static inline void ts__fiber_fresh_stack(void *base, size_t size) {
    __asan_unpoison_memory_region(base, size);
}
#else
static inline void ts__fiber_fresh_stack(void *base, size_t size) { (void)base, (void)size; }
static inline void ts__fiber_start(void **save, const void *bottom, size_t size) {
    (void)save, (void)bottom, (void)size;
}
static inline void ts__fiber_finish(void *save, const void **bottom, size_t *size) {
    (void)save, (void)bottom, (void)size;
}
#endif

#endif
