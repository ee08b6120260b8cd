//! `lantern serve` as an operator runs it: start, answer, stop on SIGTERM after draining, start
//! again over the same data with everything acknowledged still there; bad configuration refused.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use crate::support::{TempDir, journal_of_orders, lantern, text};

struct Server {
    child: Child,
    address: String,
    tokens: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &std::path::Path, demo: bool, env: &[(&str, &str)]) -> Server {
    let mut command = lantern();
    command.args(["serve", "--listen", "127.0.0.1:0", "--print-tokens", "--data"]).arg(data);
    command.envs(env.iter().copied());
    if demo {
        command.arg("--demo");
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start lantern serve: {error}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut lines = BufReader::new(stdout).lines();
    let mut address = String::new();
    let mut tokens = Vec::new();
    while tokens.len() < 3 {
        let line = lines.next().unwrap_or_else(|| panic!("lantern serve exited early")).unwrap_or_default();
        if let Some(rest) = line.strip_prefix("lantern listening on http://") {
            address = rest.trim().to_owned();
        } else if line.starts_with("token ") {
            tokens.push(line.rsplit(' ').next().unwrap_or_default().to_owned());
        }
    }
    Server { child, address, tokens }
}

/// One HTTP/1.1 request over a fresh connection; (status, body).
fn request(
    address: &str,
    method: &str,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: &str,
) -> (u16, String) {
    let key = key.map(|key| format!("Idempotency-Key: {key}\r\n")).unwrap_or_default();
    request_with(address, method, path, token, &key, body)
}

/// `request` with `headers` (each line ending in CRLF) added.
fn request_with(
    address: &str,
    method: &str,
    path: &str,
    token: &str,
    headers: &str,
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap_or_else(|error| panic!("connect {address}: {error}"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap_or_else(|error| panic!("{error}"));
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap_or_else(|error| panic!("{error}"));
    let status = answer.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

fn terminate(server: &mut Server) -> bool {
    let pid = server.child.id().to_string();
    let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status();
    assert!(sent.is_ok_and(|status| status.success()), "cannot send SIGTERM");
    server.child.wait().is_ok_and(|status| status.success())
}

#[test]
fn serve_answers_drains_on_sigterm_and_keeps_acknowledged_work() {
    let data = TempDir::new("serve");
    let mut server = start(&data.0, true, &[]);
    let shopper = server.tokens[2].clone();
    let (status, body) = request(&server.address, "GET", "/healthz", &shopper, None, "");
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        request(&server.address, "POST", "/v1/campaigns/cmp_1/claim", &shopper, Some("claim-1"), "{}");
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("\"newly_claimed\":true"), "{body}");
    assert!(terminate(&mut server), "lantern serve must exit cleanly on SIGTERM");

    // Started again over the same data: the claim is there, and its key still replays.
    let server = start(&data.0, false, &[]);
    let shopper = server.tokens[2].clone();
    let (status, body) = request(&server.address, "GET", "/v1/wallet", &shopper, None, "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"claimed\""), "{body}");
    let (status, body) =
        request(&server.address, "POST", "/v1/campaigns/cmp_1/claim", &shopper, Some("claim-1"), "{}");
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("\"newly_claimed\":true"), "the replay answers the first answer: {body}");
}

/// `GET /readyz` over a fresh connection: (status, body), or the connection's error.
fn readiness(address: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)?;
    stream.write_all(
        format!("GET /readyz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    Ok((status, body))
}

#[test]
fn the_port_answers_starting_while_the_journal_replays_then_serves_on_it() {
    let data = TempDir::new("serve-starting");
    // A journal that takes a while to replay: 100,000 orders (about a second in a debug build).
    journal_of_orders(&data.0, 64, 100_000);
    let address = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|error| panic!("{error}"));
        probe.local_addr().unwrap_or_else(|error| panic!("{error}")).to_string()
    };
    let child = lantern()
        .args(["serve", "--listen", &address, "--print-tokens", "--data"])
        .arg(&data.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start lantern serve: {error}"));
    let mut server = Server { child, address: address.clone(), tokens: Vec::new() };
    let started = std::time::Instant::now();
    let mut answers: Vec<(u16, String)> = Vec::new();
    while answers.last().is_none_or(|(status, _)| *status != 200) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "not ready in 2 minutes: {answers:?}"
        );
        match readiness(&address) {
            Ok(answer) => answers.push(answer),
            // Only before the port first answers: the configuration is still being read.
            Err(error) if answers.is_empty() => {
                assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused, "{error}");
            }
            Err(error) => panic!("the port answered, then refused a connection: {error} after {answers:?}"),
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (ready, starting) = answers.split_last().unwrap_or_else(|| unreachable!());
    let mut seen: Vec<&(u16, String)> = starting.iter().collect();
    seen.dedup();
    assert_eq!(ready.1, "{\"status\":\"ready\"}");
    assert!(!starting.is_empty(), "the port answered ready at once: nothing was replayed first");
    for (status, body) in &seen {
        assert_eq!(*status, 503, "{body}");
        assert!(body.contains("\"code\":\"starting\""), "{body}");
    }
    assert!(
        starting.iter().any(|(_, body)| body.contains("replaying the journal")),
        "the replay's progress was never shown: {seen:?}"
    );
    // The line scripts wait for comes once the gateway serves for real.
    let stdout = server.child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    assert_eq!(lines.next().unwrap_or_default(), format!("lantern listening on http://{address}"));
    // The read index was recorded from the replay: a shopper of the journal finds their order.
    let shopper = lines
        .find(|line| line.starts_with("token shopper"))
        .and_then(|line| line.rsplit(' ').next().map(str::to_owned))
        .unwrap_or_else(|| panic!("no shopper token printed"));
    let (status, body) = request(&address, "GET", "/v1/orders", &shopper, None, "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.matches("\"id\":\"ord_").count(), 1, "shp_1 placed one order: {body}");
    // What the start cost is on /metrics: the journal's commands, replayed.
    let (status, metrics) = request(&address, "GET", "/metrics", &shopper, None, "");
    assert_eq!(status, 200);
    let replayed: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("lantern_start_replayed_commands "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no lantern_start_replayed_commands in {metrics}"));
    assert!(replayed >= 100_000, "{replayed} commands replayed for 100,000 orders");
    assert!(terminate(&mut server), "lantern serve must exit cleanly on SIGTERM");
}

