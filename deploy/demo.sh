#!/usr/bin/env bash
# demo: the README's first command. Installs what is missing, builds, then
# runs `dossierwatch demo` (embedded broker + throwaway PostgreSQL + watch +
# simulate with the seed-letter preset), prints alerts and the commune
# ranking, and shuts everything down. Extra arguments go to `dossierwatch demo`
# (e.g. --keep-running).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target dossierwatch
exec ./build/dossierwatch demo "$@"
