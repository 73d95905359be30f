/*
 * current_task.c - introspection: the current task and every task of the
 * loop, with what each one is waiting for and where it was spawned.
 *
 * Python:
 *     async def task_func(name):
 *         print(f"Task {name} is running")
 *         await asyncio.sleep(1)
 *         print(f"Task {name} is done")
 *
 *     async def main():
 *         tasks = [asyncio.create_task(task_func(f"Task {i}"))
 *                  for i in range(3)]
 *         current = asyncio.current_task()
 *         print(f"Current task: {current}")
 *         all_tasks = asyncio.all_tasks()
 *         print(f"All tasks: {all_tasks}")
 *         await asyncio.gather(*tasks)
 *
 * Right after spawning, the three tasks are ready but have not run yet (a
 * task first runs when its spawner suspends), exactly as in asyncio.  To
 * show what a debugger sees, a monitor task also lists every task while
 * main waits in gather: main awaits tasks at its gather call, the three
 * sleep at their ts_sleep call, and each line says where it was spawned.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <taskscope/taskscope.h>

#define NTASKS 3
#define MAX_LISTED 16

static void *task_func(void *arg) {
    const char *name = arg;
    printf("%s is running\n", name);
    int err = ts_sleep(1.0);
    if (err)
        return ts_fail(err, "%s interrupted", name);
    printf("%s is done\n", name);
    return NULL;
}

/* "path/to/file.c" -> "file.c", to keep the lines short. */
static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Prints "<what> file.c:LINE in func()", or nothing for no site. */
static void print_site(const char *what, const ts_site *site) {
    if (site)
        printf("%s %s:%d in %s()", what, base_name(site->file), site->line,
               site->func);
}

/* One line per task: id, name, state, what it awaits and where. */
static void print_task(ts_task *t) {
    const void *object = NULL;
    const ts_site *wait_site = NULL;
    ts_wait_kind kind = ts_task_awaiting(t, &object, &wait_site);

    printf("  #%" PRIu64 " '%s' %s", ts_task_id(t), ts_task_name(t),
           ts_task_state_name(ts_task_state_of(t)));
    if (kind != TS_WAIT_NONE) {
        printf(", awaiting %s", ts_wait_kind_name(kind));
        print_site(" at", wait_site);
    }
    print_site(", spawned at", ts_task_spawn_site(t));
    printf("\n");
}

static int by_id(const void *a, const void *b) {
    uint64_t x = ts_task_id(*(ts_task *const *)a);
    uint64_t y = ts_task_id(*(ts_task *const *)b);
    return (x > y) - (x < y);
}

/* asyncio.all_tasks(), printed in spawn order. */
static void print_all_tasks(const char *title) {
    ts_task *tasks[MAX_LISTED];
    size_t n = ts_all_tasks(NULL, tasks, MAX_LISTED);
    if (n > MAX_LISTED)
        n = MAX_LISTED;
    qsort(tasks, n, sizeof tasks[0], by_id);
    printf("%s (%zu):\n", title, n);
    for (size_t i = 0; i < n; i++)
        print_task(tasks[i]);
}

/* Looks at the loop from inside.  It was spawned last, so it runs after
 * the three workers in the same loop iteration: by then each of them has
 * parked in ts_sleep and main in ts_gather, whatever the machine's speed. */
static void *monitor(void *arg) {
    (void)arg;
    print_all_tasks("All tasks while main waits");
    return NULL;
}

static void *amain(void *arg) {
    (void)arg;
    static const char *names[NTASKS] = {"Task 0", "Task 1", "Task 2"};
    ts_task *tasks[NTASKS + 1];
    for (int i = 0; i < NTASKS; i++) {
        ts_spawn_opts opts = {.name = names[i]};
        tasks[i] = ts_spawn_with(&opts, task_func, (void *)names[i]);
    }

    printf("Current task:\n");
    print_task(ts_current_task());
    print_all_tasks("All tasks");

    tasks[NTASKS] = ts_spawn(monitor, NULL);
    int err = ts_gather(tasks, NTASKS + 1, NULL, NULL);
    return err ? ts_fail(err, "a task failed") : NULL;
}

int main(void) {
    int err = ts_run(amain, NULL);
    if (err) {
        fprintf(stderr, "current_task: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
