//! The gateway under test: `lantern serve --demo` as a child process on loopback, with its data
//! and log in a temporary directory that goes away with it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

/// The line `lantern serve` prints once it listens.
const LISTEN_PREFIX: &str = "lantern listening on http://";
/// How long the server may take to open its data directory and listen.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Lines of the server's log quoted when it fails to start.
const LOG_TAIL_LINES: usize = 20;

/// A running server; killed, and its directory removed, when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub pid: u32,
    dir: PathBuf,
}

impl Server {
    /// Starts `lantern serve --demo` on 127.0.0.1 (a free port) with `envs` added to this
    /// process's environment, and waits for its listening line.
    pub fn start(label: &str, envs: &[(String, String)]) -> anyhow::Result<Server> {
        Server::start_with(label, envs, &[])
    }

    /// As [`Server::start`], with more `lantern serve` flags (e.g. `--no-admission`).
    pub fn start_with(label: &str, envs: &[(String, String)], flags: &[&str]) -> anyhow::Result<Server> {
        let dir = crate::node::temp_data_dir(label);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let log_path = dir.join("server.log");
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let exe = std::env::current_exe().context("cannot find this program to start the server")?;
        let spawned = Command::new(exe)
            .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data"])
            .arg(dir.join("data"))
            .args(flags)
            .envs(envs.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(error).context("cannot start `lantern serve`");
            }
        };
        let pid = child.id();
        let stdout = child.stdout.take();
        // Reads the listening line, then drains the rest so the server never blocks on stdout.
        let (sender, receiver) = std::sync::mpsc::channel();
        if let Some(stdout) = stdout {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(addr) = parse_listen_line(&line) {
                        let _ = sender.send(addr);
                    }
                }
            });
        }
        let mut server = Server { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), pid, dir };
        match receiver.recv_timeout(START_TIMEOUT) {
            Ok(addr) => server.addr = addr,
            Err(_) => {
                let what = if server.alive() {
                    format!("did not print its listening line within {} s", START_TIMEOUT.as_secs())
                } else {
                    "exited before it listened".to_owned()
                };
                anyhow::bail!("`lantern serve` {what}; its log ends:\n{}", server.log_tail());
            }
        }
        Ok(server)
    }

    /// The server's resident memory now, in KiB (Linux `VmRSS`).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status_kib(&status, "VmRSS:")
    }

    /// CPU time the server has used so far, in seconds.
    pub fn cpu_s(&self) -> Option<f64> {
        cpu_s(&self.pid.to_string())
    }

    /// Whether the server process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Stops the server as an operator would (SIGTERM: drain, commit, exit) and waits for it,
    /// so its data directory can be opened by another process.
    pub fn terminate(&mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("cannot run kill")?;
        anyhow::ensure!(status.success(), "kill -TERM {} failed", self.pid);
        let exit = self.child.wait().context("waiting for the server to stop")?;
        tracing::info!(pid = self.pid, ?exit, "gateway stopped");
        Ok(())
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        tail_of_log(&std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default())
    }

    /// Lines in the server's log at warning level or above so far, and the log's size in bytes
    /// (read as a stream: an overloaded server may log millions of lines).
    pub fn log_warnings(&self) -> (u64, u64) {
        let Ok(file) = std::fs::File::open(self.dir.join("server.log")) else { return (0, 0) };
        let mut reader = BufReader::new(file);
        let (mut n_warnings, mut n_bytes) = (0, 0);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(n) => n_bytes += n as u64,
            }
            if is_warning(&line) {
                n_warnings += 1;
            }
        }
        (n_warnings, n_bytes)
    }
}

