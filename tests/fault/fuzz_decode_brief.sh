#!/usr/bin/env bash
# fuzz_decode_brief: a short libFuzzer run (~30 s) of tests/fuzz/fuzz_decode.c,
# the Avro single-object and JSON Lines event decoders under
# ASan+UBSan+LeakSanitizer. Builds the `fuzz_decode` target of $DW_BUILD_DIR
# (clang, see the end of CMakeLists.txt), fuzzes a copy of tests/fuzz/corpus in
# $DW_TMP and fails on any crash, sanitizer report, leak or timeout; the
# reproducer (crash-*/leak-*/timeout-*) and its base64 are printed.
# Skipped (exit 77) when clang is not installed.
#
# Longer by hand (from the repository root, after building the target):
#   cmake --build build --target fuzz_decode
#   mkdir -p /tmp/fz && cp tests/fuzz/corpus/* /tmp/fz/
#   build/fuzz_decode -rss_limit_mb=2048 -max_total_time=3600 -jobs=2 -workers=2 \
#     -artifact_prefix=/tmp/fz- /tmp/fz
#   build/fuzz_decode /tmp/fz-crash-...      # replay one reproducer
# The first input byte chooses the decoder (even: Avro, odd: JSON). New
# interesting inputs can be minimized into the seed corpus with
#   build/fuzz_decode -merge=1 tests/fuzz/corpus /tmp/fz
source "$DW_SOURCE_DIR/tests/lib.sh"

if ! command -v clang >/dev/null 2>&1 && ! command -v clang-14 >/dev/null 2>&1; then
  echo "fuzz_decode_brief: clang not installed, skipped (deploy/install-deps.sh installs it)"
  exit 77
fi
: "${DW_BUILD_DIR:=$(dirname "$DW_BIN")}"
fuzz=$DW_BUILD_DIR/fuzz_decode
timeout 300 cmake --build "$DW_BUILD_DIR" --target fuzz_decode >"$DW_TMP/build.log" 2>&1 ||
  { cat "$DW_TMP/build.log" >&2; dw_fail "could not build the fuzz_decode target"; }
[ -x "$fuzz" ] || dw_fail "no $fuzz after building"

mkdir -p "$DW_TMP/corpus" "$DW_TMP/artifacts"
cp "$DW_SOURCE_DIR"/tests/fuzz/corpus/* "$DW_TMP/corpus/"
seeds=$(ls "$DW_TMP/corpus" | wc -l)
secs=${DW_FUZZ_SECONDS:-30}

# Every seed must pass on its own first (a regression in a known-good input
# is reported as such, not as a fuzzing find).
"$fuzz" -runs=0 "$DW_SOURCE_DIR/tests/fuzz/corpus" >"$DW_TMP/seeds.log" 2>&1 ||
  { tail -40 "$DW_TMP/seeds.log" >&2; dw_fail "a seed of tests/fuzz/corpus fails"; }

rc=0
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  timeout $((secs + 120)) "$fuzz" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$DW_TMP/artifacts/" "$DW_TMP/corpus" >"$DW_TMP/fuzz.log" 2>&1 || rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$DW_TMP/fuzz.log")
echo "fuzz_decode: ${runs:-?} inputs in ${secs}s from $seeds seeds, corpus now $(ls "$DW_TMP/corpus" | wc -l) (exit $rc)"
found=$(ls "$DW_TMP/artifacts")
if [ "$rc" -ne 0 ] || [ -n "$found" ] || grep -q 'ERROR: \(AddressSanitizer\|LeakSanitizer\|libFuzzer\)\|runtime error' "$DW_TMP/fuzz.log"; then
  grep -B2 -A30 'ERROR:\|runtime error' "$DW_TMP/fuzz.log" | head -60 >&2 || tail -40 "$DW_TMP/fuzz.log" >&2
  for f in "$DW_TMP"/artifacts/*; do
    [ -f "$f" ] && echo "reproducer $(basename "$f") (base64): $(base64 -w0 "$f")" >&2
  done
  dw_fail "fuzz_decode found a problem (exit $rc)"
fi
echo "fuzz_decode_brief: ok"
