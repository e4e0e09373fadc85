#!/usr/bin/env bash
# fuzz_decode_brief: short libFuzzer runs (~30 s each) of the parsers that see
# untrusted bytes, under ASan+UBSan+LeakSanitizer:
#   fuzz_decode (tests/fuzz/fuzz_decode.c, seeds tests/fuzz/corpus): the Avro
#     single-object and JSON Lines event decoders;
#   fuzz_dvcqg (tests/fuzz/fuzz_dvcqg.c, seeds tests/fuzz/corpus-dvcqg): the
#     national portal's sync bodies (serve's POST /api/dvcqg/DongBoHoSoMC),
#     personal values never in any output;
#   fuzz_matcher (tests/fuzz/fuzz_matcher.c, seeds tests/fuzz/corpus-matcher):
#     notify's regular-expression matchers, each input compiled and matched
#     in under 2 s (-timeout) and 2 GB.
# Builds each target of $DW_BUILD_DIR (clang, see the end of CMakeLists.txt),
# fuzzes a copy of its corpus in $DW_TMP and fails on any crash, sanitizer
# report, leak or timeout; the reproducer (crash-*/leak-*/timeout-*) and its
# base64 are printed. Skipped (exit 77) when clang is not installed.
#
# Longer by hand (from the repository root, after building the target;
# fuzz_dvcqg and corpus-dvcqg alike):
#   cmake --build build --target fuzz_decode
#   mkdir -p /tmp/fz && cp tests/fuzz/corpus/* /tmp/fz/
#   build/fuzz_decode -rss_limit_mb=2048 -max_total_time=3600 -jobs=2 -workers=2 \
#     -artifact_prefix=/tmp/fz- /tmp/fz
#   build/fuzz_decode /tmp/fz-crash-...      # replay one reproducer
# fuzz_decode's first input byte chooses the decoder (even: Avro, odd: JSON).
# New interesting inputs can be minimized into the seed corpus with
#   build/fuzz_decode -merge=1 tests/fuzz/corpus /tmp/fz
source "$DW_SOURCE_DIR/tests/lib.sh"

if ! command -v clang >/dev/null 2>&1 && ! command -v clang-14 >/dev/null 2>&1; then
  echo "fuzz_decode_brief: clang not installed, skipped (deploy/install-deps.sh installs it)"
  exit 77
fi
: "${DW_BUILD_DIR:=$(dirname "$DW_BIN")}"
secs=${DW_FUZZ_SECONDS:-30}

# fuzz TARGET CORPUS [TIMEOUT]: build TARGET, check its seeds, fuzz it for
# $secs; an input taking more than TIMEOUT seconds (10) is a failure.
fuzz_one() {
  local target=$1 corpus=$DW_SOURCE_DIR/tests/fuzz/$2 fuzz=$DW_BUILD_DIR/$1 work=$DW_TMP/$1 limit=${3:-10}
  timeout 300 cmake --build "$DW_BUILD_DIR" --target "$target" >"$work.build.log" 2>&1 ||
    { cat "$work.build.log" >&2; dw_fail "could not build the $target target"; }
  [ -x "$fuzz" ] || dw_fail "no $fuzz after building"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp "$corpus"/* "$work/corpus/"
  local seeds
  seeds=$(ls "$work/corpus" | wc -l)
  # Every seed must pass on its own first (a regression in a known-good input
  # is reported as such, not as a fuzzing find).
  "$fuzz" -runs=0 -timeout="$limit" "$corpus" >"$work.seeds.log" 2>&1 ||
    { tail -40 "$work.seeds.log" >&2; dw_fail "a seed of tests/fuzz/$2 fails"; }
  local rc=0
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    timeout $((secs + 120)) "$fuzz" -max_total_time="$secs" -rss_limit_mb=2048 -timeout="$limit" -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work.log" 2>&1 || rc=$?
  local runs found
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work.log")
  echo "$target: ${runs:-?} inputs in ${secs}s from $seeds seeds, corpus now $(ls "$work/corpus" | wc -l) (exit $rc)"
  found=$(ls "$work/artifacts")
  if [ "$rc" -ne 0 ] || [ -n "$found" ] || grep -q 'ERROR: \(AddressSanitizer\|LeakSanitizer\|libFuzzer\)\|runtime error\|fuzz_dvcqg:' "$work.log"; then
    grep -B2 -A30 'ERROR:\|runtime error\|fuzz_dvcqg:' "$work.log" | head -60 >&2 || tail -40 "$work.log" >&2
    for f in "$work"/artifacts/*; do
      [ -f "$f" ] && echo "reproducer $(basename "$f") (base64): $(base64 -w0 "$f")" >&2
    done
    dw_fail "$target found a problem (exit $rc)"
  fi
}

fuzz_one fuzz_decode corpus
fuzz_one fuzz_dvcqg corpus-dvcqg
fuzz_one fuzz_matcher corpus-matcher 2
echo "fuzz_decode_brief: ok"
