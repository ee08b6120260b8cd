#!/usr/bin/env bash
# The scaled-down surge of CI: spring-festival, the whole 9-hour curve, first in-process (the
# engine alone) at scale 0.02 (200,000 orders from 160,000 shoppers at 6,000 outlets), then over
# HTTP against a `lantern serve` child with admission control, each followed by the audit of its
# store. Any broken invariant fails the script (lantern surge exits non-zero).
# Over HTTP a debug gateway sustains a few thousand orders a second on this 2-core machine, so
# the HTTP part's 200,000 orders take 80 to 120 s (the whole script took 137 s with the debug
# binary built); SURGE_CI_HTTP_SCALE=0.005 (50,000) for a quicker local run.
# Reuses the debug binary `cargo test` built; the reports land in target/surge-ci/.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --locked -p lantern
bin="$target/debug/lantern"
out="$target/surge-ci"
rm -rf "$out"
mkdir -p "$out"
started=$(date +%s)
echo "-- in-process"
"$bin" surge --in-process --scale 0.02 --seed 7 --out "$out/in-process" --json | tee "$out/in-process.log" | grep -v '^{'
echo "-- over HTTP"
# A debug gateway answers in tens of milliseconds, so its adaptive limit targets 500 ms instead
# of release's 50 ms, and a queued request due within a second waits in the gateway rather than
# costing a ticket, a poll and a repeat; 60 s of wall clock is past what a debug build
# sustains, so the spikes still meet the waiting room.
"$bin" surge --http --scale "${SURGE_CI_HTTP_SCALE:-0.02}" --seed 7 --wall-s 60 \
  --server-env LANTERN_ADMISSION__TARGET_LATENCY_MS=500 \
  --server-env LANTERN_WAITING_ROOM__LINE_WAIT_MS=1000 \
  --out "$out/http" --json | tee "$out/http.log" | grep -v '^{'
for run in "in-process 0.02" "http ${SURGE_CI_HTTP_SCALE:-0.02}"; do
  set -- $run
  tail -1 "$out/$1.log" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["audit_passed"] and r["orders"]>=int(float(sys.argv[1])*10_000_000), r; print("audit passed:", r["runs"][0]["label"], r["runs"][0]["summary"]["admitted"], "orders placed")' "$2"
done
# Over HTTP, shoppers turned away from a busy shop take a nearby one the gateway offered.
tail -1 "$out/http.log" | python3 -c 'import json,sys; s=json.load(sys.stdin)["runs"][0]["summary"]; assert 0 < s["switched_to_nearby"] <= s["switched_shop"], s; print("nearby shops taken:", s["switched_to_nearby"], "of", s["switched_shop"], "shoppers who turned to another shop")'
echo "surge CI took $(( $(date +%s) - started )) s"
