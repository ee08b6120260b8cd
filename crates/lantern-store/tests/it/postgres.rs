//! The PostgreSQL journal and the central budget against a real, private PostgreSQL server
//! (`LocalPostgres`: initdb into a temp dir, loopback, stopped when the test ends). The server
//! binaries come from Debian's `postgresql` package; `scripts/postgres.sh` installs them.

use std::sync::{Arc, Barrier};

use lantern_store::{
    Durability, LocalPostgres, OpenMode, POSTGRES_SCHEMA_VERSION, PostgresBudget, PostgresStore, Store,
    StoreError,
};

use crate::{batch, replay_all};

fn server(label: &str) -> LocalPostgres {
    LocalPostgres::start(label, &[]).unwrap_or_else(|error| panic!("cannot start PostgreSQL: {error}"))
}

fn open(url: &str, mode: OpenMode, shard: Option<u32>) -> Result<PostgresStore, StoreError> {
    PostgresStore::open(url, mode, Durability::Full, shard)
}

fn raw(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

#[test]
fn shards_round_trip_across_reopen_and_migrations_are_recorded() {
    let server = server("round-trip");
    let url = server.url("postgres");
    {
        let mut shard_0 = open(&url, OpenMode::Create, Some(0)).unwrap();
        let mut shard_3 = open(&url, OpenMode::Create, Some(3)).unwrap();
        assert!(shard_0.describe().contains("shard 0 (synchronous_commit=on)"), "{}", shard_0.describe());
        for batch_seq in 1..=20 {
            shard_0.append(&batch(0, batch_seq)).unwrap();
        }
        for batch_seq in 1..=5 {
            shard_3.append(&batch(3, batch_seq)).unwrap();
        }
        assert_eq!(replay_all(&mut shard_0, 0).unwrap().len(), 20, "replay while writing");
        // A writer reads other shards too (the journal of a node it adopts).
        assert_eq!(replay_all(&mut shard_0, 3).unwrap().len(), 5);
    }
    let mut reader = open(&url, OpenMode::Existing, None).unwrap();
    assert_eq!(reader.shards().unwrap(), vec![0, 3]);
    assert_eq!(replay_all(&mut reader, 0).unwrap(), (1..=20).map(|seq| batch(0, seq)).collect::<Vec<_>>());
    assert_eq!(reader.last_batch_seq(3).unwrap(), Some(5));
    assert_eq!(reader.last_batch_seq(9).unwrap(), None);
    let mut shard_0 = open(&url, OpenMode::Existing, Some(0)).unwrap();
    shard_0.append(&batch(0, 21)).unwrap();
    assert_eq!(replay_all(&mut reader, 0).unwrap().len(), 21);
    let versions: Vec<i32> = raw(&url)
        .query("SELECT version FROM lantern_migrations ORDER BY version", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, (1..=POSTGRES_SCHEMA_VERSION).collect::<Vec<_>>());
}

#[test]
fn one_writer_per_shard_and_the_lock_dies_with_its_session() {
    let server = server("lock");
    let url = server.url("postgres");
    let first = open(&url, OpenMode::Create, Some(1)).unwrap();
    let error = open(&url, OpenMode::Existing, Some(1)).unwrap_err();
    assert!(matches!(error, StoreError::ShardLocked { shard: 1, .. }), "{error:?}");
    assert!(error.to_string().contains("another lantern node"), "{error}");
    // Another shard and a reader are fine meanwhile.
    open(&url, OpenMode::Existing, Some(2)).unwrap();
    open(&url, OpenMode::Existing, None).unwrap();
    drop(first);
    open(&url, OpenMode::Existing, Some(1)).unwrap();
}

#[test]
fn a_budget_connection_holds_its_lease_shard_for_its_session() {
    let server = server("budget-lock");
    let url = server.url("postgres");
    let mut first = PostgresBudget::connect(&url).unwrap();
    first.lock_shard(3).unwrap();
    let mut second = PostgresBudget::connect(&url).unwrap();
    let error = second.lock_shard(3).unwrap_err();
    assert!(matches!(error, StoreError::ShardLocked { shard: 3, .. }), "{error:?}");
    second.lock_shard(4).unwrap();
    drop(first);
    PostgresBudget::connect(&url).unwrap().lock_shard(3).unwrap();
}

#[test]
fn create_and_existing_refuse_what_they_must() {
    let server = server("modes");
    let url = server.create_database("fresh").unwrap();
    let error = open(&url, OpenMode::Existing, Some(0)).unwrap_err();
    assert!(matches!(error, StoreError::SchemaMissing { .. }), "{error:?}");
    assert!(error.to_string().contains("--create"), "{error}");
    let tables: i64 = raw(&url)
        .query_one("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", &[])
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "an Existing open creates nothing");
    let mut store = open(&url, OpenMode::Create, Some(0)).unwrap();
    store.append(&batch(0, 1)).unwrap();
    drop(store);
    let error = open(&url, OpenMode::Create, Some(0)).unwrap_err();
    assert!(matches!(error, StoreError::ShardNotEmpty { shard: 0, n_batches: 1, .. }), "{error:?}");
    // A schema from a newer lantern is refused, not guessed at.
    raw(&url).execute("INSERT INTO lantern_migrations (version, name) VALUES (99, 'future')", &[]).unwrap();
    let error = open(&url, OpenMode::Existing, Some(0)).unwrap_err();
    assert!(matches!(error, StoreError::UnsupportedFormat { .. }), "{error:?}");
    let error = PostgresStore::open(
        "postgres://postgres@127.0.0.1:1/none",
        OpenMode::Existing,
        Durability::Full,
        Some(0),
    )
    .unwrap_err();
    assert!(matches!(error, StoreError::Unreachable { .. }), "{error:?}");
    assert!(error.to_string().contains("check that the server runs"), "{error}");
}

