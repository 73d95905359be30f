/*
 * file_io.c - writing and reading a file without blocking the loop.
 *
 * Python (aiofiles):
 *     async def read_file(filename):
 *         async with aiofiles.open(filename, mode='r') as file:
 *             return await file.read()
 *
 *     async def write_file(filename, content):
 *         async with aiofiles.open(filename, mode='w') as file:
 *             await file.write(content)
 *
 *     async def main():
 *         await write_file('example.txt', 'Hello, asyncio world!')
 *         content = await read_file('example.txt')
 *         print(f"File content: {content}")
 *
 * Each ts_file_* call suspends only the calling task: the loop hands the
 * work to io_uring when the kernel allows it, to a few threads otherwise
 * (TASKSCOPE_FILE_BACKEND=uring|threads picks one).  `async with
 * aiofiles.open(...)` becomes TS_WITH over a small context manager whose
 * enter opens the file and whose exit closes it, on every way out.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <taskscope/taskscope.h>

/* aiofiles.open(name, mode) as a context manager. */
typedef struct aiofile {
    const char *name;
    int flags;
    ts_file *file;
} aiofile;

static int aiofile_enter(void *self) {
    aiofile *a = self;
    return ts_file_open(a->name, a->flags, 0644, &a->file);
}

static int aiofile_exit(void *self, int err) {
    aiofile *a = self;
    int close_err = ts_file_close(a->file);
    a->file = NULL;
    return err ? err : close_err;
}

static const ts_async_cm aiofile_cm = {aiofile_enter, aiofile_exit};

/* *content is malloc'd; the caller frees it. */
static int read_file(const char *filename, char **content) {
    aiofile f = {.name = filename, .flags = O_RDONLY};
    size_t len;
    int err = 0;
    TS_WITH(&aiofile_cm, &f, &err) {
        err = ts_file_read_all(f.file, content, &len);
    }
    return err;
}

static int write_file(const char *filename, const char *content) {
    aiofile f = {.name = filename, .flags = O_WRONLY | O_CREAT | O_TRUNC};
    int err = 0;
    TS_WITH(&aiofile_cm, &f, &err) {
        ssize_t n = ts_file_write(f.file, content, strlen(content));
        err = n < 0 ? (int)n : 0;
    }
    return err;
}

static void *amain(void *arg) {
    (void)arg;
    int err = write_file("example.txt", "Hello, asyncio world!");
    if (err)
        return ts_fail(err, "writing example.txt");
    char *content = NULL;
    err = read_file("example.txt", &content);
    if (err)
        return ts_fail(err, "reading example.txt");
    printf("File content: %s\n", content);
    free(content);
    return NULL;
}

int main(void) {
    int err = ts_run(amain, NULL);
    if (err) {
        fprintf(stderr, "file_io: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
