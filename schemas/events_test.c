/* Compile-time checks of the layout rules in events.def. */
#include <assert.h>
#include "trace_format.h"
#define TS_EVENT(name, id, doc, fields) \
    _Static_assert(sizeof(ts_ev_##name) % 8 == 0, #name " not padded to 8"); \
    _Static_assert(sizeof(ts_ev_##name) <= 255, #name " too large");
#define TS_FIELD(type, name, doc)
#define TS_TAIL(type, name, doc)
#include "events.def"
int main(void) { return 0; }