/// `lantern serve` over `data` with `variable=value` in its environment, which must refuse to
/// start; its standard error.
fn refused_start(data: &std::path::Path, variable: &str, value: &str) -> String {
    refused_start_with(data, &[(variable, value)])
}

/// `refused_start` with several variables.
fn refused_start_with(data: &std::path::Path, env: &[(&str, &str)]) -> String {
    let output = lantern()
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    stderr
}

#[test]
fn bad_configuration_is_refused_at_start_naming_the_key() {
    let data = TempDir::new("serve-config");
    let stderr = refused_start(&data.0, "LANTERN_ADMISSION__MAX_LIMIT", "0");
    assert!(stderr.contains("max_limit"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!data.0.exists(), "a refused start must not create the data directory");

    // The webhook settings are checked too, once webhooks are on.
    let webhooks = [
        ("LANTERN_ACP__WEBHOOK_URL", "http://127.0.0.1:9/order_events"),
        ("LANTERN_WEBHOOK_SECRET", "an-acp-webhook-secret-for-tests"),
    ];
    for (variable, value, expected) in [
        ("LANTERN_ACP__WEBHOOK_CONCURRENCY", "0", "acp.webhook_concurrency must be 1..=64, got 0"),
        ("LANTERN_ACP__WEBHOOK_ATTEMPTS_MAX", "101", "acp.webhook_attempts_max must be 1..=100, got 101"),
    ] {
        let stderr = refused_start_with(&data.0, &[webhooks[0], webhooks[1], (variable, value)]);
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!data.0.exists(), "a refused start must not create the data directory");
    }

    let stderr = refused_start(&data.0, "LANTERN_ACP_REQUEST_SECRET", "too-short");
    assert!(stderr.contains("LANTERN_ACP_REQUEST_SECRET holds 9 bytes"), "{stderr}");
    assert!(!data.0.exists(), "a refused start must not create the data directory");

    // A value of the wrong type is named by its key and the variable that set it.
    let stderr = refused_start(&data.0, "LANTERN_WAITING_ROOM__LONG_POLL_MS", "soon");
    assert!(
        stderr.contains("waiting_room.long_poll_ms, set by LANTERN_WAITING_ROOM__LONG_POLL_MS: invalid type"),
        "{stderr}"
    );
    assert!(!data.0.exists(), "a refused start must not create the data directory");
}

