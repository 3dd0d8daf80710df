//! Compaction: every record survives, the files shrink, the pointer decides, and whatever a
//! crash leaves behind is tidied at the next open.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::domain::action::Action;
use crate::domain::event::GroupId;

type Dump = BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, Vec<u8>>>;

/// Every record of every tree.
fn dump(store: &Store) -> Dump {
    let trees = store.trees().expect("open");
    let mut out = Dump::new();
    for name in trees.db.tree_names() {
        let tree = trees.db.open_tree(&name).expect("tree");
        let records = tree
            .iter()
            .map(|e| e.expect("read"))
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        out.insert(name.to_vec(), records);
    }
    out
}

/// Rewrites `names` state records `rounds` times: the log grows, the live data does not.
fn churn(store: &Store, names: usize, rounds: usize) {
    for round in 0..rounds {
        for n in 0..names {
            let value = vec![u8::try_from(round % 251).expect("small"); 300];
            store.set_state(&format!("churn/{n}"), &value).expect("write");
        }
    }
    store.flush_blocking().expect("flush");
}

fn recall(id: i64) -> Action {
    Action::Recall {
        group: GroupId::qq(1),
        message_id: id,
    }
}

fn policy(growth: u64) -> CompactPolicy {
    CompactPolicy {
        growth,
        min_bytes: 1 << 20,
    }
}

fn sled_files_at_top(path: &Path) -> bool {
    path.join("db").exists()
}

#[test]
fn a_compacted_store_holds_every_record_in_smaller_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_path(dir.path()).expect("open");
    store
        .enqueue(vec![recall(1), recall(2)], jiff::Timestamp::UNIX_EPOCH)
        .expect("enqueue");
    churn(&store, 500, 40);
    let before = dump(&store);
    let bytes_before = sled_bytes(dir.path());
    assert!(
        store.compaction_due(policy(4)).expect("due"),
        "{bytes_before} bytes of churn"
    );

    let done = store.compact().expect("compact");

    assert_eq!(dump(&store), before, "every tree, record for record");
    assert_eq!(done.before, bytes_before);
    assert!(
        done.after * 2 < done.before,
        "{} bytes after, {} before",
        done.after,
        done.before
    );
    assert!(done.records > 500, "{done:?}");
    assert_eq!(store.compactions(), 1);
    assert_eq!(
        read_pointer(dir.path()).expect("pointer"),
        Some(("sled-1".to_owned(), done.after))
    );
    assert!(!sled_files_at_top(dir.path()), "the files of before are deleted");
    assert!(!store.compaction_due(policy(4)).expect("due"), "just compacted");
}

#[test]
fn the_store_writes_on_after_a_compaction_and_reopens_on_the_copy() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open_path(dir.path()).expect("open");
        churn(&store, 200, 5);
        store.compact().expect("compact");
        store.set_state("after", b"written on the copy").expect("write");
        store
            .enqueue(vec![recall(3)], jiff::Timestamp::UNIX_EPOCH)
            .expect("enqueue");
        store.flush_blocking().expect("flush");
        store.compact().expect("compact again");
        assert_eq!(
            read_pointer(dir.path()).expect("pointer").map(|p| p.0),
            Some("sled-2".into())
        );
        assert!(!dir.path().join("sled-1").exists(), "the first copy is deleted");
    }
    let store = Store::open_path(dir.path()).expect("reopen");
    assert_eq!(
        store.state("after").expect("read").as_deref(),
        Some(&b"written on the copy"[..])
    );
    assert_eq!(store.state("churn/7").expect("read").map(|v| v.len()), Some(300));
    let pending = store.outbox().pending().expect("outbox");
    assert_eq!(pending.len(), 1, "{pending:?}");
}

#[test]
fn a_copy_a_crash_left_unfinished_is_deleted_and_the_database_stays() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open_path(dir.path()).expect("open");
        store.set_state("kept", b"yes").expect("write");
        store.flush_blocking().expect("flush");
    }
    // A crash in the middle of the copy: the folder exists, the pointer does not name it.
    let partial = dir.path().join("sled-1");
    std::fs::create_dir_all(&partial).expect("mkdir");
    std::fs::write(partial.join("db"), b"half a copy").expect("write");
    std::fs::write(dir.path().join("sled-current.tmp"), b"sled-1\n").expect("write");

    let store = Store::open_path(dir.path()).expect("open");

    assert_eq!(store.state("kept").expect("read").as_deref(), Some(&b"yes"[..]));
    assert!(!partial.exists(), "the unfinished copy is deleted");
    assert!(!dir.path().join("sled-current.tmp").exists());
    assert!(sled_files_at_top(dir.path()), "the database was never moved");
}

#[test]
fn after_the_switch_the_files_of_before_are_deleted_at_the_next_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open_path(dir.path()).expect("open");
        store.set_state("kept", b"yes").expect("write");
        store.compact().expect("compact");
    }
    // A crash right after the switch, before the old files were deleted: put some back.
    std::fs::write(dir.path().join("db"), b"the old log").expect("write");
    std::fs::write(dir.path().join("snap.0000000000001234"), b"old").expect("write");
    std::fs::create_dir_all(dir.path().join("sled-0")).expect("mkdir");

    let store = Store::open_path(dir.path()).expect("open");

    assert_eq!(store.state("kept").expect("read").as_deref(), Some(&b"yes"[..]));
    assert!(!sled_files_at_top(dir.path()));
    assert!(!dir.path().join("snap.0000000000001234").exists());
    assert!(!dir.path().join("sled-0").exists());
    assert!(dir.path().join("sled-1").is_dir());
}

