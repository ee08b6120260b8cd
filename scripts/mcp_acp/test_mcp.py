"""Lantern's MCP server driven by the official Python MCP SDK (`mcp` from PyPI).

Run by scripts/mcp-acp.sh, which builds `lantern`, starts `lantern serve --demo` and passes:
  LANTERN_BIN      the debug binary (spawned here for stdio: `lantern mcp --demo`)
  LANTERN_MCP_URL  http://127.0.0.1:PORT/mcp of the running server
  LANTERN_TOKENS   two shoppers' bearer tokens for it, comma-separated (one per protocol path:
                   a shopper may hold one festival coupon)
  WORK_DIR         a scratch directory

Each transport (stdio, Streamable HTTP) and protocol path (the SDK's default `auto`, and
`legacy`, the initialize handshake) lists the tools and buys a bubble tea with a coupon end
to end: search -> coupons -> claim -> checkout with the code -> complete -> order status,
with replays and a conflicting replay of idempotency keys. Exits non-zero on any failure.
"""

import asyncio
import json
import logging
import os
import sys
import uuid

import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

EXPECTED_TOOLS = {
    "search_catalog", "get_item", "list_coupons", "claim_coupon",
    "create_checkout_session", "get_checkout_session", "update_checkout_session",
    "complete_checkout_session", "cancel_checkout_session",
    "get_order", "list_orders", "cancel_order",
}
META = {"api_version": "2026-04-17"}


def fail(message):
    raise AssertionError(message)


