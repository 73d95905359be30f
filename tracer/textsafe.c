/*
 * textsafe.c - see textsafe.h.
 *
 * One tokenizer (next_token) decides, character by character, what reaches
 * the output: the character itself when it is valid, printable UTF-8, or
 * an escape.  The text and JSON forms differ only in how they spell the
 * escapes.  Nothing here allocates: a 64 KiB name streams through.
 */
#include <string.h>

#include "textsafe.h"

size_t ts_utf8_next(const unsigned char *s, size_t n, unsigned *cp) {
    if (!n)
        return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80, c &= 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800, c &= 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000, c &= 0x07;
    else
        return 0; /* a continuation byte, an overlong lead (c0, c1) or f5..ff */
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0; /* overlong, beyond Unicode, or a UTF-16 surrogate */
    *cp = c;
    return len;
}

/* A code point a terminal may act on instead of showing. */
static int is_control(unsigned cp) { return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f); }

enum form { TEXT, JSON };

/* The next character of s (n bytes left) as it should be output: sets
 * *out to the bytes to write (s itself, or esc) and returns how many
 * input bytes it consumed (>= 1). */
static size_t next_token(const unsigned char *s, size_t n, enum form f, char esc[8],
                         const char **out, size_t *outlen) {
    unsigned cp;
    size_t len = ts_utf8_next(s, n, &cp);
    if (!len) { /* one invalid byte */
        if (f == JSON)
            *out = "\\ufffd", *outlen = 6;
        else
            *outlen = (size_t)snprintf(esc, 8, "\\x%02x", s[0]), *out = esc;
        return 1;
    }
    if (cp == '\\' || (f == JSON && cp == '"')) {
        esc[0] = '\\', esc[1] = (char)cp;
        *out = esc, *outlen = 2;
        return 1;
    }
    if (!is_control(cp)) {
        *out = (const char *)s, *outlen = len;
        return len;
    }
    const char *named = cp == '\n' ? "\\n" : cp == '\t' ? "\\t" : cp == '\r' ? "\\r" : NULL;
    if (named)
        *out = named, *outlen = 2;
    else if (f == JSON)
        *outlen = (size_t)snprintf(esc, 8, "\\u%04x", cp), *out = esc;
    else if (cp == 0x1b)
        *out = "\\e", *outlen = 2;
    else
        *outlen = (size_t)snprintf(esc, 8, cp < 0x100 && len == 1 ? "\\x%02x" : "\\u%04x", cp),
        *out = esc;
    return len;
}

/* Columns a token takes: one per code point it holds. */
static size_t token_cols(const char *t, size_t n) {
    size_t cols = 0;
    for (size_t i = 0; i < n; i++)
        cols += ((unsigned char)t[i] & 0xc0) != 0x80;
    return cols;
}

size_t ts_text_safe(char *buf, size_t len, const char *s, size_t maxcols) {
    size_t at = 0, cols = 0;
    if (!len)
        return 0;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);
    char esc[8];
    while (n) {
        const char *tok;
        size_t tlen, used = next_token(p, n, TEXT, esc, &tok, &tlen);
        size_t tcols = token_cols(tok, tlen);
        if (at + tlen >= len || (maxcols && cols + tcols > maxcols))
            break;
        memcpy(buf + at, tok, tlen);
        at += tlen;
        cols += tcols;
        p += used;
        n -= used;
    }
    buf[at] = 0;
    return cols;
}

void ts_text_put(FILE *out, const char *s, int width) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p), cols = 0, max = width > 0 ? (size_t)width : (size_t)-1;
    char esc[8];
    while (n) {
        const char *tok;
        size_t tlen, used = next_token(p, n, TEXT, esc, &tok, &tlen);
        size_t tcols = token_cols(tok, tlen);
        if (cols + tcols > max)
            break;
        fwrite(tok, 1, tlen, out);
        cols += tcols;
        p += used;
        n -= used;
    }
    for (; width > 0 && cols < (size_t)width; cols++)
        fputc(' ', out);
}

void ts_json_put(FILE *out, const char *s) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);
    char esc[8];
    fputc('"', out);
    while (n) {
        const char *tok;
        size_t tlen, used = next_token(p, n, JSON, esc, &tok, &tlen);
        fwrite(tok, 1, tlen, out);
        p += used;
        n -= used;
    }
    fputc('"', out);
}
