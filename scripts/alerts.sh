#!/usr/bin/env bash
# Lantern's Prometheus alerting rules (deploy/prometheus/lantern-alerts.yml), checked with the
# real tools:
#
# 1. `promtool check rules`, then `promtool test rules` on lantern-alerts.test.yml (each alert
#    fires where it should and stays quiet where it should not, on made-up series);
# 2. a real Prometheus scraping a real `lantern serve --demo` every second with the rules
#    loaded (scripts/alerts/e2e.py): the scrape parses, every metric a rule names is exported,
#    and a campaign whose budget is spent by two shoppers' claims puts LanternBudgetExhausted in
#    Prometheus's alerts for that campaign, and for no other; a backup clears
#    LanternBackupStale; the Grafana dashboard (deploy/grafana/lantern-dashboard.json) lays out
#    on Grafana's grid and each of its panels' queries returns series from this Prometheus;
#    then the gateway is killed (SIGKILL) and LanternDown goes pending for it.
#
# Installs Debian's prometheus package (Prometheus and promtool) when either is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/demo-server.sh

rules="deploy/prometheus/lantern-alerts.yml"
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    echo "== alerts: installing Prometheus and promtool (apt-get install prometheus)"
    if [[ $(id -u) -eq 0 ]]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
    # The package's service is not started: there is no init system here, and the test starts
    # its own Prometheus.
    "${apt_get[@]}" install -y --no-install-recommends prometheus >/dev/null \
        || { "${apt_get[@]}" update >/dev/null && "${apt_get[@]}" install -y --no-install-recommends prometheus >/dev/null; }
fi

echo "== alerts: promtool check rules and the rules' unit tests"
promtool check rules "$rules"
promtool test rules deploy/prometheus/lantern-alerts.test.yml

echo "== alerts: the dashboard checks' own tests"
python3 scripts/alerts/test_e2e.py

echo "== alerts: building lantern"
cargo build --locked --quiet -p lantern --bin lantern
lantern="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug/lantern"

make_work_dir lantern-alerts
# Order webhooks on (to a closed port: no ACP order is made, so nothing is sent), so the gateway
# exports the webhook metrics a rule and the dashboard read.
start_demo_server LANTERN_ACP__WEBHOOK_URL=http://127.0.0.1:9/order_events \
    LANTERN_WEBHOOK_SECRET=alerts-e2e-webhook-secret-0123456789

prometheus_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $(pwd)/$rules
scrape_configs:
  - job_name: lantern
    static_configs:
      - targets: ["$address"]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prometheus_port" >"$work/prometheus.log" 2>&1 &
prometheus_pid=$!
stop_all() {
    kill "$prometheus_pid" 2>/dev/null || true
    wait "$prometheus_pid" 2>/dev/null || true
    stop_demo_server
}
trap stop_all EXIT

echo "== alerts: a real Prometheus (127.0.0.1:$prometheus_port) scraping lantern serve --demo ($address)"
status=0
python3 scripts/alerts/e2e.py \
    --prometheus "http://127.0.0.1:$prometheus_port" \
    --lantern "http://$address" \
    --rules "$rules" \
    --dashboard deploy/grafana/lantern-dashboard.json \
    --operator-token "$("$lantern" token operator --data "$work/data" --ttl-s 600)" \
    --shopper-tokens "$("$lantern" token shopper shp_31 --data "$work/data" --ttl-s 600),$("$lantern" token shopper shp_32 --data "$work/data" --ttl-s 600)" \
    || status=$?
failed=()
check_demo_server
if [[ $status -eq 0 && ${#failed[@]} -eq 0 ]]; then
    # The alert that matters most: a gateway that dies.
    kill -9 "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    python3 scripts/alerts/e2e.py --prometheus "http://127.0.0.1:$prometheus_port" --lantern "http://$address" --down \
        || status=$?
fi
if [[ $status -ne 0 || ${#failed[@]} -gt 0 ]]; then
    echo "alerts: FAILED (Prometheus's log follows)" >&2
    tail -20 "$work/prometheus.log" >&2
    exit 1
fi
echo "alerts: passed"