#[test]
fn a_pointer_to_a_missing_folder_is_an_error_naming_the_pointer() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(POINTER), b"sled-9\n123\n").expect("write");
    let err = Store::open_path(dir.path()).expect_err("missing folder");
    let text = err.to_string();
    assert!(text.contains(POINTER) && text.contains("sled-9"), "{text}");

    std::fs::write(dir.path().join(POINTER), b"../elsewhere\n").expect("write");
    let text = Store::open_path(dir.path()).expect_err("bad name").to_string();
    assert!(text.contains("sled-<number>"), "{text}");
}

#[test]
fn compaction_is_due_past_growth_times_the_last_size_and_past_the_minimum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_path(dir.path()).expect("open");
    churn(&store, 500, 40);
    assert!(!store.compaction_due(policy(0)).expect("due"), "0: never");
    let huge = CompactPolicy {
        growth: 2,
        min_bytes: 1 << 40,
    };
    assert!(!store.compaction_due(huge).expect("due"), "below the minimum");
    assert!(store.compaction_due(policy(2)).expect("due"));
    let done = store.compact().expect("compact");
    assert!(!store.compaction_due(policy(2)).expect("due"));
    // Grow past twice the size after the compaction.
    let mut rounds = 0;
    while sled_bytes(&current_dir(dir.path()).expect("dir")) <= done.after * 2 && rounds < 50 {
        churn(&store, 500, 5);
        rounds += 1;
    }
    assert!(store.compaction_due(policy(2)).expect("due"), "after {rounds} rounds");
    assert!(!store.compaction_due(policy(1000)).expect("due"));
}

#[test]
fn writers_wait_for_a_compaction_instead_of_failing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_path(dir.path()).expect("open");
    churn(&store, 500, 20);
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            for n in 0..2_000 {
                store
                    .set_state(&format!("during/{n}"), b"x")
                    .expect("a write during compaction");
            }
            store.flush_blocking().expect("flush");
        })
    };
    store.compact().expect("compact");
    writer.join().expect("writer");
    for n in [0, 999, 1_999] {
        assert_eq!(
            store.state(&format!("during/{n}")).expect("read").as_deref(),
            Some(&b"x"[..]),
            "during/{n}"
        );
    }
    assert!(store.failing().is_none());
}

/// An executable shell script `body` in `dir`, standing in for the copier process.
#[cfg(unix)]
fn script(dir: &Path, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join("copier.sh");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[test]
fn the_copier_s_copy_holds_every_record_and_opens_as_a_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = {
        let store = Store::open_path(dir.path()).expect("open");
        store
            .enqueue(vec![recall(1)], jiff::Timestamp::UNIX_EPOCH)
            .expect("enqueue");
        churn(&store, 300, 10);
        dump(&store)
    };
    let copy = tempfile::tempdir().expect("tempdir");
    let to = copy.path().join("sled-1");

    let records = copy_database(dir.path(), &to, 1 << 20).expect("copy");

    let copied = Store::open_path(&to).expect("the copy opens");
    assert_eq!(dump(&copied), before, "every tree, record for record");
    let counted: usize = before.values().map(BTreeMap::len).sum();
    assert_eq!(records, counted as u64);
}

#[cfg(unix)]
#[test]
fn a_failing_copier_leaves_the_old_database_served_whole_and_writable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tools = tempfile::tempdir().expect("tempdir");
    let copier = script(tools.path(), "echo 'no space left on device' >&2\nexit 3");
    let store = Store::open_path(dir.path()).expect("open");
    churn(&store, 300, 10);
    let before = dump(&store);

    let failed = store.compact_with(Some(&copier)).expect_err("the copier failed");

    assert!(
        matches!(&failed, StoreError::Copier(said) if said.contains("no space left on device")),
        "{failed}"
    );
    assert_eq!(dump(&store), before, "the old database, whole");
    assert!(!dir.path().join("sled-1").exists(), "the unfinished copy is deleted");
    assert_eq!(read_pointer(dir.path()).expect("pointer"), None);
    store.set_state("after", b"still writing").expect("write");
    store.flush_blocking().expect("flush");
    assert!(store.failing().is_none());
    assert_eq!(store.compactions(), 0);
}

#[cfg(unix)]
#[test]
fn readers_wait_while_the_copier_has_the_database_instead_of_failing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tools = tempfile::tempdir().expect("tempdir");
    // Long enough for the reader below to ask while the database is closed.
    let copier = script(tools.path(), "sleep 1\nexit 1");
    let store = Store::open_path(dir.path()).expect("open");
    store.set_state("kept", b"1").expect("write");
    store.flush_blocking().expect("flush");
    let compaction = {
        let store = store.clone();
        std::thread::spawn(move || store.compact_with(Some(&copier)))
    };
    // Reads go on through the whole compaction, before, during and after the copier's second.
    let deadline = Instant::now() + Duration::from_millis(1_500);
    let mut reads = 0;
    while Instant::now() < deadline {
        let read = store.state("kept");
        assert_eq!(read.expect("a read during compaction").as_deref(), Some(&b"1"[..]));
        reads += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(compaction.join().expect("joined").is_err(), "the stand-in copier fails");
    assert!(reads > 10, "{reads} reads");
    assert!(store.failing().is_none());
}

#[test]
fn a_copier_that_is_not_there_means_the_copy_is_made_in_this_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_path(dir.path()).expect("open");
    churn(&store, 300, 10);
    let before = dump(&store);

    let done = store
        .compact_with(Some(&dir.path().join("no-such-program")))
        .expect("compact");

    assert!(!done.by_process);
    assert_eq!(dump(&store), before);
    assert_eq!(
        read_pointer(dir.path()).expect("pointer").map(|p| p.0),
        Some("sled-1".into())
    );
}
