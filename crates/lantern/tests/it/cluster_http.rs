//! Three `lantern serve` processes as the three nodes of one cluster over one real PostgreSQL (a
//! private server on loopback), driven over HTTP as shoppers and operators drive them: the shop
//! and the campaign are set up through the operator API on every node; a shopper's order sent
//! to the wrong node is answered 307 and placed where `Location` says; under load one node is
//! SIGKILLed and started again; then every node stops and `lantern audit --store --nodes 3`
//! checks the budget, the caps and every acknowledged order.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use base64::Engine as _;
use lantern_auth::{Claims, Role, Signer};
use lantern_core::sharding::node_of;
use lantern_core::{ShopperId, Timestamp};
use lantern_store::{LocalPostgres, PostgresBudget};

use crate::support::{TempDir, lantern, passing_audit};

const N_NODES: u32 = 3;
const BUDGET_COUPONS: i64 = 360;
pub(crate) const FACE_FEN: i64 = 2_500;
/// More shoppers than coupons: the budget runs out under load.
const N_SHOPPERS: u64 = 480;
const N_WORKERS: usize = 6;
/// How long one shopper keeps retrying (through a node's death and restart).
const SHOPPER_DEADLINE: Duration = Duration::from_secs(20);
const READY_TIMEOUT: Duration = Duration::from_secs(60);
pub(crate) const SECRET: [u8; 32] = [7; 32];
pub(crate) const ORDER_PATH: &str = "/v1/coupon_orders";
const SHOP: &str = "mer_11";
pub(crate) const CAMPAIGN: &str = "cmp_2";

pub(crate) struct Cluster {
    pub url: String,
    pub dir: TempDir,
    ports: Vec<u16>,
    nodes: Vec<Option<Node>>,
}

