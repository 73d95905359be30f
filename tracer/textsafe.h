/*
 * textsafe.h - every user-supplied string (task names, messages, file
 * paths) goes to a terminal or a JSON document through here.
 *
 * A traced program chooses its task names, and a recording may be
 * damaged or hostile: a name may hold terminal escape sequences (ESC [31m,
 * OSC 52 clipboard writes), newlines that break a table, or bytes that are
 * not UTF-8.  Reports, exports and the TUI never write such a string raw.
 *
 * Text form: printable UTF-8 passes through; C0 controls, DEL and C1
 * controls (U+0080..U+009F, which some terminals obey as 8-bit CSI) are
 * written as \n, \t, \r, \e or \xNN; a byte that is not part of valid
 * UTF-8 (overlong, surrogate, beyond U+10FFFF, cut short) as \xNN; a
 * backslash as \\ so that the escapes stay unambiguous.
 *
 * JSON form: a quoted JSON string that is always valid UTF-8: quote and
 * backslash escaped, controls (C0, DEL, C1) as \u00XX, and each byte of
 * invalid UTF-8 replaced by U+FFFD.
 */
#ifndef TS_TRACER_TEXTSAFE_H
#define TS_TRACER_TEXTSAFE_H

#include <stddef.h>
#include <stdio.h>

/*
 * ts_text_safe - the text form of s (NULL reads as "") into buf, at most
 * maxcols characters of output (0: no limit besides len; an escape is
 * never cut in half, a multi-byte character never split).  Always
 * NUL-terminates when len > 0.  Returns the number of characters written
 * (columns, counting each code point as one).
 */
size_t ts_text_safe(char *buf, size_t len, const char *s, size_t maxcols);

/*
 * ts_text_put - write the text form of s to out.  width > 0: exactly
 * width columns, cut or padded with spaces on the right (a table cell);
 * width == 0: the whole string, unpadded.
 */
void ts_text_put(FILE *out, const char *s, int width);

/* ts_json_put - write s as a quoted JSON string (see above); NULL as "". */
void ts_json_put(FILE *out, const char *s);

/* ts_utf8_next - decode one code point of valid UTF-8 at s (n bytes left):
 * returns its length (1..4) and the code point in *cp, or 0 if the bytes
 * there are not valid UTF-8. */
size_t ts_utf8_next(const unsigned char *s, size_t n, unsigned *cp);

#endif
