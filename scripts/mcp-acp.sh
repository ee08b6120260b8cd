#!/usr/bin/env bash
# Lantern's MCP server and Agentic Commerce Protocol checkout, driven by their real clients:
#
# 1. the official Python MCP SDK (`mcp` from PyPI, pinned) over stdio (`lantern mcp --demo`)
#    and over Streamable HTTP (`/mcp` of `lantern serve --demo`, with a shopper's bearer token),
#    each with the SDK's default and legacy protocol paths: list the tools, buy a bubble tea
#    with a coupon end to end (scripts/mcp_acp/test_mcp.py);
# 2. schemathesis against the ACP OpenAPI file (../shared/specs/acp-2026-04-17) pointed at
#    the same server: no 5xx, every answer's status, content type, headers and body as the
#    file says;
# 3. a real checkout at a demo shop (create with its pickup option, a refused selection,
#    complete), each answer checked against the ACP JSON Schema (scripts/mcp_acp/check_acp_shapes.py).
#
# The stateful walk (create -> update with codes -> complete -> the signed order webhook on a
# loopback receiver, replays and conflicting replays) is the Rust test `acp::` in
# crates/lantern-gateway/tests/it.
#
# Environment: MCP_VERSION and SCHEMATHESIS_VERSION (pinned below), SCHEMATHESIS_SEED,
# SCHEMATHESIS_EXAMPLES (per operation and phase), SCHEMATHESIS_TIMEOUT_S. Virtual
# environments: target/py-mcp (mcp) and target/py (schemathesis, shared with schemathesis.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/demo-server.sh

mcp_version="${MCP_VERSION:-2.3.0}"
st_version="${SCHEMATHESIS_VERSION:-4.32.5}"
seed="${SCHEMATHESIS_SEED:-20260417}"
examples="${SCHEMATHESIS_EXAMPLES:-60}"
timeout_s="${SCHEMATHESIS_TIMEOUT_S:-120}"
spec="../shared/specs/acp-2026-04-17/openapi/openapi.agentic_checkout.yaml"

if [[ ! -f "$spec" ]]; then
    echo "mcp-acp: the ACP OpenAPI file is missing: $spec (CI puts ../shared beside the clone)" >&2
    exit 1
fi

echo "== mcp-acp: python environments (mcp $mcp_version in target/py-mcp, schemathesis $st_version in target/py)"
if ! target/py-mcp/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('mcp') != '$mcp_version')" 2>/dev/null; then
    python3 -m venv target/py-mcp
    target/py-mcp/bin/pip install --quiet --disable-pip-version-check "mcp==$mcp_version"
fi
ensure_schemathesis "$st_version"

echo "== mcp-acp: building lantern"
cargo build --locked --quiet -p lantern --bin lantern
lantern="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug/lantern"

make_work_dir lantern-mcp-acp

echo "== mcp-acp: starting lantern serve --demo"
# Policy links, so the shape check sees them in a real session.
start_demo_server LANTERN_ACP__LINKS__TERMS_OF_USE=https://lantern.example/terms \
    LANTERN_ACP__LINKS__PRIVACY_POLICY=https://lantern.example/privacy

failed=()
echo "== mcp-acp: the Python MCP SDK over stdio and Streamable HTTP"
LANTERN_BIN="$lantern" \
LANTERN_MCP_URL="http://$address/mcp" \
LANTERN_TOKENS="$("$lantern" token shopper shp_2 --data "$work/data" --ttl-s 3600),$("$lantern" token shopper shp_4 --data "$work/data" --ttl-s 3600)" \
WORK_DIR="$work" \
    timeout 180 target/py-mcp/bin/python scripts/mcp_acp/test_mcp.py || failed+=("mcp sdk (exit $?)")

echo "== mcp-acp: schemathesis against the ACP OpenAPI file"
spec_path="$PWD/$spec"
st="$PWD/target/py/bin/st"
shopper_token="$("$lantern" token shopper shp_3 --data "$work/data" --ttl-s 3600)"
# Two passes. Valid requests (`positive`): every answer's status, content type, headers and
# body as the file says. Invalid ones (`negative`: missing headers, wrong types): no 5xx, and
# every answer still in the file's shapes; their status codes are not compared, because the
# file lists no 401 for a missing token and no 400 for some bad inputs, and those answers are
# the right ones.
st_run() {
    local mode="$1" checks="$2" status=0
    echo "-- schemathesis: $mode requests"
    # From the temporary directory, so that schemathesis' cache (.schemathesis/) stays there.
    (cd "$work" && timeout "$timeout_s" "$st" run "$spec_path" \
        --url "http://$address" \
        --header "Authorization: Bearer $shopper_token" \
        --header "API-Version: 2026-04-17" \
        --mode "$mode" \
        --checks "$checks" \
        --phases examples,coverage,fuzzing,stateful \
        --max-examples "$examples" \
        --seed "$seed" \
        --generation-database none \
        --request-timeout 10 \
        --no-color) || status=$?
    [[ $status -eq 0 ]] || failed+=("schemathesis $mode (exit $status)")
}
st_run positive not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance
st_run negative not_a_server_error,content_type_conformance,response_schema_conformance,response_headers_conformance

echo "== mcp-acp: a real ACP checkout against the ACP JSON Schema"
timeout 60 target/py/bin/python scripts/mcp_acp/check_acp_shapes.py "http://$address" \
    "$("$lantern" token shopper shp_5 --data "$work/data" --ttl-s 3600)" \
    "$PWD/../shared/specs/acp-2026-04-17/json-schema/schema.agentic_checkout.json" ||
    failed+=("acp shapes (exit $?)")

check_demo_server
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "mcp-acp: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "mcp-acp: every run passed"
