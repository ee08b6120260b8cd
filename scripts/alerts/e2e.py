"""Lantern's alerting rules in a real Prometheus, scraping a real gateway (scripts/alerts.sh).

Checks, in order, each with a deadline:
  1. Prometheus scrapes the gateway: `up{job="lantern"}` is 1 and the target has no error
     (so Prometheus's own parser takes our /metrics);
  2. every `lantern_*` metric the rules name is among the series Prometheus holds;
  3. with the demo's one campaign far from spent, no budget alert is pending or firing, and
     nothing says the gateway is down or failing; the never-backed-up gateway's
     LanternBackupStale is pending (its `for` is 30 minutes);
  4. an operator creates a campaign of two 25-yuan coupons, two shoppers claim them, and
     LanternBudgetExhausted goes pending or firing for that campaign and no other;
  5. with --dashboard (the Grafana dashboard, deploy/grafana/lantern-dashboard.json): the
     operator takes a backup and LanternBackupStale clears; the dashboard holds together as
     Grafana lays it out (unique ids, panels inside the 24-column grid and not overlapping,
     every panel on the `datasource` variable, every `$variable` defined); and each panel's
     queries, with Grafana's variables filled in, run in Prometheus and return series.
With --down (after scripts/alerts.sh has killed the gateway): LanternDown goes pending for it.
Only the standard library: it runs on the machine's python3.
"""

import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DEADLINE_S = 30


