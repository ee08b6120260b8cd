//! Shoppers sharded over nodes: a shopper's request at the wrong node is answered 307 with the
//! owning node's URL (and changes nothing here); sent there with the same token and key, it is
//! served. Two real gateways on loopback, each over its own ledger.

use lantern_core::ShopperId;
use lantern_core::sharding::node_of;
use lantern_gateway::sharding::ShardMap;
use serde_json::json;

use crate::support::*;

fn shopper_on(node: u32, after: u64) -> u64 {
    (after..).find(|raw| node_of(ShopperId::new(*raw), 2) == node).unwrap_or_else(|| panic!("some shopper"))
}

fn sharded(nodes: Vec<String>, node_index: u32) -> lantern_gateway::GatewayConfig {
    let mut config = test_config();
    config.shards = Some(ShardMap { nodes, node_index });
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_at_the_wrong_node_is_redirected_to_theirs_and_served_there() {
    let node_b = Server::with_config(sharded(
        vec!["http://node-a.invalid:9".into(), "http://node-b.invalid:9".into()],
        1,
    ))
    .await;
    let node_a =
        Server::with_config(sharded(vec!["http://node-a.invalid:9".into(), node_b.base.clone()], 0)).await;
    let (on_a, on_b) = (shopper_on(0, 10), shopper_on(1, 10));
    let manual =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let claim_path = format!("/v1/campaigns/{FESTIVAL}/claim");

    // node B's shopper at node A: 307 to B, with the same path, and nothing claimed at A.
    let token_b = node_a.shopper(on_b);
    let request = manual
        .post(node_a.url(&claim_path))
        .bearer_auth(&token_b)
        .header("idempotency-key", "k-1")
        .json(&json!({}));
    let redirected = node_a.send(request).await;
    assert_eq!(redirected.status, 307, "{:?}", redirected.json);
    assert_eq!(redirected.code(), "wrong_node");
    assert_eq!(
        redirected.json["type"], "redirect",
        "a redirect is not an invalid request: {}",
        redirected.text
    );
    assert_eq!(redirected.header("location"), Some(node_b.url(&claim_path).as_str()));
    assert_eq!(redirected.header("lantern-node"), Some("1"));
    assert!(
        node_a.app.sequencer.read(|ledger| ledger.wallet(ShopperId::new(on_b)).is_empty()),
        "A changed nothing"
    );

    // The same request, sent where Location says: served by B.
    let location = redirected.header("location").unwrap_or_default().to_owned();
    let request =
        manual.post(location).bearer_auth(&token_b).header("idempotency-key", "k-1").json(&json!({}));
    let claimed = node_b.send(request).await;
    assert_eq!(claimed.ok(201)["newly_claimed"], true);
    assert_eq!(node_b.app.sequencer.read(|ledger| ledger.wallet(ShopperId::new(on_b)).len()), 1);

    // A's own shopper is served at A; at B the same shopper is sent back to A.
    node_a.claim(&node_a.shopper(on_a), FESTIVAL).await.ok(201);
    let wallet_at_b =
        node_b.send(manual.get(node_b.url("/v1/wallet?limit=5")).bearer_auth(node_b.shopper(on_a))).await;
    assert_eq!(wallet_at_b.status, 307);
    assert_eq!(wallet_at_b.header("location"), Some("http://node-a.invalid:9/v1/wallet?limit=5"));

    // Operators and bad tokens are not redirected.
    node_a.get(&node_a.operator(), "/v1/campaigns").await.ok(200);
    let unauthorized = node_a.send(manual.get(node_a.url("/v1/wallet")).bearer_auth("not-a-token")).await;
    assert_eq!(unauthorized.status, 401);
}

#[test]
fn a_shard_map_names_what_is_wrong() {
    let map = |nodes: Vec<&str>, node_index| ShardMap {
        nodes: nodes.into_iter().map(str::to_owned).collect(),
        node_index,
    };
    assert!(map(vec!["http://a:1", "https://b:2"], 1).validate().is_ok());
    assert!(map(vec![], 0).validate().unwrap_err().contains("cluster.nodes"));
    assert!(map(vec!["http://a:1"], 1).validate().unwrap_err().contains("node_index"));
    assert!(map(vec!["a:1"], 0).validate().unwrap_err().contains("base URL"));
}
