#!/usr/bin/env bash
# faults_late_events: the fault suite of faults_mixed.sh with late *new*
# events (the last third of the slice shuffled, CONTRACT §2 allows out-of-order
# delivery): after brokers down, PostgreSQL killed and watch SIGKILLed, the
# final archive, aggregates, dossier states, DLQ and open alerts equal a clean
# run's. (Regression test: aggregates and open alerts used to differ because
# a late event could find its dossier already evicted and rebuild it.)
set -euo pipefail
export DW_FAULTS_LATE_EVENTS=1
exec bash "$(dirname "$0")/faults_mixed.sh"