def fail(message):
    print(f"alerts e2e: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def request(url, *, token=None, key=None, body=None, method=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method or ("GET" if data is None else "POST"))
    if token:
        req.add_header("authorization", f"Bearer {token}")
    if key:
        req.add_header("idempotency-key", key)
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def prometheus(base, path, **params):
    url = f"{base}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    status, body = request(url)
    if status != 200 or body.get("status") != "success":
        raise RuntimeError(f"GET {path} answered {status}: {body}")
    return body["data"]


def wait_for(what, check):
    """Polls `check` (returns (done, what it saw)) until done or the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    seen = None
    while time.monotonic() < deadline:
        try:
            done, seen = check()
        except (RuntimeError, OSError, ValueError) as error:
            done, seen = False, repr(error)
        if done:
            return seen
        time.sleep(0.5)
    fail(f"{what} within {DEADLINE_S} s; last seen: {seen}")


def alerts(base):
    return prometheus(base, "/api/v1/alerts")["alerts"]


def named(all_alerts, name):
    return [alert for alert in all_alerts if alert["labels"].get("alertname") == name]


# What Grafana fills in for its own variables when the test runs a panel's query in Prometheus.
GRAFANA_GLOBALS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}
GRID_COLUMNS = 24


def lint_dashboard(dashboard):
    """What Grafana needs of the dashboard to lay it out and run it; returns the panels with
    queries."""
    for key in ["uid", "title", "schemaVersion", "panels", "templating"]:
        if key not in dashboard:
            fail(f"the dashboard has no {key!r}")
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    if variables.get("datasource", {}).get("query") != "prometheus":
        fail("the dashboard's `datasource` variable must pick a Prometheus data source")
    ids, boxes, queried = set(), [], []
    for panel in dashboard["panels"]:
        where = f"panel {panel.get('id')} ({panel.get('title')!r})"
        if panel.get("id") in ids:
            fail(f"{where}: its id is used twice")
        ids.add(panel.get("id"))
        if not panel.get("title"):
            fail(f"{where}: no title")
        grid = panel.get("gridPos", {})
        x, y, w, h = (grid.get(key) for key in "xywh")
        if None in (x, y, w, h) or x < 0 or y < 0 or w < 1 or h < 1 or x + w > GRID_COLUMNS:
            fail(f"{where}: gridPos {grid} is outside Grafana's {GRID_COLUMNS}-column grid")
        for other, (ox, oy, ow, oh) in boxes:
            if x < ox + ow and ox < x + w and y < oy + oh and oy < y + h:
                fail(f"{where} overlaps {other}")
        boxes.append((where, (x, y, w, h)))
        if panel["type"] == "row":
            continue
        if panel["type"] not in ("stat", "timeseries"):
            fail(f"{where}: type {panel['type']!r} is not one this dashboard uses")
        if not panel.get("description"):
            fail(f"{where}: no description (the operator reads it on hover)")
        if panel.get("datasource", {}).get("uid") != "${datasource}":
            fail(f"{where}: not on the `datasource` variable, so it breaks on another Prometheus")
        ref_ids = [target.get("refId") for target in panel.get("targets", [])]
        if not ref_ids or len(set(ref_ids)) != len(ref_ids):
            fail(f"{where}: its queries need distinct refIds, and at least one")
        for target in panel["targets"]:
            for name in re.findall(r"\$\{?(\w+)", target["expr"]):
                if name not in variables and name not in GRAFANA_GLOBALS:
                    fail(f"{where}: ${name} is neither a dashboard variable nor one of Grafana's")
            queried.append((where, target["expr"]))
    return variables, queried


def check_dashboard(base, path, instance):
    with open(path, encoding="utf-8") as file:
        dashboard = json.load(file)
    variables, queried = lint_dashboard(dashboard)
    picker = variables["instance"]["definition"]
    metric = re.fullmatch(r"label_values\((\w+), instance\)", picker)
    if not metric:
        fail(f"the `instance` variable's query is not label_values(METRIC, instance): {picker}")
    instances = prometheus(base, "/api/v1/label/instance/values", **{"match[]": metric.group(1)})
    if instance not in instances:
        fail(f"the `instance` picker ({picker}) lists {instances}, not the gateway {instance}")
    fill = dict(GRAFANA_GLOBALS, instance=variables["instance"]["allValue"], datasource="")
    for where, expr in queried:
        query = re.sub(r"\$\{?(\w+)\}?", lambda name: fill[name.group(1)], expr)
        result = prometheus(base, "/api/v1/query", query=query)["result"]
        if not result:
            fail(f"{where}: {query} returned no series from a gateway that exports every metric")
    print(f"  dashboard: {len(dashboard['panels'])} panels laid out, {len(queried)} queries run, each with series")


def take_backup(args):
    """Takes a backup through the operator API; LanternBackupStale must clear."""
    status, body = request(
        f"{args.lantern}/v1/ops/backups", token=args.operator_token, key="alerts-e2e-backup", body={}
    )
    if status != 202:
        fail(f"starting a backup answered {status}: {body}")

    def backed_up():
        result = prometheus(args.prometheus, "/api/v1/query", query="lantern_backup_last_done_timestamp_seconds > 0")
        stale = named(alerts(args.prometheus), "LanternBackupStale")
        return bool(result) and not stale, (result, stale)

    wait_for("LanternBackupStale clearing after a backup", backed_up)
    print("  backup taken: LanternBackupStale cleared")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prometheus", required=True)
    parser.add_argument("--lantern", required=True)
    parser.add_argument("--rules")
    parser.add_argument("--operator-token")
    parser.add_argument("--shopper-tokens", help="two, comma-separated")
    parser.add_argument("--dashboard", help="the Grafana dashboard to check against the live Prometheus")
    parser.add_argument("--down", action="store_true", help="the gateway was killed: expect LanternDown")
    args = parser.parse_args()
    base = args.prometheus
    if args.down:
        instance = args.lantern.removeprefix("http://")

        def down():
            seen = named(alerts(base), "LanternDown")
            return [alert["labels"].get("instance") for alert in seen] == [instance], seen

        alert = wait_for(f"LanternDown for {instance}", down)[0]
        print(f"  LanternDown {alert['state']} for {instance} after the gateway was killed")
        return
    if not (args.rules and args.operator_token and args.shopper_tokens):
        parser.error("--rules, --operator-token and --shopper-tokens are needed without --down")

    def scraped():
        result = prometheus(base, "/api/v1/query", query='up{job="lantern"}')["result"]
        targets = prometheus(base, "/api/v1/targets")["activeTargets"]
        errors = [target.get("lastError") for target in targets if target.get("lastError")]
        return bool(result) and result[0]["value"][1] == "1" and not errors, (result, errors)

    wait_for("Prometheus scraping the gateway with no error", scraped)
    print("  scraped: up{job=\"lantern\"} = 1, no scrape error")

    named_metrics = set()
    for path in [args.rules] + ([args.dashboard] if args.dashboard else []):
        with open(path, encoding="utf-8") as file:
            named_metrics |= set(re.findall(r"\blantern_[a-z_]+\b", file.read()))
    named_metrics = sorted(named_metrics)

    def all_named_held():
        held = set(prometheus(base, "/api/v1/label/__name__/values"))
        missing = [name for name in named_metrics if name not in held]
        return not missing, missing

    wait_for("every metric the rules and the dashboard name among Prometheus's series", all_named_held)
    print(f"  every metric the rules and the dashboard name is exported: {', '.join(named_metrics)}")

    def stale_backup_pending():
        seen = alerts(base)
        return bool(named(seen, "LanternBackupStale")), seen

    seen = wait_for("LanternBackupStale pending for a gateway that never took a backup", stale_backup_pending)
    for quiet in [
        "LanternDown",
        "LanternServerErrors",
        "LanternBudgetExhausted",
        "LanternBudgetRunsOutWithinAnHour",
        "LanternWebhooksNotDelivered",
    ]:
        if named(seen, quiet):
            fail(f"{quiet} is {named(seen, quiet)[0]['state']} on a healthy demo gateway: {seen}")
    print("  quiet: nothing down, failing or spent; LanternBackupStale pending (never backed up)")

    status, campaign = request(
        f"{args.lantern}/v1/campaigns",
        token=args.operator_token,
        key="alerts-e2e-campaign",
        body={
            "name": "alert drill",
            "budget": 5000,
            "template": "amount_off",
            "amount": 2500,
            "per_shopper_limit": 1,
            "starts_at": "2026-01-01T00:00:00Z",
            "ends_at": "2099-12-31T00:00:00Z",
        },
    )
    if status != 201:
        fail(f"creating the drill campaign answered {status}: {campaign}")
    campaign_id = campaign["id"]
    for n, token in enumerate(args.shopper_tokens.split(",")):
        status, claimed = request(
            f"{args.lantern}/v1/campaigns/{campaign_id}/claim",
            token=token,
            key=f"alerts-e2e-claim-{n}",
            method="POST",
        )
        if status not in (200, 201):
            fail(f"shopper {n} claiming {campaign_id} answered {status}: {claimed}")
    print(f"  campaign {campaign_id}: 5000 fen, two coupons of 2500 claimed")

    def exhausted():
        seen = named(alerts(base), "LanternBudgetExhausted")
        campaigns = sorted(alert["labels"].get("campaign") for alert in seen)
        return campaigns == [campaign_id], seen

    seen = wait_for(f"LanternBudgetExhausted for {campaign_id} alone", exhausted)
    alert = seen[0]
    if alert["labels"].get("severity") != "info" or campaign_id not in alert["annotations"].get("summary", ""):
        fail(f"the alert's labels or summary are not as the rules say: {alert}")
    print(f"  LanternBudgetExhausted {alert['state']} for {campaign_id}: {alert['annotations']['summary']}")

    if args.dashboard:
        take_backup(args)
        check_dashboard(base, args.dashboard, args.lantern.removeprefix("http://"))


if __name__ == "__main__":
    main()
