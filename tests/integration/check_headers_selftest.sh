#!/usr/bin/env bash
# check_headers_selftest: the header check that deploy/test.sh runs before
# the build can fail: it passes on the real install-deps.sh and fails,
# naming the package, when a package is missing from the list (uthash-dev,
# the one that was once missed), and when the engine includes an I/O library.
source "${DW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

check=$DW_SOURCE_DIR/tests/static/check_headers.sh
bash "$check" >"$DW_TMP/ok.log" 2>&1 || dw_fail "the real install-deps.sh fails the check: $(cat "$DW_TMP/ok.log")"

sed 's/ uthash-dev//' "$DW_SOURCE_DIR/deploy/install-deps.sh" >"$DW_TMP/deps.sh"
! grep -q uthash-dev "$DW_TMP/deps.sh" || dw_fail "could not remove uthash-dev from the copy"
rc=0
bash "$check" --deps "$DW_TMP/deps.sh" >"$DW_TMP/missing.log" 2>&1 || rc=$?
dw_assert_eq 1 "$rc" "check without uthash-dev"
grep -q '<uthash.h> comes from package uthash-dev' "$DW_TMP/missing.log" ||
  dw_fail "the missing package is not named: $(cat "$DW_TMP/missing.log")"

# a copy of the tree whose engine includes librdkafka fails the layering check
mkdir -p "$DW_TMP/tree"
cp -r "$DW_SOURCE_DIR/common" "$DW_SOURCE_DIR/consumers" "$DW_SOURCE_DIR/producers" "$DW_SOURCE_DIR/tests" \
  "$DW_SOURCE_DIR/deploy" "$DW_TMP/tree/"
printf '#include <librdkafka/rdkafka.h>\n' >>"$DW_TMP/tree/consumers/engine/dw_timer.h"
rc=0
bash "$DW_TMP/tree/tests/static/check_headers.sh" >"$DW_TMP/layer.log" 2>&1 || rc=$?
dw_assert_eq 1 "$rc" "check with librdkafka in the engine"
grep -q 'consumers/engine must not use librdkafka' "$DW_TMP/layer.log" || dw_fail "layering not reported: $(cat "$DW_TMP/layer.log")"
echo "check_headers_selftest: ok"