#[test]
fn tampering_and_gaps_are_corrupt_naming_the_batch() {
    let server = server("tamper");
    let url = server.url("postgres");
    let mut store = open(&url, OpenMode::Create, Some(0)).unwrap();
    for batch_seq in 1..=5 {
        store.append(&batch(0, batch_seq)).unwrap();
    }
    drop(store);
    let mut raw = raw(&url);
    raw.execute("UPDATE journal SET body = 'tampered'::bytea WHERE shard = 0 AND batch_seq = 3", &[])
        .unwrap();
    let mut reader = open(&url, OpenMode::Existing, None).unwrap();
    let mut n_visited = 0;
    let error = reader.replay(0, &mut |_| {
        n_visited += 1;
        Ok(())
    });
    let message = error.unwrap_err().to_string();
    assert!(message.contains("shard 0, batch 3") && message.contains("checksum"), "{message}");
    assert_eq!(n_visited, 2, "batches before the bad one are visited");
    raw.execute("DELETE FROM journal WHERE shard = 0 AND batch_seq = 3", &[]).unwrap();
    let message = replay_all(&mut reader, 0).unwrap_err().to_string();
    assert!(message.contains("gap"), "{message}");
}

#[test]
fn a_database_restart_between_commits_is_survived_and_a_lost_answer_is_caught() {
    let server = server("restart");
    let url = server.url("postgres");
    let mut store = open(&url, OpenMode::Create, Some(0)).unwrap();
    store.append(&batch(0, 1)).unwrap();
    server.crash().unwrap();
    let error = store.append(&batch(0, 2)).unwrap_err();
    assert!(matches!(error, StoreError::Unreachable { .. }), "while the server is down: {error:?}");
    server.restart().unwrap();
    // The failed batch was not stored, so the same number goes again on a new connection.
    store.append(&batch(0, 2)).unwrap();
    assert_eq!(replay_all(&mut store, 0).unwrap().len(), 2);
    // Now a commit whose answer was lost but which did land: the journal is ahead of memory.
    server.crash().unwrap();
    server.restart().unwrap();
    raw(&url)
        .execute(
            "INSERT INTO journal SELECT shard, 3, committed_at_ms, n_commands, checksum, body FROM journal \
             WHERE shard = 0 AND batch_seq = 2",
            &[],
        )
        .unwrap();
    // The old connection is gone: this append fails as unreachable, the next one reconnects.
    let error = store.append(&batch(0, 3)).unwrap_err();
    assert!(matches!(error, StoreError::Unreachable { .. }), "{error:?}");
    let error = store.append(&batch(0, 3)).unwrap_err();
    assert!(matches!(error, StoreError::BehindJournal { shard: 0, batch_seq: 3, .. }), "{error:?}");
    assert!(error.to_string().contains("restart the node"), "{error}");
    let error = store.append(&batch(0, 3)).unwrap_err();
    assert!(matches!(error, StoreError::BehindJournal { .. }), "it stays refused: {error:?}");
}

