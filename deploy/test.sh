#!/usr/bin/env bash
# test: the whole test suite, from a clean clone on Debian 12 as root.
# Installs what is missing, checks that every system header the code
# includes comes from a package install-deps.sh names, builds, runs every
# ctest (unit, integration, fault) on the normal build and again on an
# ASan+UBSan build, then runs the unit test binaries under valgrind (zero
# leaks, zero errors).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash deploy/install-deps.sh
jobs=$(nproc)

echo "== every system header from a package install-deps.sh names; layering"
bash tests/static/check_headers.sh

echo "== build (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
echo "== ctest"
ctest --test-dir build --output-on-failure

echo "== build (ASan+UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDW_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
echo "== ctest under ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LSAN_OPTIONS=suppressions="$top/tests/lsan.supp" \
  ctest --test-dir build-asan --output-on-failure

echo "== valgrind on the unit test binaries"
failed=0
for t in build/test_*; do
  [ -x "$t" ] || continue
  if ! DW_SOURCE_DIR="$top" valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
       --errors-for-leak-kinds=definite,indirect --error-exitcode=99 "$t" >/dev/null 2>"build/valgrind-$(basename "$t").log"; then
    echo "valgrind: $t failed, see build/valgrind-$(basename "$t").log"
    cat "build/valgrind-$(basename "$t").log"
    failed=1
  fi
done
[ "$failed" -eq 0 ]
echo "valgrind: clean"
echo "all test stages passed"
