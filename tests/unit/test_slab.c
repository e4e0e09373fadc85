/* Unit tests: dw_slab, the pool allocator behind the engine's dossiers:
 * blocks are zeroed, aligned, reused after free within their size class,
 * never shared between live blocks, and large sizes fall back to malloc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "dw_slab.h"

static void test_sizes(void **state) {
  (void)state;
  assert_int_equal(dw_slab_block_size(1), 8);
  assert_int_equal(dw_slab_block_size(8), 8);
  assert_int_equal(dw_slab_block_size(153), 160);
  assert_int_equal(dw_slab_block_size(160), 160);
  assert_int_equal(dw_slab_block_size(DW_SLAB_MAX + 1), DW_SLAB_MAX + 1);
}

static void test_zeroed_aligned_distinct(void **state) {
  (void)state;
  dw_slab *s = dw_slab_new();
  assert_non_null(s);
  enum { N = 5000 }; /* several pages of 64 KiB */
  static unsigned char *p[N];
  for (int i = 0; i < N; i++) {
    size_t sz = 100 + (size_t)(i % 60);
    p[i] = dw_slab_alloc(s, sz);
    assert_non_null(p[i]);
    assert_int_equal((uintptr_t)p[i] % 8, 0);
    for (size_t k = 0; k < sz; k++) assert_int_equal(p[i][k], 0);
    memset(p[i], 0xA5, sz); /* would overwrite a neighbour if blocks overlapped */
    p[i][0] = (unsigned char)i;
  }
  for (int i = 0; i < N; i++) assert_int_equal(p[i][0], (unsigned char)i);
  dw_slab_destroy(s);
}

static void test_reuse_after_free(void **state) {
  (void)state;
  dw_slab *s = dw_slab_new();
  void *a = dw_slab_alloc(s, 150), *b = dw_slab_alloc(s, 150);
  assert_ptr_not_equal(a, b);
  memset(a, 0xFF, 150);
  dw_slab_free(s, a, 150);
  void *c = dw_slab_alloc(s, 145); /* same class (152): the freed block, zeroed again */
  assert_ptr_equal(c, a);
  for (size_t k = 0; k < 145; k++) assert_int_equal(((unsigned char *)c)[k], 0);
  void *d = dw_slab_alloc(s, 200); /* another class: not the block of b */
  assert_ptr_not_equal(d, b);
  void *big = dw_slab_alloc(s, DW_SLAB_MAX + 100); /* from malloc, freed by dw_slab_free */
  assert_non_null(big);
  dw_slab_free(s, big, DW_SLAB_MAX + 100);
  dw_slab_free(s, NULL, 10);
  dw_slab_destroy(s); /* with b, c, d still allocated: released with the pages */
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sizes),
    cmocka_unit_test(test_zeroed_aligned_distinct),
    cmocka_unit_test(test_reuse_after_free),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