#[test]
fn leases_never_hand_out_more_than_the_budget_and_returns_count_once() {
    let server = server("budget");
    let url = server.url("postgres");
    let mut budget = PostgresBudget::connect(&url).unwrap();
    let row = budget.ensure_campaign(7, 10_000).unwrap();
    assert_eq!((row.budget_fen, row.pool_fen, row.leased_fen), (10_000, 10_000, 0));
    assert!(budget.ensure_campaign(7, 9_999).is_err(), "a different budget is refused");
    assert_eq!(budget.grant(7, 0, 4_000, 100).unwrap().granted_fen, 4_000);
    assert_eq!(budget.grant(7, 1, 4_000, 100).unwrap().granted_fen, 4_000);
    // Only 2,000 is left: the chunk is cut to it, then nothing more is granted.
    assert_eq!(budget.grant(7, 2, 4_000, 100).unwrap().granted_fen, 2_000);
    assert_eq!(budget.grant(7, 2, 4_000, 100).unwrap().granted_fen, 2_000);
    assert_eq!(budget.campaign(7).unwrap().map(|row| (row.pool_fen, row.leased_fen)), Some((0, 10_000)));
    // Returning is by running total: recording the same total twice moves money once.
    assert_eq!(budget.record_returned(7, 0, 1_500).unwrap().returned_fen, 1_500);
    assert_eq!(budget.record_returned(7, 0, 1_500).unwrap().returned_fen, 1_500);
    assert_eq!(budget.record_returned(7, 0, 1_000).unwrap().returned_fen, 1_500, "a smaller total is stale");
    assert_eq!(budget.campaign(7).unwrap().map(|row| (row.pool_fen, row.leased_fen)), Some((1_500, 8_500)));
    assert_eq!(budget.lease(7, 0).unwrap().outstanding_fen(), 2_500);
    assert_eq!(budget.expired_leases(50).unwrap().len(), 0);
    budget.renew(7, 1, 500).unwrap();
    let expired: Vec<u32> = budget.expired_leases(200).unwrap().iter().map(|(_, shard, _)| *shard).collect();
    assert_eq!(expired, vec![0, 2], "shard 1 renewed, so only 0 and 2 lapsed");
    assert!(budget.grant(8, 0, 1, 1).is_err(), "an unknown campaign has nothing to lease");
}

#[test]
fn concurrent_leases_from_many_nodes_add_up_to_the_budget_exactly() {
    let server = server("budget-race");
    let url = server.url("postgres");
    PostgresBudget::connect(&url).unwrap().ensure_campaign(1, 1_000_003).unwrap();
    let n_nodes = 6_u32;
    let barrier = Arc::new(Barrier::new(n_nodes as usize));
    // Spawn every thread before joining any: they meet at the barrier.
    let threads: Vec<_> = (0..n_nodes)
        .map(|shard| {
            let (url, barrier) = (url.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let mut budget = PostgresBudget::connect(&url).unwrap();
                barrier.wait();
                let mut totals = budget.lease(1, shard).unwrap();
                for round in 0..60 {
                    totals = budget.grant(1, shard, 4_997 + i64::from(shard) * 31, 0).unwrap();
                    if round % 3 == 0 {
                        totals = budget.record_returned(1, shard, totals.granted_fen / 4).unwrap();
                    }
                }
                totals.outstanding_fen()
            })
        })
        .collect();
    let granted: Vec<i64> = threads.into_iter().map(|thread| thread.join().unwrap()).collect();
    let row = PostgresBudget::connect(&url).unwrap().campaign(1).unwrap().unwrap();
    assert_eq!(row.pool_fen, 0, "the budget ran out under this many grants");
    assert_eq!(granted.iter().sum::<i64>(), 1_000_003, "pool + leases = budget, to the fen");
    assert_eq!(row.leased_fen, 1_000_003);
}
