/* dw_buf: the one growable byte buffer of dossierwatch (JSON and SQL text,
 * COPY rows, HTTP bodies, messages), its JSON string writer and the one
 * UTF-8 validator. Appends never fail visibly: running out of memory sets
 * `oom`, later appends are ignored, and the caller checks `oom` once at the
 * end. data is always NUL-terminated when len > 0. */
#ifndef DW_BUF_H
#define DW_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct dw_buf {
  char *data;
  size_t len, cap;
  bool oom;
} dw_buf;

#define DW_BUF_INIT {NULL, 0, 0, false}

void dw_buf_reset(dw_buf *b); /* empty, capacity kept */
void dw_buf_free(dw_buf *b);
/* Room for n more bytes (0, or -1 and oom). */
int dw_buf_reserve(dw_buf *b, size_t n);
void dw_buf_put(dw_buf *b, const void *p, size_t n);
void dw_buf_puts(dw_buf *b, const char *s);
void dw_buf_putc(dw_buf *b, char c);
void dw_buf_printf(dw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal of s (escaped, quoted; valid UTF-8 passes
 * through, each byte that is not part of a valid sequence becomes U+FFFD,
 * so the text is always valid JSON - a message cut in the middle of a
 * character by a fixed-size buffer included), or null when s is NULL. */
void dw_buf_json_string(dw_buf *b, const char *s);
/* The same for n bytes (which may hold NULs: they are escaped). */
void dw_buf_json_string_n(dw_buf *b, const char *s, size_t n);
/* The length of the valid UTF-8 sequence at s (n > 0 bytes available), 0
 * when it is not one (overlong forms, surrogates and code points past
 * U+10FFFF are not). */
size_t dw_utf8_len(const char *s, size_t n);
/* Is s (n bytes) valid UTF-8? */
int dw_utf8_valid(const char *s, size_t n);
/* Detaches the text (caller frees; "" when empty); NULL after oom. The
 * buffer is empty afterwards. */
char *dw_buf_take(dw_buf *b);
/* Appends the whole of a file ("-": standard input): 0, or -1 with
 * "PATH: reason" in err. b->data is a NUL-terminated text afterwards, also
 * for an empty file. */
int dw_buf_read_file(dw_buf *b, const char *path, char *err, size_t n);

#endif