struct Node {
    child: Child,
    stderr_path: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in self.nodes.iter_mut().filter_map(Option::take) {
            let mut child = node.child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Cluster {
    /// `n_nodes` nodes (not started) on free loopback ports, over the PostgreSQL at `url`.
    pub fn new(url: String, n_nodes: usize, label: &str) -> Cluster {
        let dir = TempDir::new(label);
        std::fs::create_dir_all(&dir.0).unwrap_or_else(|error| panic!("{error}"));
        Cluster {
            url,
            dir,
            ports: (0..n_nodes).map(|_| free_port()).collect(),
            nodes: (0..n_nodes).map(|_| None).collect(),
        }
    }

    /// Writes node `node`'s configuration: its `listen` and `data`, generous per-address
    /// limits (every shopper here comes from 127.0.0.1), then `rest`.
    pub fn write_config(&self, node: usize, rest: &str) {
        let config = format!(
            "listen = \"{}\"\ndata = {:?}\n{rest}\n[admission]\nip_per_second = 1000000\nip_burst = 1000000\n",
            self.address(node),
            self.dir.0.join(format!("data{node}")),
        );
        std::fs::write(self.config_path(node), config).unwrap_or_else(|error| panic!("{error}"));
    }

    /// Every log the nodes wrote (for failure messages).
    pub fn logs(&self) -> String {
        let mut logs = String::new();
        for entry in std::fs::read_dir(&self.dir.0).into_iter().flatten().flatten() {
            if entry.path().extension().is_some_and(|extension| extension == "log") {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                logs.push_str(&format!("--- {}\n{text}\n", entry.path().display()));
            }
        }
        logs
    }

    pub fn data_dir(&self, node: usize) -> PathBuf {
        self.dir.0.join(format!("data{node}"))
    }

    fn base(&self, node: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[node])
    }

    pub fn address(&self, node: usize) -> String {
        format!("127.0.0.1:{}", self.ports[node])
    }

    pub fn config_path(&self, node: usize) -> PathBuf {
        self.dir.0.join(format!("node{node}.toml"))
    }

    /// The three nodes of one cluster over `url`.
    fn write_cluster_configs(&self) {
        let nodes: Vec<String> = (0..self.ports.len()).map(|node| format!("{:?}", self.base(node))).collect();
        for node in 0..self.ports.len() {
            let rest = format!(
                "store = \"{}\"\n\n[cluster]\nnodes = [{}]\nnode_index = {node}\nlease_ttl_ms = 5000\n",
                self.url,
                nodes.join(", ")
            );
            self.write_config(node, &rest);
        }
    }

    /// Starts `lantern serve` as node `node` and waits for its listening line.
    pub fn start(&mut self, node: usize) {
        let stderr_path = self.dir.0.join(format!("node{node}-{}.log", now_ms()));
        let stderr = std::fs::File::create(&stderr_path).unwrap_or_else(|error| panic!("{error}"));
        let mut child = lantern()
            .args(["serve", "--demo", "--config"])
            .arg(self.config_path(node))
            .env("LANTERN_SECRET", base64::engine::general_purpose::STANDARD.encode(SECRET))
            .env("LANTERN_LOG", std::env::var("TEST_NODE_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start lantern serve: {error}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("stdout is piped"));
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let started = Instant::now();
        loop {
            let left = READY_TIMEOUT.saturating_sub(started.elapsed());
            match lines.recv_timeout(left) {
                Ok(line) if line.starts_with("lantern listening on") => break,
                Ok(_) => continue,
                Err(error) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                    panic!("node {node} did not start ({error}); its log:\n{log}");
                }
            }
        }
        self.nodes[node] = Some(Node { child, stderr_path });
    }

    pub fn kill(&mut self, node: usize) {
        let mut running = self.nodes[node].take().unwrap_or_else(|| panic!("node {node} runs"));
        running.child.kill().unwrap_or_else(|error| panic!("cannot kill node {node}: {error}"));
        let _ = running.child.wait();
    }

    /// SIGTERM: the node drains, gives its leases back and exits cleanly.
    pub fn stop(&mut self, node: usize) {
        let mut running = self.nodes[node].take().unwrap_or_else(|| panic!("node {node} runs"));
        let pid = running.child.id().to_string();
        let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|status| status.success()), "cannot send SIGTERM");
        let status = running.child.wait().unwrap_or_else(|error| panic!("{error}"));
        let log = std::fs::read_to_string(&running.stderr_path).unwrap_or_default();
        assert!(status.success(), "node {node} did not stop cleanly on SIGTERM: {status}; log:\n{log}");
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("no free port: {error}"))
}

