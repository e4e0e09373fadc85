#!/usr/bin/env bash
# check_headers: every system header the code includes (#include <...>) must
# come, by dpkg -S, from a package that deploy/install-deps.sh names, so a
# fresh Debian 12 machine that runs install-deps.sh can build everything (a
# header that an already-used machine happened to have is how uthash-dev was
# once missed). Headers are resolved by the compiler itself, with the
# include paths pkg-config gives for the libraries CMake uses. Also checks
# the layering the compiler cannot see (librdkafka's header is on the
# default path): no I/O library in the engine or the base layers.
# Run by deploy/test.sh before the build; exit 1 naming each problem.
#   bash tests/static/check_headers.sh [--deps FILE]   (default: deploy/install-deps.sh)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
deps=$top/deploy/install-deps.sh
[ "${1:-}" = --deps ] && deps=$2
cc=${CC:-cc}
fail=0

# the packages install-deps.sh names (its `packages=( ... )` list)
named=$(sed -n '/^packages=(/,/^)/p' "$deps" | sed 's/#.*//; s/packages=(//; s/)//' | tr -s ' \t' '\n' | sed '/^$/d' | sort -u)
[ -n "$named" ] || { echo "check_headers: no packages=( ... ) list in $deps" >&2; exit 1; }

cflags=""
for pc in rdkafka avro-c libpq jansson cmocka libxxhash libmicrohttpd libcurl yaml-0.1 libdeflate nettle; do
  cflags+=" $(pkg-config --cflags "$pc" 2>/dev/null || true)"
done

# every <header> in our sources (not the generated ones), with where it is
mapfile -t incs < <(cd "$top" && grep -rhoE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<[^>]+>' \
  common consumers producers tests --include='*.c' --include='*.h' | sed -E 's/.*<([^>]+)>.*/\1/' | sort -u)
declare -A owner
paths=()
for h in "${incs[@]}"; do
  # shellcheck disable=SC2086
  p=$(printf '#include <%s>\n' "$h" | "$cc" -E -M -x c - $cflags -D_GNU_SOURCE 2>/dev/null |
    tr ' \\' '\n\n' | grep -F "/$h" | head -n1 || true)
  if [ -z "$p" ]; then
    echo "check_headers: <$h> is included but not found on this machine (which package provides it? add it to $deps)"
    fail=1
    continue
  fi
  p=$(readlink -f "$p")
  owner[$h]=$p
  paths+=("$p")
done
# dpkg -S: "package[, package]: path" per path
declare -A pkg_of
while IFS= read -r line; do
  path=${line##*: }
  pkgs=${line%%: *}
  pkg_of[$path]=$pkgs
done < <(dpkg -S "${paths[@]}" 2>/dev/null || true)
for h in "${!owner[@]}"; do
  p=${owner[$h]}
  pkgs=${pkg_of[$p]:-}
  if [ -z "$pkgs" ]; then
    # dpkg records the path it unpacked, which may be a symlinked one
    alt=$(dpkg -S "*${p#/usr}" 2>/dev/null | head -n1 || true)
    pkgs=${alt%%: *}
  fi
  if [ -z "$pkgs" ]; then
    echo "check_headers: <$h> ($p) belongs to no Debian package: install it from a package named in $deps"
    fail=1
    continue
  fi
  ok=0
  for pk in ${pkgs//,/ }; do
    pk=${pk%%:*} # drop an :amd64 suffix
    grep -qx -- "$pk" <<<"$named" && ok=1
  done
  if [ $ok = 0 ]; then
    echo "check_headers: <$h> comes from package $pkgs, which $deps does not name"
    fail=1
  fi
done

# layering: the engine and the base layers do no I/O of these kinds
for dir in consumers/engine common/base common/model common/calendar; do
  bad=$(cd "$top" && grep -rnE '#[[:space:]]*include[[:space:]]*<(librdkafka/|libpq|avro|jansson|microhttpd|curl/|yaml)' \
    "$dir" --include='*.c' --include='*.h' || true)
  if [ -n "$bad" ]; then
    echo "check_headers: $dir must not use librdkafka, libpq, avro-c, jansson, libmicrohttpd, libcurl or libyaml:"
    echo "$bad"
    fail=1
  fi
done
[ $fail = 0 ] && echo "check_headers: ${#incs[@]} system headers, each from a package install-deps.sh names; layering ok"
exit $fail
