/* Callee-saved FP registers survive switches: each task keeps doubles live
 * across ts_sleep(0), so the compiler holds them in d8-d15 (AArch64) or
 * spills them (x86-64, where xmm are caller-saved). */
#include <stdio.h>
#include <taskscope/taskscope.h>
static void *spin(void *arg) {
    double seed = (double)(long)arg, a = seed * 1.5, b = seed * 2.25, c = seed * 3.125, d = seed + 0.5;
    for (int i = 0; i < 1000; i++) {
        a = a * 1.0000001 + 1; b = b * 0.9999999 + 2; c += a * 1e-9; d -= b * 1e-9;
        if (ts_sleep(0)) return NULL;
    }
    printf("%ld %.6f\n", (long)arg, a + b + c + d);
    return NULL;
}
static void *amain(void *arg) {
    (void)arg;
    ts_task *t[4];
    for (long i = 0; i < 4; i++) t[i] = ts_spawn(spin, (void *)(i + 1));
    return ts_gather(t, 4, NULL, NULL) ? ts_fail(-EIO, NULL) : NULL;
}
int main(void) { return ts_run(amain, NULL); }
