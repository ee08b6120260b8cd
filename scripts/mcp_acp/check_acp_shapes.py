"""A real ACP checkout at a demo shop, every answer checked against the ACP JSON Schema.

Schemathesis (scripts/mcp-acp.sh) generates item ids that name no shop, so its sessions are
mostly refusals; this walk makes sessions that exist, at a shop with an address, so the parts
only a real session has (the pickup option, its selection, the order) are checked against the
protocol's own schema (`../shared/specs/acp-2026-04-17/json-schema`), which refuses unknown
fields.

Usage: python check_acp_shapes.py BASE_URL SHOPPER_TOKEN SCHEMA_JSON
Exits 1, naming each mismatch, when an answer is not in the schema's shape or not as expected.
"""

import json
import sys
import urllib.error
import urllib.request

import jsonschema_rs

base, token, schema_path = sys.argv[1], sys.argv[2], sys.argv[3]
with open(schema_path, encoding="utf-8") as file:
    definitions = json.load(file)["$defs"]
problems = []


def post(path, body, key):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "API-Version": "2026-04-17",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as refusal:
        return refusal.code, json.load(refusal)


def conforms(what, answer, definition):
    validator = jsonschema_rs.validator_for({"$ref": f"#/$defs/{definition}", "$defs": definitions})
    for error in validator.iter_errors(answer):
        problems.append(f"{what}: not a {definition}: {error}")


def expect(what, condition):
    if not condition:
        problems.append(what)


status, session = post("/checkout_sessions", {"line_items": [{"id": "mer_1/itm_101", "quantity": 2}]}, "shape-1")
expect(f"create answered {status}, not 201: {session}", status == 201)
conforms("create", session, "CheckoutSession")
options = session.get("fulfillment_options", [])
expect(f"the demo shop offers pickup: {options}", [o.get("type") for o in options] == ["pickup"])
selected = session.get("selected_fulfillment_options", [])
expect(f"pickup is selected: {selected}", [s.get("option_id") for s in selected] == ["pickup_mer_1"])
# scripts/mcp-acp.sh configures two policy pages (acp.links).
links = [(link.get("type"), link.get("url")) for link in session.get("links", [])]
expect(f"the configured policy links: {links}", links == [
    ("privacy_policy", "https://lantern.example/privacy"),
    ("terms_of_use", "https://lantern.example/terms"),
])

wrong = {"selected_fulfillment_options": [{"type": "shipping", "option_id": "ship_01", "item_ids": []}]}
status, refusal = post(f"/checkout_sessions/{session['id']}", wrong, "shape-2")
expect(f"a selection not offered answered {status}, not 400", status == 400)
conforms("refused update", refusal, "Error")

pay = {"payment_data": {"purchase_order_number": "pay_at_pickup"}}
status, completed = post(f"/checkout_sessions/{session['id']}/complete", pay, "shape-3")
expect(f"complete answered {status}, not 200: {completed}", status == 200)
conforms("complete", completed, "CheckoutSessionWithOrder")

if problems:
    for problem in problems:
        print(f"acp shapes: {problem}", file=sys.stderr)
    sys.exit(1)
print("ok a real ACP checkout (create with pickup and policy links, a refused selection, complete) matches the ACP JSON Schema")
