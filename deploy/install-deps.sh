#!/usr/bin/env bash
# install-deps: installs, from Debian's packages, whatever dossierwatch needs to
# build, test and run that is not on this machine yet. Idempotent; run as root
# (or through sudo). Both README commands run it first. Every system header
# the code includes must come from a package named here
# (tests/static/check_headers.sh checks it before every build of the tests).
set -euo pipefail

packages=(
  build-essential cmake pkg-config libc6-dev libgcc-12-dev
  librdkafka-dev libavro-dev libpq-dev libjansson-dev libcmocka-dev libxxhash-dev uthash-dev
  libmicrohttpd-dev libdeflate-dev nettle-dev libjs-chart.js libcurl4-openssl-dev
  postgresql postgresql-client
  kcat valgrind procps jq iproute2 xxd bc coreutils gawk
  python3 python3-avro python3-confluent-kafka python3-prometheus-client python3-aiosmtpd
  curl chromium fonts-dejavu-core libyaml-dev
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts a system-wide cluster on install; dossierwatch uses its own
# throwaway clusters, so the system one is neither needed nor touched.
echo "install-deps: all dependencies present"