/// Whether a log line (tracing's format, with or without ANSI colours) is a warning or an error.
pub fn is_warning(line: &[u8]) -> bool {
    // The level is the second word; colours wrap it as ESC[33m WARN ESC[0m.
    let text = String::from_utf8_lossy(line);
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for end in chars.by_ref() {
                if end.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    matches!(plain.split_whitespace().nth(1), Some("WARN" | "ERROR"))
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The address in `lantern serve`'s listening line.
pub fn parse_listen_line(line: &str) -> Option<SocketAddr> {
    line.trim().strip_prefix(LISTEN_PREFIX)?.trim_end_matches('/').parse().ok()
}

/// A `kB` field of `/proc/<pid>/status`, e.g. `VmRSS:`.
pub fn status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on Linux's usual builds;
/// read without libc, so assumed).
const USER_HZ: f64 = 100.0;

/// CPU time (user + system, all threads) of process `pid` (or `self`), in seconds.
pub fn cpu_s(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat_cpu_ticks(&stat)? as f64 / USER_HZ)
}

/// utime + stime from a `/proc/<pid>/stat` line (fields 14 and 15, counted after the command
/// name, which may itself hold spaces and parentheses).
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Busy CPU time of the whole machine so far, in seconds (`/proc/stat`: everything but idle and
/// iowait, over all CPUs, the kernel's network processing included).
pub fn machine_busy_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    Some(machine_busy_ticks(stat.lines().next()?)? as f64 / USER_HZ)
}

/// Busy ticks from the `cpu` line of `/proc/stat`.
pub fn machine_busy_ticks(cpu_line: &str) -> Option<u64> {
    let mut fields = cpu_line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let ticks: Vec<u64> = fields.map(|field| field.parse().ok()).collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice].
    let total: u64 = ticks.iter().take(8).sum();
    Some(total - ticks.get(3)? - ticks.get(4).copied().unwrap_or(0))
}

/// The soft limit on open files from `/proc/self/limits` (`None` when unlimited or unreadable).
pub fn open_files_soft_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// The last [`LOG_TAIL_LINES`] lines of a server log; for a server that refused to start, from
/// its `Error:` line on (a backtrace after it is longer than the tail).
fn tail_of_log(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let first = match lines.iter().rposition(|line| line.starts_with("Error: ")) {
        Some(error_idx) => error_idx,
        None => lines.len().saturating_sub(LOG_TAIL_LINES),
    };
    lines[first..].iter().take(LOG_TAIL_LINES).copied().collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_start_shows_its_error_not_only_the_backtrace_after_it() {
        let mut log = String::from(
            "starting\nError: the configuration is invalid: unknown field `limiter`\n\nStack backtrace:\n",
        );
        for frame in 0..100 {
            log.push_str(&format!("  {frame}: somewhere\n"));
        }
        let tail = tail_of_log(&log);
        assert!(tail.starts_with("Error: the configuration is invalid"), "{tail}");
        let plain: String = (0..100).map(|line| format!("line {line}\n")).collect();
        assert!(tail_of_log(&plain).ends_with("line 99"));
        assert!(!tail_of_log(&plain).contains("line 0\n"));
    }

    #[test]
    fn the_listening_line_gives_the_address() {
        assert_eq!(
            parse_listen_line("lantern listening on http://127.0.0.1:39871\n"),
            Some(SocketAddr::from(([127, 0, 0, 1], 39871)))
        );
        assert_eq!(parse_listen_line("token operator: lt1.abc"), None);
        assert_eq!(parse_listen_line("lantern listening on http://nowhere"), None);
    }

    #[test]
    fn proc_files_are_read() {
        let status = "Name:\tlantern\nVmHWM:\t  52000 kB\nVmRSS:\t   48128 kB\nThreads:\t6\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(48_128));
        assert_eq!(status_kib(status, "VmSwap:"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             unlimited            unlimited            processes \n\
                      Max open files            20000                20000                files     \n";
        assert_eq!(open_files_soft_limit(limits), Some(20_000));
        assert_eq!(open_files_soft_limit("Max open files  unlimited  unlimited  files"), None);
        let stat = "17525 (lantern (x)) S 1 17525 1 0 -1 4194560 9 0 0 0 1234 567 0 0 20 0 6 0 100 0 0";
        assert_eq!(stat_cpu_ticks(stat), Some(1_801));
        assert!(is_warning(b"\x1b[2m2026-11-23T19:33:21Z\x1b[0m \x1b[33m WARN\x1b[0m request failed\n"));
        assert!(is_warning(b"2026-11-23T19:33:21Z ERROR the server failed\n"));
        assert!(!is_warning(b"\x1b[2m2026-11-23T19:33:21Z\x1b[0m \x1b[32m INFO\x1b[0m WARN in a message\n"));
        assert_eq!(machine_busy_ticks("cpu  306792 0 74857 669194 11238 0 8759 177 0 0"), Some(390_585));
        assert_eq!(machine_busy_ticks("cpu0 1 2 3 4 5"), None);
    }
}
