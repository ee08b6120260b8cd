//! `POST /v1/ops/backups`: a backup taken over HTTP while the gateway serves, followed to its
//! end, then started as a gateway of its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lantern_gateway::backups::BackupPlace;
use serde_json::{Value, json};

use crate::support::*;

async fn wait_for_backup(server: &Server, operator: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = server.get(operator, "/v1/ops/backups").await.ok(200).clone();
        if status["latest"]["state"] != "running" {
            return status;
        }
        assert!(Instant::now() < deadline, "the backup did not finish: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_backup_taken_over_http_holds_every_order_placed_before_it() {
    let backups = Arc::new(TempDir::new("backups"));
    let kept = backups.0.join("kept");
    std::fs::create_dir_all(&kept).unwrap();
    std::fs::write(kept.join("secret"), "the data directory's token secret").unwrap();
    let mut config = test_config();
    config.backups = Some(BackupPlace {
        directory: backups.0.join("taken"),
        // A file that is not there (a secret from the environment) is simply not carried.
        carry: vec![kept.join("secret"), kept.join("not-there")],
        kept: 0,
    });
    let server = Server::with_config(config).await;
    let (ada, bo, operator) = (server.shopper(1), server.shopper(2), server.operator());
    let order = server.place_order(&ada, TEA_1).await;
    let order_id = order["id"].as_str().unwrap().to_owned();

    server.post(&ada, "/v1/ops/backups", &json!({})).await.refused(403, "forbidden");
    server.get(&server.merchant(1), "/v1/ops/backups").await.refused(403, "forbidden");
    let before = server.get(&operator, "/v1/ops/backups").await.ok(200).clone();
    assert_eq!((before["latest"].clone(), before["finished"].clone()), (Value::Null, json!([])));
    assert_eq!(before["directory"], backups.0.join("taken").display().to_string());

    let key = server.key();
    let started = server.post_keyed(&operator, "/v1/ops/backups", &key, &json!({})).await;
    let started = started.ok(202).clone();
    let directory = started["directory"].as_str().unwrap().to_owned();
    let name = directory.rsplit('/').next().unwrap();
    assert!(directory.starts_with(&backups.0.join("taken").display().to_string()), "{directory}");
    assert!(
        name.len() == 19 && name.as_bytes()[8] == b'T' && name.ends_with('Z'),
        "named by its start: {name}"
    );
    assert!(["running", "done"].contains(&started["state"].as_str().unwrap()), "{started}");
    assert!(started["batches_in_journal"].as_u64().unwrap() >= 7, "the seed and the order: {started}");
    // The same request again answers the same backup; the same key with another body is refused.
    let again = server.post_keyed(&operator, "/v1/ops/backups", &key, &json!({})).await;
    assert_eq!((again.status, again.replayed()), (200, true));
    assert_eq!(again.json["directory"], directory.as_str());
    let other_body = server.post_keyed(&operator, "/v1/ops/backups", &key, &json!({"label": "x"})).await;
    other_body.refused(422, "idempotency_conflict");

    let status = wait_for_backup(&server, &operator).await;
    let latest = &status["latest"];
    assert_eq!(latest["state"], "done", "{status}");
    assert_eq!(latest["directory"], directory.as_str());
    assert_eq!(latest["error"], Value::Null);
    assert!(latest["finished_at"].is_string());
    // Prometheus can alert on it.
    let metrics = server.send(server.http.get(server.url("/metrics"))).await.text;
    for line in
        ["lantern_backups_started_total 1", "lantern_backups_done_total 1", "lantern_backups_failed_total 0"]
    {
        assert!(metrics.lines().any(|metric| metric == line), "no {line:?} in /metrics");
    }
    let finished_s: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("lantern_backup_last_done_timestamp_seconds "))
        .and_then(|value| value.parse().ok())
        .unwrap();
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(finished_s + 60 > now_s && finished_s <= now_s, "{finished_s} against {now_s}");
    // The dashboard's snapshot shows the same backup.
    let live = server.get(&operator, "/v1/ops/live").await.ok(200).clone();
    assert_eq!((live["backups_on"].clone(), live["backup"].clone()), (json!(true), latest.clone()));
    // The operator's action is in the audit list, like a campaign change: the start, then its
    // repeat (newest first), on no campaign.
    let audit = live["audit"].as_array().unwrap();
    assert_eq!(audit.len(), 2, "{live}");
    for (entry, replayed) in audit.iter().zip([true, false]) {
        assert_eq!(entry["action"], "backup", "{entry}");
        assert_eq!(entry["campaign_id"], Value::Null, "{entry}");
        assert_eq!(entry["detail"], format!("backup into {directory}"), "{entry}");
        assert_eq!(entry["replayed"], replayed, "{entry}");
        assert!(entry["who"].as_str().unwrap().starts_with("operator (token issued "), "{entry}");
    }
    let copied = latest["batches_copied"].as_u64().unwrap();
    assert_eq!(latest["batches_in_journal"].as_u64().unwrap(), copied);
    assert!(copied >= started["batches_in_journal"].as_u64().unwrap());
    assert!(latest["commands_copied"].as_u64().unwrap() >= copied);
    assert!(latest["bytes_copied"].as_u64().unwrap() > 0);
    let mut files: Vec<String> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["lantern.db", "secret"]);
    assert_eq!(
        std::fs::read_to_string(std::path::Path::new(&directory).join("secret")).unwrap(),
        "the data directory's token secret"
    );

    // An order after the backup finished is not in it.
    let later = server.place_order(&bo, TEA_2).await;
    let later_id = later["id"].as_str().unwrap().to_owned();
    // The backup is a data directory: a gateway starts on it with every order placed before.
    let from_backup =
        Server::open_existing(Setup::default(), Arc::new(TempDir(directory.clone().into()))).await;
    let order_in_backup = from_backup.get(&ada, &format!("/v1/orders/{order_id}")).await.ok(200).clone();
    assert_eq!(order_in_backup["total"], order["total"]);
    assert_eq!(order_in_backup["status"], order["status"]);
    from_backup.get(&bo, &format!("/v1/orders/{later_id}")).await.refused(404, "not_found");
    // A second backup gets a folder of its own.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let second = server.post(&operator, "/v1/ops/backups", &json!({})).await.ok(202).clone();
    assert_ne!(second["directory"], directory.as_str());
    let status = wait_for_backup(&server, &operator).await;
    assert_eq!(status["latest"]["state"], "done", "{status}");
    assert!(status["latest"]["batches_copied"].as_u64().unwrap() > copied, "the later order is in it");

    // After a restart the backup's age is still known (from the newest folder on disk), so an
    // alert on it does not fire at every restart.
    let server = server.restart().await;
    let metrics = server.send(server.http.get(server.url("/metrics"))).await.text;
    let restarted_s: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("lantern_backup_last_done_timestamp_seconds "))
        .and_then(|value| value.parse().ok())
        .unwrap();
    assert!(restarted_s >= finished_s && restarted_s <= now_s + 60, "{restarted_s} against {finished_s}");
    assert!(metrics.lines().any(|metric| metric == "lantern_backups_done_total 0"), "counters start again");
}

