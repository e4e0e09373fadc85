/* fuzz_matcher: libFuzzer target for notify's matchers with regular
 * expressions (dw_notify_matcher_parse: a silence from the API or the CLI,
 * the routing file). The input is the expression; it is put in a matcher
 * `commune=~"..."` (quotes and backslashes escaped) and, when accepted,
 * matched against a few label values. The bounds of dw_notify_match.c must
 * keep glibc's regcomp and regexec fast: run with -timeout (the brief run
 * gives 2 s), an input that takes longer is a failure, as is a crash, a
 * leak or running past -rss_limit_mb. Seeds: tests/fuzz/corpus-matcher.
 * Built by the `fuzz_matcher` custom target at the end of CMakeLists.txt;
 * run briefly by tests/fault/fuzz_decode_brief.sh. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_buf.h"
#include "dw_notify_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (memchr(data, 0, size)) return 0; /* a matcher is a C string */
  dw_buf text = DW_BUF_INIT;
  dw_buf_puts(&text, "commune=~\"");
  for (size_t i = 0; i < size; i++) {
    if (data[i] == '"' || data[i] == '\\') dw_buf_putc(&text, '\\');
    dw_buf_putc(&text, (char)data[i]);
  }
  dw_buf_putc(&text, '"');
  if (text.oom) abort();
  dw_notify_matcher m;
  char err[256];
  if (dw_notify_matcher_parse(text.data, &m, err, sizeof err) == 0) {
    static const char *const values[] = {"29012", "UBND-29012", "29012-20250401-0001", "", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
                                         "Phường An Bình"};
    dw_alert a;
    memset(&a, 0, sizeof a);
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
      snprintf(a.commune, sizeof a.commune, "%s", values[i]);
      (void)dw_notify_matcher_matches(&m, &a);
    }
    dw_notify_matcher_free(&m);
  } else if (!memchr(err, 0, sizeof err)) {
    abort();
  }
  dw_buf_free(&text);
  return 0;
}
