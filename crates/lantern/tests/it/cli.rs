//! What an operator sees when the data directory is missing, locked or corrupted, the demo, and
//! `lantern backup`.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::support::{TempDir, journal_of_orders, json_summary, lantern, text};

fn audit(data: &std::path::Path) -> (bool, String, String) {
    let output =
        lantern().arg("audit").arg("--data").arg(data).output().unwrap_or_else(|error| panic!("{error}"));
    let (stdout, stderr) = text(&output);
    (output.status.success(), stdout, stderr)
}

#[test]
fn missing_database_is_a_clear_error_and_creates_nothing() {
    let data = TempDir::new("missing");
    let (ok, _, stderr) = audit(&data.0);
    assert!(!ok);
    assert!(stderr.contains("no lantern database"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!data.0.exists(), "a missing database must not be created silently");
}

#[test]
fn corrupted_database_is_a_clear_error() {
    let data = TempDir::new("corrupt");
    std::fs::create_dir_all(&data.0).unwrap_or_else(|error| panic!("{error}"));
    let garbage: Vec<u8> =
        (0..8192u32).map(|index| (index.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(data.0.join("lantern.db"), garbage).unwrap_or_else(|error| panic!("{error}"));
    let (ok, _, stderr) = audit(&data.0);
    assert!(!ok);
    assert!(stderr.contains("corrupt") || stderr.contains("not a lantern database"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn locked_database_is_a_clear_error() {
    let data = TempDir::new("locked");
    let mut writer = lantern()
        .args(["loadgen", "--workers", "1", "--max-orders", "1000000", "--create", "--data"])
        .arg(&data.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("{error}"));
    let stdout = writer.stdout.take().unwrap_or_else(|| panic!("piped"));
    // Keep the pipe open while auditing: a closed pipe would end the writer and free the lock.
    let mut stdout = BufReader::new(stdout);
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap_or_else(|error| panic!("{error}"));
    assert!(first.starts_with("ready"), "{first}");
    let (ok, _, stderr) = audit(&data.0);
    let still_running = writer.try_wait().map(|status| status.is_none()).unwrap_or(false);
    let _ = writer.kill();
    let _ = writer.wait();
    assert!(still_running, "the writer must hold the lock during the audit");
    assert!(!ok);
    assert!(stderr.contains("in use"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `lantern backup` copies a stopped data directory into a folder that audits on its own, by
/// default under DATA/backups; a directory a running process holds is refused, pointing at the
/// API that backs a running gateway up.
#[test]
fn an_offline_backup_audits_and_a_locked_data_directory_points_to_the_api() {
    let data = TempDir::new("backup-offline");
    let demo =
        lantern().args(["demo", "--data"]).arg(&data.0).output().unwrap_or_else(|error| panic!("{error}"));
    assert!(demo.status.success(), "{:?}", text(&demo));
    let to = data.0.join("copy");
    let summary =
        json_summary(lantern().args(["backup", "--json", "--data"]).arg(&data.0).arg("--to").arg(&to));
    assert_eq!(summary["directory"], to.display().to_string());
    assert!(summary["batches"].as_u64().unwrap_or(0) > 10, "{summary}");
    assert!(summary["bytes"].as_u64().unwrap_or(0) > 0, "{summary}");
    let (ok, stdout, stderr) = audit(&to);
    assert!(ok && stdout.contains("PASS") && !stdout.contains("FAIL"), "{stdout}{stderr}");
    // Without --to, a folder named by the time under DATA/backups; never over an existing one.
    let default = json_summary(lantern().args(["backup", "--json", "--data"]).arg(&data.0));
    let directory = default["directory"].as_str().unwrap_or_default();
    assert!(directory.starts_with(&data.0.join("backups").display().to_string()), "{default}");
    let again = lantern()
        .args(["backup", "--data"])
        .arg(&data.0)
        .arg("--to")
        .arg(&to)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, stderr) = text(&again);
    assert!(!again.status.success() && stderr.contains("already exists"), "{stderr}");
    // A shard the directory does not have is refused, not backed up empty.
    let elsewhere = data.0.join("shard-7");
    let wrong_shard = lantern()
        .args(["backup", "--shard", "7", "--data"])
        .arg(&data.0)
        .arg("--to")
        .arg(&elsewhere)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, stderr) = text(&wrong_shard);
    assert!(
        !wrong_shard.status.success() && stderr.contains("shard 7") && stderr.contains("nothing to back up"),
        "{stderr}"
    );
    assert!(!elsewhere.exists());

    let mut writer = lantern()
        .args(["loadgen", "--workers", "1", "--max-orders", "1000000", "--data"])
        .arg(&data.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("{error}"));
    let mut stdout = BufReader::new(writer.stdout.take().unwrap_or_else(|| panic!("piped")));
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap_or_else(|error| panic!("{error}"));
    let locked = lantern().args(["backup", "--data"]).arg(&data.0).output().unwrap_or_else(|e| panic!("{e}"));
    let _ = writer.kill();
    let _ = writer.wait();
    let (_, stderr) = text(&locked);
    assert!(!locked.status.success(), "{stderr}");
    assert!(stderr.contains("in use") && stderr.contains("POST /v1/ops/backups"), "{stderr}");
}

#[test]
fn demo_runs_a_campaign_and_its_audit_passes() {
    let data = TempDir::new("demo");
    let output = lantern()
        .args(["demo", "--json", "--data"])
        .arg(&data.0)
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("budget_exhausted"), "the demo shows the budget running out: {stdout}");
    assert!(stdout.contains("replayed"), "the demo shows an idempotent retry: {stdout}");
    assert!(stdout.contains("merchant_busy"), "the demo shows a busy shop: {stdout}");
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|error| panic!("{error}: {stdout}"));
    assert_eq!(summary["audit_passed"], true);
    assert_eq!(summary["budget_total_fen"], 15_000);
    assert_eq!(summary["settled_fen"], 2_500);
}

/// `lantern bench search` runs (a few shops, so it is quick here) and prints its figures, the
/// two indexes it compares holding the same items, as JSON on the last line; a bad count is a
/// clear error.
#[test]
fn bench_search_prints_its_figures_and_refuses_a_bad_count() {
    let summary = json_summary(lantern().args(["bench", "search", "--shops", "12", "--json"]));
    assert_eq!(summary["shops"], 12);
    assert_eq!(summary["batch_shops"], 512);
    for field in ["one_commit_per_shop_ms", "batched_ms", "one_by_one_over_batched", "gateway_start_index_ms"]
    {
        assert!(summary[field].as_f64().is_some_and(|value| value > 0.0), "{field}: {summary}");
    }
    let output = lantern()
        .args(["bench", "search", "--shops", "0"])
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("--shops must be 1..=100000, got 0"), "{stderr}");
}

/// `lantern bench restart` restarts a data directory both ways and says how long each took;
/// both ways find every order, and a directory with no journal is refused by name.
#[test]
fn bench_restart_measures_both_ways_and_refuses_an_empty_directory() {
    let data = TempDir::new("bench-restart");
    journal_of_orders(&data.0, 8, 2_000);
    let figures = json_summary(lantern().args(["bench", "restart", "--json", "--data"]).arg(&data.0));
    for way in ["rebuilt", "recorded"] {
        assert!(figures[way]["ready_ms"].as_u64().is_some(), "{figures}");
        assert!(figures[way]["replay_ms"].as_u64() <= figures[way]["ready_ms"].as_u64(), "{figures}");
    }
    assert!(
        figures["ready_ratio_recorded_vs_rebuilt"].as_f64().is_some_and(|ratio| ratio > 0.0),
        "{figures}"
    );
    assert!(figures["recorded"]["orders"].as_u64().is_some_and(|orders| orders >= 2_000), "{figures}");
    assert_eq!(figures["recorded"]["orders"], figures["rebuilt"]["orders"], "{figures}");

    let empty = TempDir::new("bench-restart-empty");
    std::fs::create_dir_all(&empty.0).unwrap_or_else(|error| panic!("{error}"));
    let refused = lantern()
        .args(["bench", "restart", "--data"])
        .arg(&empty.0)
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    let (_, stderr) = text(&refused);
    assert!(!refused.status.success());
    assert!(stderr.contains("holds no journal"), "{stderr}");
}
