/*
 * reader_command.c - the reader's side of the command channel
 * (ts_seg_command in trace_format.h; the runtime's side is
 * runtime/src/trace/command.c): claim the channel, write one request,
 * and read its answer.
 *
 * The channel holds one request at a time.  A claim held by a process
 * that no longer exists is taken over; one held by a live process is
 * -EBUSY (another `taskscope cancel` is waiting for its answer).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "reader_impl.h"

#define CMD_OFF(field) (SEG_OFF(command) + (uint64_t)offsetof(ts_seg_command, field))

static bool pid_alive(uint64_t pid) {
    return pid && pid < (1u << 22) && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static int claim(ts_reader *rd) {
    uint64_t *c = (uint64_t *)(rd->wbase + CMD_OFF(claim));
    uint64_t me = (uint64_t)getpid();
    for (int tries = 0; tries < 3; tries++) {
        uint64_t cur = __atomic_load_n(c, __ATOMIC_ACQUIRE);
        if (cur == me)
            return 0;
        if (cur && pid_alive(cur))
            return rd_fail(rd, -EBUSY, "another process (pid %llu) is waiting for an answer "
                           "on this program's command channel", (unsigned long long)cur);
        if (__atomic_compare_exchange_n(c, &cur, me, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return 0;
    }
    return rd_fail(rd, -EBUSY, "the command channel is contended");
}

int ts_reader_command_post(ts_reader *rd, uint32_t op, uint64_t loop, uint64_t task,
                           const char *msg, uint64_t *seq_out) {
    if (!rd->wbase || rd->fd < 0)
        return rd_fail(rd, -EROFS, "the segment is not writable: no command can be sent");
    size_t len = msg ? strlen(msg) : 0;
    if (len > TS_COMMAND_MSG_MAX)
        return rd_fail(rd, -E2BIG, "the message is longer than %u bytes", TS_COMMAND_MSG_MAX);
    int err = claim(rd);
    if (err)
        return err;
    unsigned char *w = rd->wbase;
    uint64_t seq = rd_load64(rd, CMD_OFF(seq)), done = rd_load64(rd, CMD_OFF(done_seq));
    seq = (seq > done ? seq : done) + 1;
    uint32_t pid = (uint32_t)getpid(), op32 = op, len32 = (uint32_t)len;
    memcpy(w + CMD_OFF(loop), &loop, 8);
    memcpy(w + CMD_OFF(task), &task, 8);
    memcpy(w + CMD_OFF(op), &op32, 4);
    memcpy(w + CMD_OFF(pid), &pid, 4);
    memcpy(w + CMD_OFF(msg_len), &len32, 4);
    if (len)
        memcpy(w + CMD_OFF(msg), msg, len);
    rd_store64(rd, CMD_OFF(seq), seq); /* release: the fields above first */
    *seq_out = seq;
    return 0;
}

int ts_reader_command_result(ts_reader *rd, uint64_t seq, int *result) {
    if (rd_load64(rd, CMD_OFF(done_seq)) != seq)
        return 0;
    int32_t r;
    if (rd_copy(rd, CMD_OFF(result), &r, 4))
        return 0;
    *result = r;
    return 1;
}
