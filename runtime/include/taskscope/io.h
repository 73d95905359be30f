/*
 * taskscope/io.h - real I/O: sockets and streams, files, subprocesses,
 * signals and the process pool.  Each concern has its own header; this one
 * gathers those that are present in this version.
 */
#ifndef TASKSCOPE_IO_H
#define TASKSCOPE_IO_H

#if __has_include("net.h")
#include "net.h"
#endif
#if __has_include("stream.h")
#include "stream.h"
#endif
#if __has_include("file.h")
#include "file.h"
#endif
#if __has_include("process.h")
#include "process.h"
#endif
#if __has_include("signals.h")
#include "signals.h"
#endif
#if __has_include("procpool.h")
#include "procpool.h"
#endif

#endif
