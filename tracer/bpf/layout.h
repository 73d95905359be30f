/*
 * layout.h - offsets into the runtime's private structs (see layout.c).
 */
#ifndef TS_BPF_LAYOUT_H
#define TS_BPF_LAYOUT_H

#include <stddef.h>

size_t tsb_task_id_offset(void);

#endif
