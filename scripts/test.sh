#!/usr/bin/env bash
# The whole test suite, as the README's test command and CI run it: the Rust tests, then the
# suites that drive Lantern from outside with real clients (each installs what it needs, into
# target/ or from Debian's packages, and starts its own servers on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/postgres.sh  # PostgreSQL binaries for the tests of nodes over PostgreSQL
echo "== cargo test"
cargo test --workspace --locked
echo "== schemathesis against our own /openapi.json (no 5xx, answers match the schema)"
bash scripts/schemathesis.sh
echo "== the web pages in a real browser (chromium + playwright-core)"
bash scripts/browser.sh
echo "== MCP (the official Python SDK, stdio and Streamable HTTP) and ACP (schemathesis on its OpenAPI file)"
bash scripts/mcp-acp.sh
echo "== the alerting rules: promtool's checks and unit tests, then a real Prometheus scraping a real gateway"
bash scripts/alerts.sh
echo "== the surge, scaled down: 200,000 orders in-process and 200,000 over HTTP, audited (scripts/surge-ci.sh)"
bash scripts/surge-ci.sh