/// `serve --print-config` prints what the command would run with, flags included, as a file
/// `--config` takes back; nothing starts and no data directory is made.
#[test]
fn print_config_prints_a_file_that_starts_the_same_gateway() {
    let data = TempDir::new("serve-print-config");
    let printed = lantern()
        .args(["serve", "--print-config", "--no-admission", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data.0)
        .env("LANTERN_ADMISSION__MAX_LIMIT", "321")
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    let (stdout, stderr) = text(&printed);
    assert!(printed.status.success(), "{stderr}");
    assert!(!data.0.exists(), "printing the configuration must not create the data directory");
    assert!(stdout.contains("max_limit = 321"), "{stdout}");
    assert!(stdout.contains("[admission]\nenabled = false"), "{stdout}");
    let file = std::env::temp_dir().join(format!("lantern-print-config-{}.toml", std::process::id()));
    std::fs::write(&file, &stdout).unwrap_or_else(|error| panic!("{error}"));
    let again = lantern()
        .args(["serve", "--print-config", "--config"])
        .arg(&file)
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    let _ = std::fs::remove_file(&file);
    assert_eq!(text(&again).0, stdout, "the printed file gives the same configuration");
}

/// A request-signing secret in `LANTERN_ACP_REQUEST_SECRET` makes the ACP endpoints take
/// signed requests only (the gateway's tests cover the scheme); Lantern's own API is unchanged.
#[test]
fn a_request_signing_secret_in_the_environment_makes_acp_requests_signed() {
    let data = TempDir::new("serve-signing");
    let secret = ("LANTERN_ACP_REQUEST_SECRET", "an-acp-request-signing-secret");
    let server = start(&data.0, true, &[secret]);
    let shopper = server.tokens[2].clone();
    let (status, body) = request(&server.address, "GET", "/checkout_sessions/cs_1", &shopper, None, "");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"signature_required\""), "{body}");
    let (status, body) = request(&server.address, "GET", "/v1/wallet", &shopper, None, "");
    assert_eq!(status, 200, "{body}");
}

/// A webhook receiver on loopback: every POST body it gets, answered 200 (HTTP/1.1, keep-alive).
fn webhook_receiver() -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|error| panic!("{error}"));
    let url =
        format!("http://{}/order_events", listener.local_addr().unwrap_or_else(|error| panic!("{error}")));
    let (sender, bodies) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let sender = sender.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                loop {
                    let mut length = 0_usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let _ = sender.send(String::from_utf8_lossy(&body).into_owned());
                    let _ = reader.get_mut().write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                }
            });
        }
    });
    (url, bodies)
}

