//! PostgreSQL goes away under a running `lantern serve` node and comes back, for real (`pg_ctl
//! stop -m immediate`, then `pg_ctl start` on the same port), in both ways a node can use it:
//!
//! - journal and leases in PostgreSQL (`store = "postgres://..."`): writes are refused at once
//!   with the store's reason and nothing is acknowledged, reads are still served, and the node
//!   takes orders again once the database is back;
//! - journal in SQLite, leases in PostgreSQL (`cluster.budget_store`): the node keeps taking
//!   orders from the lease it holds, exactly up to it, then sheds claims with `rate_limited` and a
//!   reason, and tops up again once the database is back.

use std::time::{Duration, Instant};

use base64::Engine as _;

use lantern_auth::{Role, Signer};
use lantern_core::ShopperId;
use lantern_store::{LocalPostgres, PostgresBudget};

use crate::cluster_http::{
    Answer, CAMPAIGN, Cluster, FACE_FEN, ORDER_PATH, SECRET, ack_line, order_body, request, set_up, token,
};
use crate::support::{lantern, passing_audit, text};

const BUDGET_COUPONS: i64 = 200;

/// A coupon order for `shopper` (key `order-<shopper>`), sent again while the answer says to
/// retry (429 waiting for a lease), for at most `patience`.
fn order(address: &str, signer: &Signer, shopper: u64, patience: Duration) -> Answer {
    let token = token(signer, Role::Shopper(ShopperId::new(shopper)));
    let key = format!("order-{shopper}");
    let started = Instant::now();
    loop {
        let answer = request(address, "POST", ORDER_PATH, &token, Some(&key), &order_body());
        match answer {
            Ok(answer) if !matches!(answer.status, 429 | 503) => return answer,
            Ok(answer) if started.elapsed() >= patience => return answer,
            Err(error) if started.elapsed() >= patience => panic!("shopper {shopper}: {error}"),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn available_fen(address: &str, signer: &Signer) -> i64 {
    let stats = request(
        address,
        "GET",
        &format!("/v1/campaigns/{CAMPAIGN}/stats"),
        &token(signer, Role::Operator),
        None,
        "",
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(stats.status, 200, "{}", stats.body);
    stats.json()["budget_available"].as_i64().unwrap_or_else(|| panic!("{}", stats.body))
}

fn signer() -> Signer {
    Signer::new(&SECRET).unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn with_the_journal_in_postgres_writes_are_refused_reads_served_and_service_resumes() {
    let server = LocalPostgres::start("outage-journal", &[])
        .unwrap_or_else(|error| panic!("cannot start PostgreSQL: {error}"));
    let signer = signer();
    let mut node = Cluster::new(server.url("postgres"), 1, "outage-journal");
    node.write_config(0, &format!("store = \"{}\"\n", node.url));
    node.start(0);
    set_up(&node, &signer, BUDGET_COUPONS);
    let address = node.address(0);
    let mut acks = Vec::new();
    for shopper in 1..=5 {
        let placed = order(&address, &signer, shopper, Duration::from_secs(10));
        assert_eq!(placed.status, 201, "{}\n{}", placed.body, node.logs());
        acks.push(ack_line(shopper, &placed.json()));
    }

    server.crash().unwrap_or_else(|error| panic!("cannot stop PostgreSQL: {error}"));
    // A write: refused at once, with the store's reason, and nothing acknowledged.
    let shopper_token = token(&signer, Role::Shopper(ShopperId::new(6)));
    let started = Instant::now();
    let refused = request(&address, "POST", ORDER_PATH, &shopper_token, Some("order-6"), &order_body())
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(started.elapsed() < Duration::from_secs(5), "refused at once, not after {:?}", started.elapsed());
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.json()["code"], "store_unavailable", "{}", refused.body);
    assert!(refused.headers.contains_key("retry-after"), "{:?}", refused.headers);
    let message = refused.json()["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("PostgreSQL") && message.contains("Nothing was recorded"), "{message}");
    // Reads: served from memory.
    let wallet =
        request(&address, "GET", "/v1/wallet", &token(&signer, Role::Shopper(ShopperId::new(1))), None, "")
            .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(wallet.status, 200, "{}", wallet.body);
    assert!(wallet.body.contains("\"redeemed\""), "{}", wallet.body);
    let menu = request(&address, "GET", "/v1/merchants/mer_11/menu", &shopper_token, None, "")
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(menu.status, 200, "{}", menu.body);
    let orders =
        request(&address, "GET", "/v1/orders", &token(&signer, Role::Shopper(ShopperId::new(2))), None, "")
            .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(orders.status, 200, "{}", orders.body);

    // Back: the same request, same key, is placed.
    server.restart().unwrap_or_else(|error| panic!("cannot start PostgreSQL again: {error}"));
    let placed = order(&address, &signer, 6, Duration::from_secs(15));
    assert_eq!(placed.status, 201, "service resumes once PostgreSQL is back: {}", placed.body);
    acks.push(ack_line(6, &placed.json()));
    node.stop(0);

    let acks_path = node.dir.0.join("acks.txt");
    std::fs::write(&acks_path, acks.join("\n")).unwrap_or_else(|error| panic!("{error}"));
    let output = lantern()
        .args(["audit", "--json", "--store", &node.url, "--nodes", "1", "--acks"])
        .arg(&acks_path)
        .output()
        .unwrap_or_else(|error| panic!("cannot run audit: {error}"));
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "audit failed:\n{stdout}\n{stderr}");
}

#[test]
fn with_only_the_leases_in_postgres_a_node_sells_its_lease_through_an_outage_and_no_further() {
    let server = LocalPostgres::start("outage-leases", &[])
        .unwrap_or_else(|error| panic!("cannot start PostgreSQL: {error}"));
    let signer = signer();
    let mut node = Cluster::new(server.url("postgres"), 1, "outage-leases");
    node.write_config(0, &format!("[cluster]\nbudget_store = \"{}\"\n", node.url));
    node.start(0);
    set_up(&node, &signer, BUDGET_COUPONS);
    let address = node.address(0);
    let mut acks = Vec::new();
    let mut shopper = 0;
    for _ in 0..10 {
        shopper += 1;
        let placed = order(&address, &signer, shopper, Duration::from_secs(10));
        assert_eq!(placed.status, 201, "{}\n{}", placed.body, node.logs());
        acks.push(ack_line(shopper, &placed.json()));
    }
    // A second node started with the same node index is refused: it would share the lease row.
    let impostor = Cluster::new(node.url.clone(), 1, "outage-impostor");
    impostor.write_config(0, &format!("[cluster]\nbudget_store = \"{}\"\n", node.url));
    let output = lantern()
        .args(["serve", "--config"])
        .arg(impostor.config_path(0))
        .env("LANTERN_SECRET", base64::engine::general_purpose::STANDARD.encode(SECRET))
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    let (_, stderr) = text(&output);
    assert!(!output.status.success(), "a second node 0 must not start");
    assert!(stderr.contains("cluster.node_index"), "{stderr}");
    // The keeper tops up below the low-water mark; wait for the lease to hold a few coupons.
    let waited = Instant::now();
    while available_fen(&address, &signer) < 3 * FACE_FEN && waited.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }

    server.crash().unwrap_or_else(|error| panic!("cannot stop PostgreSQL: {error}"));
    // A grant committed just before the stop may still be journaling; then nothing can arrive.
    std::thread::sleep(Duration::from_millis(500));
    let lease_left = available_fen(&address, &signer) / FACE_FEN;
    assert!(lease_left >= 1, "the node holds some lease at the outage");
    let mut n_sold_in_outage = 0;
    let mut refusals = Vec::new();
    while refusals.len() < 5 {
        shopper += 1;
        let shopper_token = token(&signer, Role::Shopper(ShopperId::new(shopper)));
        let key = format!("order-{shopper}");
        let answer = request(&address, "POST", ORDER_PATH, &shopper_token, Some(&key), &order_body())
            .unwrap_or_else(|error| panic!("{error}"));
        match answer.status {
            201 => {
                assert!(refusals.is_empty(), "an order after a refusal: the lease grew during the outage");
                n_sold_in_outage += 1;
                acks.push(ack_line(shopper, &answer.json()));
            }
            _ => refusals.push((shopper, answer)),
        }
    }
    eprintln!("lease held at the outage: {lease_left} coupons; sold during it: {n_sold_in_outage}");
    assert_eq!(n_sold_in_outage, lease_left, "orders during the outage: exactly the lease held");
    for (_, refused) in &refusals {
        assert_eq!(refused.status, 429, "{}", refused.body);
        assert_eq!(refused.json()["code"], "rate_limited", "{}", refused.body);
        let message = refused.json()["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.contains("lease"), "the refusal says why: {message}");
        assert!(refused.headers.contains_key("retry-after"), "{:?}", refused.headers);
    }
    assert_eq!(available_fen(&address, &signer), 0);

    // Back: the keeper tops up again and the refused shoppers, retrying, are served.
    server.restart().unwrap_or_else(|error| panic!("cannot start PostgreSQL again: {error}"));
    for (refused_shopper, _) in refusals {
        let placed = order(&address, &signer, refused_shopper, Duration::from_secs(15));
        assert_eq!(placed.status, 201, "service resumes once PostgreSQL is back: {}", placed.body);
        acks.push(ack_line(refused_shopper, &placed.json()));
    }
    node.stop(0);

    // The node's own journal, audited; the central row: what is leased is exactly what was sold.
    let acks_path = node.dir.0.join("acks.txt");
    std::fs::write(&acks_path, acks.join("\n")).unwrap_or_else(|error| panic!("{error}"));
    let mut audit = lantern();
    audit.args(["audit", "--json", "--data"]).arg(node.data_dir(0));
    passing_audit(audit, &acks_path);
    let row = PostgresBudget::connect(&node.url)
        .and_then(|mut budget| budget.campaign(2))
        .unwrap_or_else(|error| panic!("{error}"))
        .unwrap_or_else(|| panic!("no campaign row"));
    assert_eq!(row.budget_fen, BUDGET_COUPONS * FACE_FEN);
    assert_eq!(row.pool_fen + row.leased_fen, row.budget_fen);
    assert_eq!(
        row.leased_fen,
        acks.len() as i64 * FACE_FEN,
        "stopped cleanly, the node kept only what it sold"
    );
}
