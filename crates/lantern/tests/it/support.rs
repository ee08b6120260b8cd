//! Helpers shared by the binary's tests.

use std::path::PathBuf;
use std::process::{Command, Output};

pub fn lantern() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lantern"))
}

/// A fresh directory path under the temp dir (not created), removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|duration| duration.as_nanos())
            .unwrap_or(0);
        TempDir(std::env::temp_dir().join(format!("lantern-test-{label}-{}-{nanos}", std::process::id())))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs `audit` (a `lantern audit --json ...` command) with `--acks acks_path`, asserts that it
/// ran and that every check passed, and returns its report (the JSON of its last line).
pub fn passing_audit(mut audit: Command, acks_path: &std::path::Path) -> serde_json::Value {
    audit.arg("--acks").arg(acks_path);
    let report = json_summary(&mut audit);
    assert_eq!(report["passed"], true, "{report}");
    report
}

/// Runs a `--json` command, asserts that it succeeded, and returns the JSON of its last line.
pub fn json_summary(command: &mut Command) -> serde_json::Value {
    let output = command.output().unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{command:?} failed:\n{stdout}\n{stderr}");
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|error| panic!("the last line is not JSON: {error}\n{stdout}"))
}

/// Fills the new data directory `data` with `max_orders` acknowledged orders from `workers`
/// `lantern loadgen` workers: a journal to restart over. Asserts that it ran.
pub fn journal_of_orders(data: &std::path::Path, workers: u32, max_orders: u64) {
    let made = lantern()
        .args(["loadgen", "--workers", &workers.to_string(), "--max-orders", &max_orders.to_string()])
        .args(["--create", "--data"])
        .arg(data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    assert!(made.is_ok_and(|status| status.success()), "lantern loadgen failed");
}

/// A small xorshift generator: random kill moments without a dependency, reproducible by seed.
pub struct Rng(u64);

impl Rng {
    pub fn from_env_or_time(variable: &str) -> Rng {
        let seed = std::env::var(variable).ok().and_then(|seed| seed.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|duration| duration.as_nanos() as u64)
                .unwrap_or(1)
        });
        eprintln!("{variable}={seed}");
        Rng(seed.max(1))
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}
