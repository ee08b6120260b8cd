//! `lantern surge` end to end at a small scale: the report, the JSON line, the audit, and the
//! errors an operator sees for a bad profile. (CI's larger runs are scripts/surge-ci.sh.)

use crate::support::{TempDir, lantern, text};

#[test]
fn a_small_surge_writes_its_report_and_passes_its_audit() {
    let out = TempDir::new("surge-report");
    let output = lantern()
        .args([
            "surge",
            "--in-process",
            "--profile",
            "budget-exhaustion",
            "--scale",
            "0.002",
            "--seed",
            "3",
            "--json",
            "--out",
        ])
        .arg(&out.0)
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    let summary: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|error| panic!("{error}: {last}"));
    assert_eq!(summary["audit_passed"], true, "{summary}");
    let run = &summary["runs"][0]["summary"];
    // The budget (coupons for 1,200 shoppers at this scale) runs out: some are told so, and
    // exactly the budget is given out, never more.
    assert!(run["budget_exhausted"].as_u64().unwrap_or(0) > 0, "{run}");
    assert_eq!(run["given_out_fen"], run["budget_fen"], "{run}");
    // The chat share went through the agent, and some of it ordered there.
    assert!(run["chat_orders"].as_u64().unwrap_or(0) > 0, "{run}");
    let checks = summary["runs"][0]["audit"].as_array().map_or(0, Vec::len);
    assert!(checks >= 8, "{summary}");
    for file in ["surge.md", "surge.html", "surge.json"] {
        assert!(out.0.join(file).exists(), "{file} missing");
    }
    let html = std::fs::read_to_string(out.0.join("surge.html")).unwrap_or_default();
    assert_eq!(html.matches("<svg").count(), 7);
}

/// The same profile, scale and seed give the same answers in-process, chat through the agent
/// included.
#[test]
fn an_in_process_surge_repeats_exactly_for_a_seed() {
    let run = || {
        let out = TempDir::new("surge-repeat");
        let output = lantern()
            .args(["surge", "--in-process", "--scale", "0.001", "--seed", "5", "--json", "--out"])
            .arg(&out.0)
            .output()
            .unwrap_or_else(|error| panic!("{error}"));
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "{stdout}\n{stderr}");
        let last = stdout.lines().last().unwrap_or_default().to_owned();
        let summary: serde_json::Value =
            serde_json::from_str(&last).unwrap_or_else(|error| panic!("{error}: {last}"));
        assert_eq!(summary["audit_passed"], true, "{summary}");
        summary["runs"][0]["summary"].clone()
    };
    let (first, second) = (run(), run());
    assert!(first["chat_orders"].as_u64().unwrap_or(0) > 0, "{first}");
    for figure in [
        "offered",
        "admitted",
        "busy",
        "budget_exhausted",
        "failed",
        "chats_unfinished",
        "chat_orders",
        "gave_up",
        "given_out_fen",
    ] {
        assert_eq!(first[figure], second[figure], "{figure}: {first} vs {second}");
    }
}

#[test]
fn a_bad_profile_names_the_key_and_the_way_out() {
    let dir = TempDir::new("surge-profile");
    std::fs::create_dir_all(&dir.0).unwrap_or_else(|error| panic!("{error}"));
    let path = dir.0.join("mine.toml");
    let text_of = |args: &[&str]| {
        let output = lantern().args(args).output().unwrap_or_else(|error| panic!("{error}"));
        let (_, stderr) = text(&output);
        (output.status.success(), stderr)
    };
    let base = lantern()
        .args(["surge", "--print-profile", "spring-festival"])
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    let (toml, _) = text(&base);
    std::fs::write(&path, toml.replace("share_permille = 900", "share_permille = 901"))
        .unwrap_or_else(|error| panic!("{error}"));
    let (ok, stderr) = text_of(&["surge", "--profile", path.to_str().unwrap_or_default()]);
    assert!(!ok && stderr.contains("phases.share_permille") && stderr.contains("sum to 1000"), "{stderr}");
    let (ok, stderr) = text_of(&["surge", "--profile", "lunar-new-year"]);
    assert!(!ok && stderr.contains("spring-festival"), "{stderr}");
    let (ok, stderr) = text_of(&["surge", "--scale", "0"]);
    assert!(!ok && stderr.contains("--scale"), "{stderr}");
}