/// The names of the folders in `directory`, sorted.
fn folders(directory: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn only_the_newest_backups_are_kept_and_nothing_else_is_touched() {
    let backups = Arc::new(TempDir::new("backups-kept"));
    let taken = backups.0.join("taken");
    std::fs::create_dir_all(taken.join("operator-notes")).unwrap();
    std::fs::write(taken.join("20200101T000000000Z.tar"), "an operator's own file").unwrap();
    let mut config = test_config();
    config.backups = Some(BackupPlace { directory: taken.clone(), carry: vec![], kept: 2 });
    let server = Server::with_config(config).await;
    let operator = server.operator();
    let mut started = Vec::new();
    for _ in 0..3 {
        let backup = server.post(&operator, "/v1/ops/backups", &json!({})).await.ok(202).clone();
        started.push(backup["directory"].as_str().unwrap().rsplit('/').next().unwrap().to_owned());
        let status = wait_for_backup(&server, &operator).await;
        assert_eq!(status["latest"]["state"], "done", "{status}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // The oldest is removed once the third is done; the others and the operator's own files stay.
    let mut expected = vec![
        started[1].clone(),
        started[2].clone(),
        "20200101T000000000Z.tar".into(),
        "operator-notes".into(),
    ];
    expected.sort();
    let deadline = Instant::now() + Duration::from_secs(10);
    while folders(&taken) != expected {
        assert!(Instant::now() < deadline, "{:?}, expected {expected:?}", folders(&taken));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The operator sees the two kept, newest first, with when each started and its size.
    let status = server.get(&operator, "/v1/ops/backups").await.ok(200).clone();
    let finished = status["finished"].as_array().unwrap();
    let names: Vec<&str> = finished.iter().map(|backup| backup["name"].as_str().unwrap()).collect();
    assert_eq!(names, [started[2].as_str(), started[1].as_str()]);
    for backup in finished {
        assert!(backup["bytes"].as_u64().unwrap() > 4096, "{backup}");
        let name = backup["name"].as_str().unwrap();
        let started_at = backup["started_at"].as_str().unwrap();
        assert_eq!(started_at.len(), "2026-11-24T21:05:01.123Z".len(), "{started_at}");
        assert_eq!(started_at.replace(['-', ':', '.'], ""), name, "{backup}");
    }
}

#[tokio::test]
async fn a_gateway_without_a_data_directory_says_it_has_nothing_to_back_up() {
    let server = Server::start().await;
    let operator = server.operator();
    let refused = server.post(&operator, "/v1/ops/backups", &json!({})).await;
    let error = refused.refused(409, "backup_unavailable");
    assert!(error["message"].as_str().unwrap().contains("data directory"), "{error}");
    let status = server.get(&operator, "/v1/ops/backups").await.ok(200).clone();
    assert_eq!(status, json!({"directory": null, "latest": null, "finished": []}));
    let live = server.get(&operator, "/v1/ops/live").await.ok(200).clone();
    assert_eq!((live["backups_on"].clone(), live["backup"].clone()), (json!(false), Value::Null));
    // Bad input is refused before anything else is looked at.
    let broken =
        server.post_bytes(&operator, "/v1/ops/backups", "application/json", b"{\"a\":".to_vec()).await;
    broken.refused(400, "invalid");
}
