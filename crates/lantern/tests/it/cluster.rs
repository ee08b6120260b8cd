//! Three nodes over one real PostgreSQL (a private server on loopback): load on all three, one
//! node SIGKILLed at random moments and restarted, one killed for good (its lease must return
//! to the pool when it lapses), then an audit of every shard and of the central budget.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lantern_store::{LocalPostgres, PostgresBudget};

use crate::support::{Rng, lantern, text};

const N_NODES: u32 = 3;
/// Kill-and-restart rounds (one node each).
const ROUNDS: u64 = 8;
const BUDGET_COUPONS: i64 = 240;
const FACE_FEN: i64 = 2_500;
const LEASE_TTL_MS: u64 = 1_500;
const READY_TIMEOUT: Duration = Duration::from_secs(60);

struct Node {
    child: Child,
    lines: mpsc::Receiver<String>,
    reader: std::thread::JoinHandle<()>,
}

fn start_node(url: &str, node_index: u32, round: u64, max_orders: Option<u64>) -> Node {
    let mut command = lantern();
    command.args(["loadgen", "--workers", "4", "--budget-coupons", &BUDGET_COUPONS.to_string()]);
    command.args(["--store", url, "--nodes", &N_NODES.to_string(), "--node-index", &node_index.to_string()]);
    command.args(["--round", &round.to_string(), "--lease-ttl-ms", &LEASE_TTL_MS.to_string()]);
    if let Some(max_orders) = max_orders {
        command.args(["--max-orders", &max_orders.to_string()]);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start lantern loadgen: {error}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("stdout is piped"));
    let (sender, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let first = lines.recv_timeout(READY_TIMEOUT);
    if !matches!(&first, Ok(line) if line.starts_with("ready")) {
        let _ = child.kill();
        let stderr = child.stderr.take().map(|stderr| std::io::read_to_string(stderr).unwrap_or_default());
        panic!("node {node_index} round {round}: expected a ready line, got {first:?}; stderr: {stderr:?}");
    }
    Node { child, lines, reader }
}

/// SIGKILLs the node (or waits for it to end) and returns every line it printed.
fn finish(mut node: Node, kill: bool) -> Vec<String> {
    if kill {
        node.child.kill().unwrap_or_else(|error| panic!("cannot kill: {error}"));
    }
    let status = node.child.wait().unwrap_or_else(|error| panic!("cannot reap: {error}"));
    if !kill {
        let stderr =
            node.child.stderr.take().map(|stderr| std::io::read_to_string(stderr).unwrap_or_default());
        assert!(status.success(), "a node that should stop by itself failed: {stderr:?}");
    }
    node.reader.join().unwrap_or_else(|_| panic!("reader thread panicked"));
    node.lines.try_iter().collect()
}

fn campaign_row(url: &str) -> lantern_store::CampaignBudget {
    PostgresBudget::connect(url)
        .and_then(|mut budget| budget.campaign(1))
        .unwrap_or_else(|error| panic!("{error}"))
        .unwrap_or_else(|| panic!("no campaign row"))
}

#[test]
fn three_nodes_one_killed_and_restarted_keep_every_invariant() {
    let server = LocalPostgres::start("cluster", &[])
        .unwrap_or_else(|error| panic!("cannot start PostgreSQL: {error}"));
    let url = server.url("postgres");
    let mut rng = Rng::from_env_or_time("LANTERN_KILL_SEED");
    let mut round = 0;
    let mut nodes: Vec<Option<Node>> = (0..N_NODES)
        .map(|node_index| {
            round += 1;
            Some(start_node(&url, node_index, round, None))
        })
        .collect();
    let mut acks: Vec<String> = Vec::new();
    for _ in 0..ROUNDS {
        std::thread::sleep(Duration::from_millis(150 + rng.below(500)));
        let victim = rng.below(u64::from(N_NODES)) as usize;
        let node = nodes[victim].take().unwrap_or_else(|| panic!("every node runs"));
        acks.extend(finish(node, true));
        round += 1;
        nodes[victim] = Some(start_node(&url, victim as u32, round, None));
    }
    std::thread::sleep(Duration::from_millis(500));
    // Node 2 dies for good: its lease must come back when it lapses (the others settle it).
    acks.extend(finish(nodes[2].take().unwrap_or_else(|| panic!("node 2 runs")), true));
    // Nodes 0 and 1 look for lapsed leases every second; give them the lease's life and two
    // looks. Node 2 is not started again, so only they can settle its lease.
    let lease = PostgresBudget::connect(&url)
        .and_then(|mut budget| budget.lease(1, 2))
        .unwrap_or_else(|error| panic!("{error}"));
    let expires_at = UNIX_EPOCH + Duration::from_millis(u64::try_from(lease.expires_at_ms).unwrap_or(0));
    let wait =
        expires_at.duration_since(SystemTime::now()).unwrap_or_default() + Duration::from_millis(2_500);
    assert!(wait < Duration::from_secs(30), "node 2's lease expires too late: {lease:?}");
    std::thread::sleep(wait);
    for node in nodes.iter_mut().filter_map(Option::take) {
        acks.extend(finish(node, true));
    }
    // Nodes 0 and 1 start once more and stop by themselves: that returns their unspent leases.
    for node_index in 0..N_NODES - 1 {
        round += 1;
        acks.extend(finish(start_node(&url, node_index, round, Some(0)), false));
    }
    let n_orders = acks.iter().filter(|line| line.starts_with("order")).count();
    assert!(n_orders >= 30, "too little load to prove anything: {n_orders} orders");
    let acks_path = std::env::temp_dir().join(format!("lantern-cluster-acks-{}.txt", std::process::id()));
    std::fs::write(&acks_path, acks.join("\n")).unwrap_or_else(|error| panic!("cannot write acks: {error}"));
    let output = lantern()
        .args(["audit", "--json", "--store", &url, "--nodes", &N_NODES.to_string(), "--acks"])
        .arg(&acks_path)
        .output()
        .unwrap_or_else(|error| panic!("cannot run audit: {error}"));
    let _ = std::fs::remove_file(&acks_path);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "audit failed:\n{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|error| panic!("audit's last line is not JSON: {error}\n{stdout}"));
    assert_eq!(report["passed"], true, "{stdout}");
    assert_eq!(report["checks"].as_array().map(Vec::len), Some(6 * N_NODES as usize + 4), "{stdout}");
    let campaign = &report["cluster"]["campaigns"][0];
    let budget_fen = BUDGET_COUPONS * FACE_FEN;
    assert_eq!(campaign["budget_fen"], budget_fen, "{stdout}");
    // Nothing is stranded: the live nodes gave back at shutdown what they did not give out, and
    // the dead node's lease was settled from its journal after it lapsed.
    let row = campaign_row(&url);
    assert_eq!(row.leased_fen, campaign["given_out_fen"].as_i64().unwrap_or(-1), "{stdout}");
    assert_eq!(row.pool_fen + row.leased_fen, budget_fen);
    eprintln!("{stdout}");
}