/// An ACP order's webhook event waiting in the outbox (its receiver down) when the process is
/// SIGKILLed still reaches the receiver: the restarted gateway reads from the journal which
/// orders came through ACP and sends their recent changes again.
#[test]
fn an_acp_order_event_the_outbox_held_at_a_sigkill_is_sent_after_the_restart() {
    let data = TempDir::new("serve-webhook-kill");
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|error| panic!("{error}"));
    let down_url =
        format!("http://{}/order_events", down.local_addr().unwrap_or_else(|error| panic!("{error}")));
    drop(down);
    let secret = ("LANTERN_WEBHOOK_SECRET", "an-acp-webhook-secret-for-tests");
    let mut server = start(&data.0, true, &[secret, ("LANTERN_ACP__WEBHOOK_URL", &down_url)]);
    let shopper = server.tokens[2].clone();
    let acp = |key: &str| format!("API-Version: 2026-04-17\r\nIdempotency-Key: {key}\r\n");
    let cart = r#"{"currency":"cny","capabilities":{},"line_items":[{"id":"mer_1/itm_101"}]}"#;
    let (status, body) =
        request_with(&server.address, "POST", "/checkout_sessions", &shopper, &acp("c1"), cart);
    assert_eq!(status, 201, "{body}");
    let session = serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default()["id"].clone();
    let session = session.as_str().unwrap_or_default().to_owned();
    let pay = r#"{"payment_data":{"purchase_order_number":"pay_at_pickup"}}"#;
    let path = format!("/checkout_sessions/{session}/complete");
    let (status, body) = request_with(&server.address, "POST", &path, &shopper, &acp("p1"), pay);
    assert_eq!(status, 200, "{body}");
    let order = serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default()["order"]["id"].clone();
    assert!(order.is_string(), "{body}");
    server.child.kill().unwrap_or_else(|error| panic!("cannot SIGKILL lantern serve: {error}"));
    let _ = server.child.wait();

    let (url, bodies) = webhook_receiver();
    let _server = start(&data.0, false, &[secret, ("LANTERN_ACP__WEBHOOK_URL", &url)]);
    let event = bodies
        .recv_timeout(std::time::Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("no webhook after the restart"));
    let event: serde_json::Value = serde_json::from_str(&event).unwrap_or_default();
    assert_eq!(event["type"], "order_create", "{event}");
    assert_eq!(event["data"]["id"], order, "{event}");
    assert_eq!(event["data"]["status"], "placed", "{event}");
}

/// The operator's backup of a running gateway (`POST /v1/ops/backups`) is a data directory:
/// after the gateway is killed, `lantern audit` passes on it and `lantern serve` starts on it
/// with the same tokens and everything acknowledged before the backup, and nothing after.
#[test]
fn a_backup_of_a_running_gateway_audits_and_serves_after_the_gateway_is_killed() {
    let data = TempDir::new("serve-backup");
    let server = start(&data.0, true, &[]);
    let (operator, shopper) = (server.tokens[0].clone(), server.tokens[2].clone());
    let (status, body) =
        request(&server.address, "POST", "/v1/campaigns/cmp_1/claim", &shopper, Some("claim-1"), "{}");
    assert_eq!(status, 201, "{body}");
    let (status, body) =
        request(&server.address, "POST", "/v1/ops/backups", &operator, Some("backup-1"), "{}");
    assert_eq!(status, 202, "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let finished = loop {
        let (status, body) = request(&server.address, "GET", "/v1/ops/backups", &operator, None, "");
        assert_eq!(status, 200, "{body}");
        if !body.contains("\"state\":\"running\"") {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "the backup did not finish: {body}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(finished.contains("\"state\":\"done\""), "{finished}");
    let status: serde_json::Value = serde_json::from_str(&finished).unwrap_or_else(|error| panic!("{error}"));
    let backup = std::path::PathBuf::from(status["latest"]["directory"].as_str().unwrap_or_default());
    assert!(backup.starts_with(data.0.join("backups")), "{}", backup.display());
    // A change after the backup, then the gateway is killed.
    let (status, body) =
        request(&server.address, "POST", "/v1/campaigns/cmp_1/pause", &operator, Some("pause-1"), "{}");
    assert_eq!(status, 200, "{body}");
    drop(server);

    let audited = lantern().args(["audit", "--data"]).arg(&backup).output().unwrap_or_else(|e| panic!("{e}"));
    let (stdout, stderr) = text(&audited);
    assert!(
        audited.status.success() && stdout.contains("PASS") && !stdout.contains("FAIL"),
        "{stdout}{stderr}"
    );
    let from_backup = start(&backup, false, &[]);
    // The secret came with the journal: the tokens issued before still work.
    let (status, body) = request(&from_backup.address, "GET", "/v1/wallet", &shopper, None, "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"claimed\""), "{body}");
    let (status, body) = request(&from_backup.address, "GET", "/v1/campaigns", &shopper, None, "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"active\""), "the pause came after the backup: {body}");
}