class Warnings(logging.Handler):
    """The SDK's own warnings (a failed session termination, say), kept to fail on."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


SDK_WARNINGS = Warnings()
logging.getLogger("mcp").addHandler(SDK_WARNINGS)


async def call(client, name, arguments, *, expect_error=False):
    result = await client.call_tool(name, arguments)
    data = result.structured_content
    if data is None:
        data = json.loads(result.content[0].text)
    if bool(result.is_error) != expect_error:
        fail(f"{name}({json.dumps(arguments, ensure_ascii=False)}) -> isError={result.is_error}: {json.dumps(data, ensure_ascii=False)[:600]}")
    return data


def total(session):
    return next(t["amount"] for t in session["totals"] if t["type"] == "total")


async def buy_bubble_tea(client, label):
    tools = await client.list_tools()
    names = {tool.name for tool in tools.tools}
    if names != EXPECTED_TOOLS:
        fail(f"{label}: tools {sorted(names)}")
    for tool in tools.tools:
        if len(tool.description or "") < 40:
            fail(f"{label}: {tool.name} has no useful description")
    create_schema = next(t for t in tools.tools if t.name == "create_checkout_session").input_schema
    if set(create_schema["required"]) != {"meta", "payload"}:
        fail(f"{label}: create_checkout_session takes {create_schema['required']}, not ACP's meta and payload")

    found = await call(client, "search_catalog", {"query": "珍珠奶茶 pearl milk tea", "limit": 5})
    tea = next((hit for hit in found["hits"] if "Pearl Milk Tea" in hit["name"]), None)
    if tea is None:
        fail(f"{label}: no pearl milk tea in {found}")
    item = await call(client, "get_item", {"item_id": tea["item_id"]})
    price = item["item"]["price"]

    coupons = await call(client, "list_coupons", {})
    campaign = next(c for c in coupons["campaigns"] if c["status"] == "active")
    claim_key = str(uuid.uuid4())
    claimed = await call(client, "claim_coupon", {"campaign_id": campaign["id"], "idempotency_key": claim_key})
    again = await call(client, "claim_coupon", {"campaign_id": campaign["id"], "idempotency_key": claim_key})
    if again["coupon"]["id"] != claimed["coupon"]["id"]:
        fail(f"{label}: a replayed claim gave another coupon")
    wallet = (await call(client, "list_coupons", {}))["wallet"]
    if not any(c["id"] == claimed["coupon"]["id"] for c in wallet):
        fail(f"{label}: the claimed coupon is not in the wallet")

    # Two teas, large with pearls; the campaign's id is its discount code.
    payload = {
        "currency": "cny", "capabilities": {},
        "line_items": [{"id": tea["item_id"] + "/2,30", "quantity": 2}],
        "discounts": {"codes": [campaign["id"]]},
    }
    create_key = str(uuid.uuid4())
    session = await call(client, "create_checkout_session", {"meta": {**META, "idempotency_key": create_key}, "payload": payload})
    if session["status"] != "ready_for_payment":
        fail(f"{label}: session {session}")
    subtotal = next(t["amount"] for t in session["totals"] if t["type"] == "subtotal")
    if subtotal != 2 * (price + 300 + 200):
        fail(f"{label}: subtotal {subtotal} for two large pearl teas at {price}")
    applied = session["discounts"]["applied"]
    if not applied or applied[0]["code"] != campaign["id"] or total(session) != subtotal - applied[0]["amount"]:
        fail(f"{label}: the coupon did not apply: {session['discounts']}")

    fetched = await call(client, "get_checkout_session", {"meta": META, "id": session["id"]})
    if total(fetched) != total(session):
        fail(f"{label}: get_checkout_session disagrees")

    pay = {"payment_data": {"purchase_order_number": "pay_at_pickup"}}
    complete_key = str(uuid.uuid4())
    completed = await call(client, "complete_checkout_session", {"meta": {**META, "idempotency_key": complete_key}, "id": session["id"], "payload": pay})
    order = completed["order"]
    if completed["status"] != "completed" or order["checkout_session_id"] != session["id"]:
        fail(f"{label}: completed {completed}")
    replay = await call(client, "complete_checkout_session", {"meta": {**META, "idempotency_key": complete_key}, "id": session["id"], "payload": pay})
    if replay["order"]["id"] != order["id"]:
        fail(f"{label}: a replayed complete placed another order")
    conflict = await call(
        client, "complete_checkout_session",
        {"meta": {**META, "idempotency_key": complete_key}, "id": session["id"], "payload": {"payment_data": {"purchase_order_number": "x"}}},
        expect_error=True,
    )
    if conflict["code"] != "idempotency_conflict":
        fail(f"{label}: conflicting replay answered {conflict}")
    missing_key = await call(client, "create_checkout_session", {"meta": META, "payload": payload}, expect_error=True)
    if missing_key["code"] != "idempotency_key_required":
        fail(f"{label}: a write without a key answered {missing_key}")

    status = await call(client, "get_order", {"order_id": order["id"]})
    if status["total"] != total(session) or status["discount"] != applied[0]["amount"]:
        fail(f"{label}: order {status}")
    # A second order, one plain tea without a coupon, so that the shopper's list has two pages
    # of one to walk.
    plain = {"currency": "cny", "capabilities": {}, "line_items": [{"id": tea["item_id"], "quantity": 1}]}
    second = await call(client, "create_checkout_session", {"meta": {**META, "idempotency_key": str(uuid.uuid4())}, "payload": plain})
    second = await call(client, "complete_checkout_session", {"meta": {**META, "idempotency_key": str(uuid.uuid4())}, "id": second["id"], "payload": pay})
    second = second["order"]
    orders = await call(client, "list_orders", {})
    ids = [o["id"] for o in orders["orders"]]
    if ids[:2] != [second["id"], order["id"]] or len(set(ids)) != len(ids):
        fail(f"{label}: the two orders are not listed once each, newest first: {ids}")
    newest = await call(client, "list_orders", {"limit": 1})
    if [o["id"] for o in newest["orders"]] != [second["id"]] or not newest["has_more"]:
        fail(f"{label}: a page of one is not the newest order with more to come: {newest}")
    rest = await call(client, "list_orders", {"starting_after": newest["next_starting_after"]})
    if [o["id"] for o in rest["orders"]] != ids[1:]:
        fail(f"{label}: the page after the newest is not the rest: {rest}")
    older = await call(client, "list_orders", {"starting_after": order["id"]})
    if any(o["id"] in (order["id"], second["id"]) for o in older["orders"]):
        fail(f"{label}: the page after an order lists it or a newer one: {older}")
    print(f"ok {label}: {len(names)} tools; bought 2 pearl milk teas for {total(session)} fen "
          f"(coupon {campaign['id']} took {applied[0]['amount']}), order {order['id']}")


async def main():
    lantern = os.environ["LANTERN_BIN"]
    url = os.environ["LANTERN_MCP_URL"]
    tokens = os.environ["LANTERN_TOKENS"].split(",")
    work = os.environ["WORK_DIR"]

    for number, mode in enumerate(["auto", "legacy"], start=1):
        params = StdioServerParameters(
            command=lantern,
            args=["mcp", "--demo", "--data", os.path.join(work, f"stdio-{mode}"), "--shopper", f"shp_{40 + number}"],
            # LANTERN_<KEY> variables configure lantern; this test's own are not for it.
            env={**{k: v for k, v in os.environ.items() if not k.startswith("LANTERN_")}, "LANTERN_LOG": "warn"},
        )
        async with Client(params, mode=mode) as client:
            await buy_bubble_tea(client, f"stdio ({mode})")

    for mode, token in zip(["auto", "legacy"], tokens, strict=True):
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            await buy_bubble_tea(client, f"streamable HTTP ({mode})")

    # Each client ended its session with DELETE; the SDK takes only 200 and 204 as done.
    if SDK_WARNINGS.messages:
        fail(f"the MCP client warned: {SDK_WARNINGS.messages}")
    print("ok the sessions ended cleanly (DELETE /mcp answered as the SDK expects)")

    # Without a token, or with another role's, /mcp refuses before any tool runs.
    async with httpx2.AsyncClient(timeout=10) as plain:
        response = await plain.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                    headers={"Accept": "application/json, text/event-stream"})
        if response.status_code != 401 or "bearer" not in response.headers.get("www-authenticate", "").lower():
            fail(f"/mcp without a token answered {response.status_code} {response.headers}")
    print("ok /mcp refuses a request without a bearer token (401, WWW-Authenticate)")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except* AssertionError as group:
        for error in group.exceptions:
            print(f"FAILED: {error}", file=sys.stderr)
        sys.exit(1)
