//! Backups of a journal that keeps growing while they copy.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use lantern_store::{
    BACKUP_PARTIAL_SUFFIX, Backup, BatchRecord, DATABASE_FILE_NAME, MemoryStore, Store, StoreError,
    partial_path,
};

use crate::{TempDir, batch, create, reopen, replay_all};

/// A secret file beside the journal, owner-only, as `lantern serve` keeps its token secret.
fn secret_in(dir: &TempDir) -> PathBuf {
    let secret = dir.path.join("secret");
    std::fs::create_dir_all(&dir.path).unwrap();
    std::fs::write(&secret, "lt-secret 杨枝甘露").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    secret
}

#[test]
fn a_backup_copies_batches_committed_while_it_runs_and_is_named_only_when_whole() {
    let dir = TempDir::new("backup-live");
    let secret = secret_in(&dir);
    let mut source = create(&dir.path);
    for batch_seq in 1..=10 {
        source.append(&batch(0, batch_seq)).unwrap();
        source.append(&batch(3, batch_seq)).unwrap();
    }
    let target = dir.path.join("backups").join("first");
    let mut backup = Backup::begin(&target, 0, std::slice::from_ref(&secret)).unwrap();
    let mut next = 11;
    let mut n_pieces = 0;
    loop {
        let progress = backup.copy_from(&mut source, 3).unwrap();
        n_pieces += 1;
        // Until it finishes, only the partial folder exists.
        assert!(!target.exists());
        assert!(partial_path(&target).join(DATABASE_FILE_NAME).exists());
        if progress.caught_up() {
            break;
        }
        // The writer goes on committing between pieces.
        if next <= 14 {
            source.append(&batch(0, next)).unwrap();
            next += 1;
        }
    }
    // 1-3, 4-6, 7-9, 10-12 while 11 to 14 arrive, then 13-14.
    assert_eq!(n_pieces, 5);
    let progress = backup.progress();
    assert_eq!(progress.n_batches_copied, 14);
    assert_eq!(progress.n_batches_in_journal, 14);
    let expected = replay_all(&mut source, 0).unwrap();
    let bytes: u64 = expected.iter().map(|batch| batch.body.len() as u64).sum();
    let commands: u64 = expected.iter().map(|batch| u64::from(batch.n_commands)).sum();
    assert_eq!((progress.n_bytes_copied, progress.n_commands_copied), (bytes, commands));

    let finished = backup.finish().unwrap();
    assert_eq!(finished, target);
    assert!(!partial_path(&target).exists(), "the partial folder is renamed, not left behind");
    let names: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["lantern.db", "secret"], "the write-ahead log is folded in: {names:?}");
    let copied_secret = target.join("secret");
    assert_eq!(std::fs::read_to_string(&copied_secret).unwrap(), "lt-secret 杨枝甘露");
    assert_eq!(std::fs::metadata(&copied_secret).unwrap().permissions().mode() & 0o777, 0o600);
    // The copy is a journal of its own: the same batches of the shard backed up, no other shard.
    drop(source);
    let mut copy = reopen(&target);
    assert_eq!(replay_all(&mut copy, 0).unwrap(), expected);
    assert_eq!(copy.last_batch_seq(3).unwrap(), None);
}

#[test]
fn a_backup_never_overwrites_and_a_crashed_one_leaves_only_its_partial_folder() {
    let dir = TempDir::new("backup-refusals");
    let mut source = MemoryStore::new();
    for batch_seq in 1..=4 {
        source.append(&batch(0, batch_seq)).unwrap();
    }
    let target = dir.path.join("b");
    // A process killed mid-copy never reaches finish: its folder keeps the suffix.
    let mut crashed = Backup::begin(&target, 0, &[]).unwrap();
    crashed.copy_from(&mut source, 2).unwrap();
    drop(crashed);
    assert!(!target.exists());
    assert!(partial_path(&target).exists());
    assert!(partial_path(&target).to_string_lossy().ends_with(BACKUP_PARTIAL_SUFFIX));
    // The next backup to the same place starts over.
    let mut backup = Backup::begin(&target, 0, &[]).unwrap();
    assert!(backup.copy_from(&mut source, 100).unwrap().caught_up());
    backup.finish().unwrap();
    let mut copy = reopen(&target);
    assert_eq!(replay_all(&mut copy, 0).unwrap(), source.batches(0));
    drop(copy);
    // A finished backup is never written over.
    match Backup::begin(&target, 0, &[]) {
        Err(StoreError::BackupExists { path }) => assert_eq!(path, target),
        other => panic!("expected BackupExists, got {other:?}"),
    }
    // An abandoned one removes what it wrote.
    let other = dir.path.join("c");
    let backup = Backup::begin(&other, 0, &[]).unwrap();
    backup.abandon();
    assert!(!partial_path(&other).exists() && !other.exists());
    // A carried file that is not there fails the start and leaves nothing.
    let missing = dir.path.join("no-such-secret");
    let error = Backup::begin(&other, 0, &[missing]).unwrap_err();
    assert!(error.to_string().contains("no-such-secret"), "{error}");
    assert!(!partial_path(&other).exists());
}

#[test]
fn read_batches_reads_a_range_and_a_store_without_it_says_how_to_back_up() {
    let dir = TempDir::new("backup-ranges");
    let mut sqlite = create(&dir.path);
    let mut memory = MemoryStore::new();
    for batch_seq in 1..=9 {
        sqlite.append(&batch(0, batch_seq)).unwrap();
        memory.append(&batch(0, batch_seq)).unwrap();
    }
    for store in [&mut sqlite as &mut dyn Store, &mut memory] {
        let mut seen = Vec::new();
        let n = store.read_batches(0, 4, 3, &mut |batch| {
            seen.push(batch.batch_seq);
            Ok(())
        });
        assert_eq!((n.unwrap(), seen), (3, vec![5, 6, 7]), "{}", store.describe());
        let n = store.read_batches(0, 9, 3, &mut |_| panic!("nothing after the last batch")).unwrap();
        assert_eq!(n, 0);
        let n = store.read_batches(7, 0, 3, &mut |_| panic!("shard 7 has no batches")).unwrap();
        assert_eq!(n, 0);
    }

    /// A store that keeps the trait's default, as PostgreSQL does.
    #[derive(Debug)]
    struct Elsewhere;
    impl Store for Elsewhere {
        fn append(&mut self, _: &BatchRecord) -> Result<(), StoreError> {
            Ok(())
        }
        fn replay(
            &mut self,
            _: u32,
            _: &mut dyn FnMut(BatchRecord) -> Result<(), StoreError>,
        ) -> Result<u64, StoreError> {
            Ok(0)
        }
        fn last_batch_seq(&mut self, _: u32) -> Result<Option<u64>, StoreError> {
            Ok(Some(1))
        }
        fn describe(&self) -> String {
            "postgres://db/lantern shard 0".to_owned()
        }
    }
    let mut backup = Backup::begin(&dir.path.join("pg"), 0, &[]).unwrap();
    let error = backup.copy_from(&mut Elsewhere, 10).unwrap_err();
    assert!(matches!(error, StoreError::BackupUnsupported { .. }));
    let message = error.to_string();
    assert!(message.contains("postgres://db/lantern shard 0") && message.contains("pg_dump"), "{message}");
    backup.abandon();
}
