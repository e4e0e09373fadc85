#!/usr/bin/env bash
# avro_python_crosscheck: our Avro output must be readable by another Avro
# implementation. tests/unit/test_codec (DW_CODEC_DUMP_DIR set) writes
# single-object messages of all 15 event types, a container file, an alert
# and an aggregate row; Debian's python3-avro (/usr/bin/python3) decodes them
# with the schemas in schemas/ (checking magic and fingerprint itself) and
# compares every field with the expected events. python3-avro is installed
# by deploy/install-deps.sh, so its absence is a failure, not a skip.
set -euo pipefail

src="${DW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
build="${DW_BUILD_DIR:-$src/build}"
bin="$build/test_codec"
py=/usr/bin/python3

if ! "$py" -c 'import avro.io, avro.datafile' 2>/dev/null; then
  echo "FAIL: python3-avro not installed for $py (run deploy/install-deps.sh)" >&2
  exit 1
fi
if [[ ! -x "$bin" ]]; then
  echo "FAIL: $bin not built (cmake --build ... --target test_codec)" >&2
  exit 1
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/dw_avro_xcheck.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT INT TERM

DW_SOURCE_DIR="$src" DW_CODEC_DUMP_DIR="$tmp" DW_CODEC_FUZZ_N=100 DW_CODEC_BENCH_N=100 TMPDIR="$tmp" \
  "$bin" >"$tmp/test_codec.log" 2>&1 || { cat "$tmp/test_codec.log" >&2; echo "FAIL: test_codec" >&2; exit 1; }
for f in expected.jsonl messages.bin events.avro alert.bin aggregate.bin; do
  [[ -s "$tmp/$f" ]] || { echo "FAIL: test_codec did not write $f" >&2; exit 1; }
done

"$py" "$src/tests/integration/avro_crosscheck.py" decode "$src" "$tmp"
echo "PASS: python3-avro reads our single-object messages and container file"
