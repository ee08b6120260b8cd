#!/usr/bin/env bash
# Property-based API tests with schemathesis (from PyPI) against the gateway's own /openapi.json:
# no 5xx, and every answer's status, content type, headers and body as the document says.
#
# Builds `lantern`, starts `lantern serve --demo` on a free loopback port over a temporary data
# directory (rate limits raised so the fuzzer is not simply told to slow down), mints a token per
# role with `lantern token`, runs schemathesis once per tag with that role's token, stops the
# server and exits non-zero if any run failed.
#
# Environment: SCHEMATHESIS_VERSION (pinned below), SCHEMATHESIS_SEED (fixed by default so CI is
# reproducible; set another to explore), SCHEMATHESIS_EXAMPLES (per operation and phase),
# SCHEMATHESIS_TIMEOUT_S (per run). The virtual environment lives in target/py.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${SCHEMATHESIS_VERSION:-4.32.5}"
seed="${SCHEMATHESIS_SEED:-20260206}"
examples="${SCHEMATHESIS_EXAMPLES:-200}"
timeout_s="${SCHEMATHESIS_TIMEOUT_S:-150}"
venv="target/py"

source scripts/lib/demo-server.sh
echo "== schemathesis: python environment ($venv, schemathesis $version)"
ensure_schemathesis "$version"
st="$PWD/$venv/bin/st"
"$st" --version

echo "== schemathesis: building lantern"
cargo build --locked --quiet -p lantern --bin lantern
lantern="${CARGO_TARGET_DIR:-target}/debug/lantern"

make_work_dir lantern-schemathesis

echo "== schemathesis: starting lantern serve --demo"
start_demo_server LANTERN_WAITING_ROOM__LONG_POLL_MS=1000 LANTERN_LIMITS__SSE_LIFETIME_MS=2000

token() { "$lantern" token "$@" --data "$work/data" --ttl-s 3600; }
operator_token="$(token operator)"
merchant_token="$(token merchant mer_1)"
shopper_token="$(token shopper shp_1)"

failed=()
run() {
    local tag="$1" bearer="$2"
    echo "== schemathesis: tag $tag"
    local status=0
    # From the temporary directory, so that schemathesis' cache (.schemathesis/) stays there.
    (cd "$work" && timeout "$timeout_s" "$st" run "http://$address/openapi.json" \
        --include-tag "$tag" \
        --header "Authorization: Bearer $bearer" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
        --phases examples,coverage,fuzzing,stateful \
        --max-examples "$examples" \
        --seed "$seed" \
        --generation-database none \
        --request-timeout 10 \
        --wait-for-schema 30 \
        --no-color) || status=$?
    if [[ $status -ne 0 ]]; then
        failed+=("$tag (exit $status)")
    fi
}
run system "$shopper_token"
run shopper "$shopper_token"
run merchant "$merchant_token"
run operator "$operator_token"

check_demo_server

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "schemathesis: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "schemathesis: every run passed"
