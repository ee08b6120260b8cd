#!/usr/bin/env bash
# The web pages in a real browser: Debian's chromium (installed with apt-get when missing) driven
# by playwright-core (pinned in tests/browser/package-lock.json, installed with npm ci), against
# `lantern serve --demo` on free loopback ports over temporary data directories (the tests start
# their own gateways). Screenshots at phone and desktop sizes go to target/browser-artifacts/.
#
# Environment: LANTERN_BIN (default: the debug build, built here), CHROMIUM_BIN
# (/usr/bin/chromium), BROWSER_TIMEOUT_S (whole run, default 300).
set -euo pipefail
cd "$(dirname "$0")/.."

timeout_s="${BROWSER_TIMEOUT_S:-300}"

echo "== browser: chromium (and a Chinese font, so the screenshots show the Chinese text)"
packages=()
[[ -x "${CHROMIUM_BIN:-/usr/bin/chromium}" ]] || packages+=(chromium)
[[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ]] || packages+=(fonts-wqy-zenhei)
if [[ ${#packages[@]} -gt 0 ]]; then
    if [[ $(id -u) -eq 0 ]]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
    export DEBIAN_FRONTEND=noninteractive
    "${apt_get[@]}" install -y --no-install-recommends "${packages[@]}" >/dev/null \
        || { "${apt_get[@]}" update >/dev/null && "${apt_get[@]}" install -y --no-install-recommends "${packages[@]}" >/dev/null; }
fi
"${CHROMIUM_BIN:-/usr/bin/chromium}" --version

echo "== browser: playwright-core (npm ci)"
if ! (cd tests/browser && node -e "process.exit(require('./node_modules/playwright-core/package.json').version === require('./package.json').devDependencies['playwright-core'] ? 0 : 1)" 2>/dev/null); then
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "== browser: building lantern"
target_dir="${CARGO_TARGET_DIR:-target}"
[[ "$target_dir" = /* ]] || target_dir="$PWD/$target_dir"
if [[ -z "${LANTERN_BIN:-}" ]]; then
    cargo build --locked --quiet -p lantern --bin lantern
    export LANTERN_BIN="$target_dir/debug/lantern"
fi
export BROWSER_ARTIFACTS="$target_dir/browser-artifacts"
rm -rf "$BROWSER_ARTIFACTS"
mkdir -p "$BROWSER_ARTIFACTS"

echo "== browser: tests (screenshots in $BROWSER_ARTIFACTS)"
cd tests/browser
timeout "$timeout_s" node --test --test-concurrency=1 --test-reporter=spec ./*.test.mjs