pub(crate) struct Answer {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One HTTP/1.1 request over a fresh connection; `Err` when the node cannot be reached.
pub(crate) fn request(
    address: &str,
    method: &str,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: &str,
) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(15)))?;
    let key = key.map(|key| format!("Idempotency-Key: {key}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n{key}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer.as_str(), ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|line| line.split(' ').nth(1)).and_then(|code| code.parse().ok());
    let Some(status) = status else {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no status line"));
    };
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Ok(Answer { status, headers, body: body.to_owned() })
}

/// `http://127.0.0.1:PORT/path` → (`127.0.0.1:PORT`, `/path`).
fn split_location(location: &str) -> (String, String) {
    let rest = location.strip_prefix("http://").unwrap_or_else(|| panic!("not http: {location}"));
    let (address, path) = rest.split_once('/').unwrap_or((rest, ""));
    (address.to_owned(), format!("/{path}"))
}

pub(crate) fn token(signer: &Signer, role: Role) -> String {
    let now = Timestamp::from_ms(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as u64)
            .unwrap_or(0),
    );
    signer.issue_token(&Claims { role, issued_at: now, expires_at: now.plus_ms(3_600_000) })
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

/// A shop and the campaign, on every node (operator commands are not fanned out). The nodes
/// start with `--demo`, whose tea menu `cat_1` the new shop sells from (a menu is published by
/// a registered shop, so the first one comes from the seed); the demo's own campaign is cmp_1.
pub(crate) fn set_up(cluster: &Cluster, signer: &Signer, budget_coupons: i64) {
    let operator = token(signer, Role::Operator);
    let starts_at = Timestamp::from_ms(now_ms() - 60_000).to_string();
    let ends_at = Timestamp::from_ms(now_ms() + 86_400_000).to_string();
    let shop = serde_json::json!({"id": SHOP, "name": "Cluster Tea House", "catalog_id": "cat_1",
        "orders_per_minute": 100_000, "open_orders_max": 1_000_000});
    let campaign = serde_json::json!({"name": "cluster", "budget": budget_coupons * FACE_FEN,
        "template": "amount_off", "amount": FACE_FEN, "per_shopper_limit": 1,
        "starts_at": starts_at, "ends_at": ends_at});
    for node in 0..cluster.ports.len() {
        let address = cluster.address(node);
        let answer = request(&address, "POST", "/v1/merchants", &operator, Some("shop"), &shop.to_string())
            .unwrap_or_else(|error| panic!("node {node}: {error}"));
        assert_eq!(answer.status, 201, "node {node} registering the shop: {}", answer.body);
        let answer =
            request(&address, "POST", "/v1/campaigns", &operator, Some("campaign"), &campaign.to_string())
                .unwrap_or_else(|error| panic!("node {node}: {error}"));
        assert_eq!(answer.status, 201, "node {node} creating the campaign: {}", answer.body);
        assert_eq!(answer.json()["id"], CAMPAIGN, "every node names the campaign alike: {}", answer.body);
    }
}

pub(crate) fn order_body() -> String {
    serde_json::json!({"campaign_id": CAMPAIGN, "merchant_id": SHOP,
        "line_items": [{"id": "itm_101", "quantity": 2}]})
    .to_string()
}

/// The acknowledgement line `lantern audit --acks` reads, from a 201 answer.
pub(crate) fn ack_line(shopper: u64, order: &serde_json::Value) -> String {
    let id = order["id"].as_str().and_then(|id| id.strip_prefix("ord_")).unwrap_or("?");
    let coupon = order["coupon_id"].as_str().unwrap_or_default();
    let parts: Vec<&str> = coupon.trim_start_matches("cpn_").split('_').collect();
    assert_eq!(parts.len(), 3, "an order with a coupon: {order}");
    assert_eq!(parts[1], shopper.to_string(), "the coupon is the shopper's own: {order}");
    format!("order {id} {shopper} {} {} {}", parts[0], parts[2], order["total"])
}

#[derive(Default)]
struct Tally {
    acked: AtomicUsize,
    redirected: AtomicUsize,
    exhausted: AtomicUsize,
    lease_waits: AtomicUsize,
    unreachable: AtomicUsize,
    gave_up: AtomicUsize,
}

/// One shopper's coupon order, sent first to `first_node`, redirects followed, retried with the
/// same key through refusals that say "try again" and through a node being down.
fn place(
    cluster_addresses: &[String],
    signer: &Signer,
    shopper: u64,
    first_node: usize,
    tally: &Tally,
) -> Option<String> {
    let token = token(signer, Role::Shopper(ShopperId::new(shopper)));
    let key = format!("order-{shopper}");
    let body = order_body();
    let started = Instant::now();
    let mut address = cluster_addresses[first_node].clone();
    let mut path = ORDER_PATH.to_owned();
    while started.elapsed() < SHOPPER_DEADLINE {
        let answer = match request(&address, "POST", &path, &token, Some(&key), &body) {
            Ok(answer) => answer,
            Err(_) => {
                tally.unreachable.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        match answer.status {
            201 => {
                tally.acked.fetch_add(1, Ordering::Relaxed);
                return Some(ack_line(shopper, &answer.json()));
            }
            307 => {
                tally.redirected.fetch_add(1, Ordering::Relaxed);
                let location =
                    answer.headers.get("location").unwrap_or_else(|| panic!("307 without Location"));
                (address, path) = split_location(location);
            }
            409 if answer.json()["code"] == "budget_exhausted" => {
                tally.exhausted.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            429 | 503 => {
                if answer.json()["code"] == "rate_limited" {
                    tally.lease_waits.fetch_add(1, Ordering::Relaxed);
                }
                let retry_after_s: u64 =
                    answer.headers.get("retry-after").and_then(|value| value.parse().ok()).unwrap_or(1);
                std::thread::sleep(Duration::from_millis((retry_after_s * 1000).clamp(50, 300)));
            }
            status => panic!("shopper {shopper}: unexpected {status}: {}", answer.body),
        }
    }
    tally.gave_up.fetch_add(1, Ordering::Relaxed);
    None
}

#[test]
fn three_served_nodes_redirect_survive_a_kill_and_pass_the_audit() {
    let server = LocalPostgres::start("cluster-http", &[])
        .unwrap_or_else(|error| panic!("cannot start PostgreSQL: {error}"));
    let signer = Signer::new(&SECRET).unwrap_or_else(|error| panic!("{error}"));
    let mut cluster = Cluster::new(server.url("postgres"), N_NODES as usize, "cluster-http");
    cluster.write_cluster_configs();
    for node in 0..N_NODES as usize {
        cluster.start(node);
    }
    set_up(&cluster, &signer, BUDGET_COUPONS);
    let addresses: Vec<String> = (0..N_NODES as usize).map(|node| cluster.address(node)).collect();

    // A shopper of node 1 at node 0: 307 to node 1, nothing done at node 0; followed, placed.
    let shopper = (1..).find(|raw| node_of(ShopperId::new(*raw), N_NODES) == 1).unwrap_or(1);
    let shopper_token = token(&signer, Role::Shopper(ShopperId::new(shopper)));
    let key = format!("order-{shopper}");
    let wrong = request(&addresses[0], "POST", ORDER_PATH, &shopper_token, Some(&key), &order_body())
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(wrong.status, 307, "{}", wrong.body);
    assert_eq!(wrong.json()["code"], "wrong_node", "{}", wrong.body);
    let location = wrong.headers.get("location").cloned().unwrap_or_default();
    assert_eq!(location, format!("{}{ORDER_PATH}", cluster.base(1)));
    assert_eq!(wrong.headers.get("lantern-node").map(String::as_str), Some("1"));
    let (owner, path) = split_location(&location);
    let mut placed = None;
    for _ in 0..50 {
        // The first claim may find the lease not yet arrived (429 rate_limited): same key again.
        let answer = request(&owner, "POST", &path, &shopper_token, Some(&key), &order_body())
            .unwrap_or_else(|error| panic!("{error}"));
        if answer.status == 201 {
            placed = Some(answer);
            break;
        }
        assert_eq!(answer.status, 429, "{}", answer.body);
        std::thread::sleep(Duration::from_millis(100));
    }
    let placed = placed.unwrap_or_else(|| panic!("the order was never placed at its node"));
    let first_ack = ack_line(shopper, &placed.json());
    let wallet_at_wrong = request(&addresses[2], "GET", "/v1/wallet", &shopper_token, None, "")
        .unwrap_or_else(|error| panic!("{error}"));
    if node_of(ShopperId::new(shopper), N_NODES) != 2 {
        assert_eq!(wallet_at_wrong.status, 307, "reads are redirected too: {}", wallet_at_wrong.body);
    }
    let replayed = request(&owner, "POST", &path, &shopper_token, Some(&key), &order_body())
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!((replayed.status, replayed.json()["id"].clone()), (201, placed.json()["id"].clone()));

    // Load: every shopper orders once, starting at a node chosen by its id (two in three at the
    // wrong one); meanwhile node 1 is SIGKILLed and started again.
    let acks = Arc::new(Mutex::new(vec![first_ack]));
    let tally = Arc::new(Tally::default());
    let next_shopper = Arc::new(AtomicU64::new(1));
    let started = Instant::now();
    let workers: Vec<_> = (0..N_WORKERS)
        .map(|_| {
            let (acks, tally, next_shopper, addresses, signer) = (
                Arc::clone(&acks),
                Arc::clone(&tally),
                Arc::clone(&next_shopper),
                addresses.clone(),
                Signer::new(&SECRET).unwrap_or_else(|error| panic!("{error}")),
            );
            std::thread::spawn(move || {
                loop {
                    let raw = next_shopper.fetch_add(1, Ordering::Relaxed);
                    if raw > N_SHOPPERS {
                        break;
                    }
                    if raw == shopper {
                        continue;
                    }
                    let first_node = (raw % u64::from(N_NODES)) as usize;
                    if let Some(line) = place(&addresses, &signer, raw, first_node, &tally) {
                        acks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(line);
                    }
                }
            })
        })
        .collect();
    let wait_for = |n_acked: usize| {
        let waited = Instant::now();
        while tally.acked.load(Ordering::Relaxed) < n_acked && waited.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for(60);
    cluster.kill(1);
    let acked_at_kill = tally.acked.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(300));
    cluster.start(1);
    wait_for(acked_at_kill + 60);
    cluster.kill(0);
    std::thread::sleep(Duration::from_millis(300));
    cluster.start(0);
    for worker in workers {
        worker.join().unwrap_or_else(|_| panic!("a worker panicked"));
    }
    let load_s = started.elapsed().as_secs_f64();

    // Everyone stops cleanly: unspent leases go back to the pool.
    for node in 0..N_NODES as usize {
        cluster.stop(node);
    }
    let acks = acks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
    let summary = format!(
        "{} acked, {} redirects, {} budget_exhausted, {} lease waits, {} unreachable, {} gave up, in {load_s:.1} s",
        acks.len(),
        tally.redirected.load(Ordering::Relaxed),
        tally.exhausted.load(Ordering::Relaxed),
        tally.lease_waits.load(Ordering::Relaxed),
        tally.unreachable.load(Ordering::Relaxed),
        tally.gave_up.load(Ordering::Relaxed),
    );
    eprintln!("{summary}");
    assert!(acks.len() >= 200, "too little load to prove anything: {summary}");
    assert!(acks.len() as i64 <= BUDGET_COUPONS, "more orders acknowledged than coupons: {summary}");
    assert!(tally.redirected.load(Ordering::Relaxed) >= 100, "{summary}");
    assert!(tally.unreachable.load(Ordering::Relaxed) > 0, "the kills were felt: {summary}");
    assert!(tally.exhausted.load(Ordering::Relaxed) > 0, "the budget ran out under load: {summary}");
    assert_eq!(tally.gave_up.load(Ordering::Relaxed), 0, "{summary}");

    let acks_path = cluster.dir.0.join("acks.txt");
    std::fs::write(&acks_path, acks.join("\n")).unwrap_or_else(|error| panic!("{error}"));
    let mut audit = lantern();
    audit.args(["audit", "--json", "--store", &cluster.url, "--nodes", &N_NODES.to_string()]);
    let report = passing_audit(audit, &acks_path);
    let stdout = report.to_string();
    let campaigns = report["cluster"]["campaigns"].as_array().cloned().unwrap_or_default();
    let campaign =
        campaigns.iter().find(|campaign| campaign["campaign"] == 2).unwrap_or_else(|| panic!("{stdout}"));
    let budget_fen = BUDGET_COUPONS * FACE_FEN;
    assert_eq!(campaign["budget_fen"], budget_fen, "{stdout}");
    let given_out_fen = campaign["given_out_fen"].as_i64().unwrap_or(-1);
    eprintln!("central budget after the run: {campaign}");
    assert!(given_out_fen >= acks.len() as i64 * FACE_FEN, "{stdout}");
    // Stopped cleanly, every node gave back what it did not give out.
    let row = PostgresBudget::connect(&cluster.url)
        .and_then(|mut budget| budget.campaign(2))
        .unwrap_or_else(|error| panic!("{error}"))
        .unwrap_or_else(|| panic!("no campaign row"));
    assert_eq!(row.leased_fen, given_out_fen, "{stdout}");
    assert_eq!(row.pool_fen + row.leased_fen, budget_fen);
}
