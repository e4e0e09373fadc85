/* fuzz_decode: libFuzzer target for the two event decoders that see
 * untrusted bytes - dw_avro_decode_event (Kafka message values, single-object
 * encoding) and dw_event_from_json (import/audit JSON Lines). The first input
 * byte chooses the decoder (even: Avro, odd: JSON) so one corpus covers both;
 * the rest is the message. A decoder may reject anything, but must never
 * crash, read out of bounds, leak or hit undefined behaviour, and an accepted
 * event must be well formed (NUL-terminated strings, valid enums). The Avro
 * decoder's resolved plan must give exactly what the generic way (avro-c's
 * generic value and resolved reader) gives: the same event or error text.
 *
 * Built by the `fuzz_decode` custom target at the end of CMakeLists.txt
 * (clang -fsanitize=fuzzer,address,undefined); run briefly by
 * tests/fault/fuzz_decode_brief.sh, longer by hand - see that file. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_codec.h"
#include "dw_codec_internal.h"
#include "fuzz_event_check.h"

static dw_avro *g_av;

/* The codec lives for the whole run (creating it per input would cost more
 * than the decoding); it is destroyed at exit so that LeakSanitizer's final
 * check sees only real leaks, not the buffers avro-c keeps for reuse. */
static void destroy_codec(void) {
  dw_avro_destroy(g_av);
  g_av = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  char err[256];
  g_av = dw_avro_new(err, sizeof err);
  if (!g_av) {
    fprintf(stderr, "fuzz_decode: dw_avro_new: %s\n", err);
    abort();
  }
  atexit(destroy_codec);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  int which = data[0] & 1;
  data++;
  size--;
  dw_event ev;
  char err[256];
  dw_event_init(&ev);
  if (which == 0) {
    /* Exact-size heap copy so ASan sees any read past the message. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
      return 0;
    memcpy(buf, data, size);
    int rc = dw_avro_decode_event(g_av, buf, size, &ev, err, sizeof err);
    if (rc == 0)
      fuzz_check_event(&ev);
    else if (!memchr(err, 0, sizeof err))
      abort();
    /* the resolved decoder must equal the generic way exactly */
    dw_event gev;
    char gerr[256];
    int grc = dw_avro__decode_event_generic(g_av, buf, size, &gev, gerr, sizeof gerr);
    if (grc != rc || memcmp(&ev, &gev, sizeof ev) || (rc && strcmp(err, gerr)))
      abort();
    free(buf);
  } else {
    /* Not NUL-terminated on purpose: the decoder gets (text, len). */
    char *buf = malloc(size ? size : 1);
    if (!buf)
      return 0;
    memcpy(buf, data, size);
    if (dw_event_from_json(buf, size, &ev, err, sizeof err) == 0)
      fuzz_check_event(&ev);
    else if (!memchr(err, 0, sizeof err))
      abort();
    free(buf);
  }
  return 0;
}
