//! The audit archive ([`crate::store::archive`]): its file format, the mover, every reader
//! across `audit` and the files, retention by file, backups and the schema step.

use std::io::Write as _;

use super::*;
use crate::store::archive::{self as arc, ReverseLines};

/// `n` violations in `group`, one a minute from `from` on (keys `<tag>-<i>`).
fn violations(store: &Store, tag: &str, group: GroupId, n: i64, from: Timestamp) {
    for i in 0..n {
        let now = from + jiff::SignedDuration::from_secs(60 * i);
        violate(store, &format!("{tag}-{i}"), group, 100 + i, now).expect("new event");
    }
}

fn numbers(cases: &[AuditEntry]) -> Vec<u64> {
    cases.iter().map(|c| c.case).collect()
}

fn day_files(dir: &Path) -> Vec<String> {
    arc::day_files(&dir.join(arc::DIR))
        .expect("list")
        .into_iter()
        .map(|(_, p)| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect()
}

fn hot(store: &Store, group: GroupId) -> Vec<u64> {
    store
        .trees()
        .expect("trees")
        .audit
        .scan_prefix(group_prefix(group))
        .map(|e| {
            let (_, v) = e.expect("read");
            decode::<AuditEntry>(&v).expect("case").case
        })
        .collect()
}

#[test]
fn a_line_is_its_prefix_then_the_stored_case_and_day_names_round_trip() {
    let g = GroupId::qq(123);
    let mut entry = case(g, 7, 1_733_443_200_000);
    entry.case = 42;
    let json = codec::encode(&entry).expect("encode");
    let line = arc::line(g, 42, entry.at_ms, &json);
    let text = String::from_utf8(line.clone()).expect("utf-8");
    assert!(text.starts_with("qq\t123\t42\t1733443200000\t{"), "{text}");
    assert!(text.ends_with("}\n"));
    let (group, number, stored) = arc::parse_line(&line[..line.len() - 1]).expect("parses");
    assert_eq!((group, number, stored), (g, 42, &json[..]));
    assert!(arc::parse_line(b"xx\t1\t2\t3\t{}").is_err());
    assert!(arc::parse_line(b"qq\t1\t2").is_err());
    assert_eq!(arc::day_of(1_733_443_200_000), 20_241_206);
    assert_eq!(arc::day_of(1_733_443_200_000 - 1), 20_241_205);
    assert_eq!(arc::file_name(20_241_206), "2024-12-06.jsonl");
    assert_eq!(arc::day_of_name("2024-12-06.jsonl"), Some(20_241_206));
    assert_eq!(arc::day_of_name("2024-12-06.jsonl.partial"), None);
    assert_eq!(arc::day_of_name("notes.txt"), None);
}

#[test]
fn the_reverse_reader_returns_complete_lines_last_first_across_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("f");
    // Lines of varied lengths, longer in total than several 64 KiB blocks, and a torn tail.
    let lines: Vec<String> = (0..3_000).map(|i| format!("{i}:{}", "x".repeat(i % 97))).collect();
    let mut file = std::fs::File::create(&path).expect("create");
    for l in &lines {
        writeln!(file, "{l}").expect("write");
    }
    write!(file, "torn, no newline").expect("write");
    drop(file);
    let mut reader = ReverseLines::open(&path).expect("open").expect("exists");
    let mut read = Vec::new();
    while let Some(line) = reader.prev().expect("read") {
        read.push(String::from_utf8(line).expect("utf-8"));
    }
    read.reverse();
    assert!(read == lines, "{} lines read, {} written", read.len(), lines.len());
    // An empty first line, and a file of one line.
    std::fs::write(&path, "\nb\n").expect("write");
    let mut reader = ReverseLines::open(&path).expect("open").expect("exists");
    assert_eq!(reader.prev().expect("read"), Some(b"b".to_vec()));
    assert_eq!(reader.prev().expect("read"), Some(Vec::new()));
    assert_eq!(reader.prev().expect("read"), None);
    std::fs::write(&path, "only").expect("write");
    let mut reader = ReverseLines::open(&path).expect("open").expect("exists");
    assert_eq!(reader.prev().expect("read"), None, "no complete line");
    assert!(ReverseLines::open(&dir.path().join("none")).expect("open").is_none());
}

#[test]
fn the_mover_keeps_each_groups_newest_and_every_reader_spans_both() {
    let (dir, store) = store();
    let (g, h) = (GroupId::qq(1), GroupId::telegram(-100));
    // Two days of g's cases (10 before midnight UTC, 10 after: `at(6_400)` is midnight), 3 of
    // h's.
    violations(&store, "g", g, 20, at(6_400 - 600));
    violations(&store, "h", h, 3, at(0));
    assert_eq!(store.move_cases(4, 1_000).expect("move"), 16);
    assert_eq!(hot(&store, g), [17, 18, 19, 20], "the newest 4 stay");
    assert_eq!(hot(&store, h), [1, 2, 3], "fewer than hot_cases: nothing moves");
    assert_eq!(day_files(dir.path()).len(), 2, "a file per day of the cases' time");
    assert_eq!(store.move_cases(4, 1_000).expect("move"), 0, "nothing left to move");

    // One case, from either place.
    assert_eq!(store.case(g, 1).expect("read").map(|c| c.case), Some(1));
    assert_eq!(store.case(g, 12).expect("read").map(|c| c.user_id), Some(111));
    assert_eq!(store.case(g, 18).expect("read").map(|c| c.case), Some(18));
    assert_eq!(store.case(g, 21).expect("read"), None);
    assert_eq!(store.case(h, 4).expect("read"), None);
    // Every case, and the newest few.
    assert_eq!(
        numbers(&store.cases(Some(g), None).expect("cases")),
        (1..=20).collect::<Vec<_>>()
    );
    assert_eq!(
        numbers(&store.cases(Some(g), Some(6)).expect("cases")),
        [15, 16, 17, 18, 19, 20]
    );
    let all = store.cases(None, None).expect("cases");
    assert_eq!(all.len(), 23);
    assert!(
        all.windows(2).all(|w| w[0].at_ms <= w[1].at_ms),
        "every group's, in time order"
    );
    let last = store.cases(None, Some(5)).expect("cases");
    assert_eq!(numbers(&last), [16, 17, 18, 19, 20]);
    // The console's newest-first view, with a filter and a time bound.
    let recent = store
        .recent_cases(Some(g), None, 8, &|c| c.case % 2 == 0)
        .expect("recent");
    assert_eq!(numbers(&recent), [20, 18, 16, 14, 12, 10, 8, 6]);
    let since = at(6_400 - 600 + 60 * 5).as_millisecond();
    let recent = store.recent_cases(None, Some(since), 100, &|_| true).expect("recent");
    assert_eq!(numbers(&recent), (6..=20).rev().collect::<Vec<_>>());
    // A message's case, in the archive.
    let mut labelled = case(g, 5, at(86_400 * 2).as_millisecond());
    labelled.message_id = Some(777);
    store
        .commit(
            &EventKey::derive("label"),
            at(86_400 * 2),
            Some(Subject {
                group: g,
                user: Some(5),
            }),
            |snap| {
                let writes = Writes {
                    strikes: StrikeWrite::Keep,
                    actions: vec![],
                    audit: Some(labelled.clone()),
                };
                (writes, snap.next_case)
            },
        )
        .expect("commit");
    violations(&store, "g2", g, 6, at(86_400 * 2 + 60));
    assert_eq!(store.move_cases(4, 1_000).expect("move"), 7, "17 to 23");
    assert!(hot(&store, g).iter().all(|c| *c > 21), "case 21 is archived");
    assert_eq!(store.case_of_message(g, 777).expect("read").map(|c| c.case), Some(21));
    assert_eq!(store.case_of_message(g, 778).expect("read"), None);
}

#[test]
fn a_case_edited_meanwhile_stays_and_the_hot_copy_and_the_last_line_win() {
    let (dir, store) = store();
    let g = GroupId::qq(1);
    violations(&store, "g", g, 6, at(0));
    // A case edited (undone) after the mover read it: its line is appended, but the case
    // stays in `audit`, where readers take it from.
    store.move_cases(2, 1_000).expect("move");
    let file = dir.path().join(arc::DIR).join(&day_files(dir.path())[0]);
    let lines = std::fs::read_to_string(&file).expect("read").lines().count();
    assert_eq!(lines, 4);
    // Append a stale copy of case 5 (hot) and a newer line of case 2: as a crash between the
    // append and the unit, or an undo's edit archived again, leaves them.
    let mut stale = store.case(g, 5).expect("read").expect("case");
    stale.reason = "stale".into();
    let mut newer = store.case(g, 2).expect("read").expect("case");
    newer.reason = "newer".into();
    let mut out = std::fs::OpenOptions::new().append(true).open(&file).expect("open");
    for entry in [&stale, &newer] {
        let json = codec::encode(entry).expect("encode");
        out.write_all(&arc::line(g, entry.case, entry.at_ms, &json))
            .expect("append");
    }
    drop(out);
    assert_eq!(
        store.case(g, 5).expect("read").expect("case").reason,
        "",
        "the hot copy wins"
    );
    assert_eq!(
        store.case(g, 2).expect("read").expect("case").reason,
        "newer",
        "the last line wins"
    );
    let all = store.cases(Some(g), None).expect("cases");
    assert_eq!(numbers(&all), [1, 2, 3, 4, 5, 6], "each case once");
    assert_eq!(all[1].reason, "newer");
    assert_eq!(all[4].reason, "");
    let recent = store.recent_cases(Some(g), None, 10, &|_| true).expect("recent");
    assert_eq!(numbers(&recent), [6, 5, 4, 3, 2, 1]);
    assert_eq!(recent[4].reason, "newer");
}

#[test]
fn an_undo_of_an_archived_case_writes_it_back_and_the_mover_archives_it_again() {
    let (dir, store) = store();
    let g = GroupId::qq(1);
    violations(&store, "g", g, 5, at(0));
    store.move_cases(2, 1_000).expect("move");
    assert_eq!(hot(&store, g), [4, 5]);
    let decide = |entry: &AuditEntry, _: Option<StrikeRecord>, _: u64| {
        let mut audit = case(g, entry.user_id, at(600).as_millisecond());
        audit.measure = Measure::Pardon { removed: 1 };
        Ok::<_, &str>(crate::store::UndoWrites {
            strikes: StrikeWrite::Keep,
            audit,
        })
    };
    let done = store.undo_case(g, 1, at(600), decide).expect("undo");
    assert!(matches!(done, crate::store::Undo::Done { case: 6, .. }), "{done:?}");
    assert_eq!(hot(&store, g), [1, 4, 5, 6], "the edited case is back in audit");
    assert_eq!(store.case(g, 1).expect("read").and_then(|c| c.undone_by), Some(6));
    assert_eq!(
        store.undo_case(g, 1, at(601), decide).expect("undo"),
        crate::store::Undo::AlreadyUndone(6)
    );
    // The mover archives it again (and 4); the later line wins.
    assert_eq!(store.move_cases(2, 1_000).expect("move"), 2);
    assert_eq!(hot(&store, g), [5, 6]);
    assert_eq!(store.case(g, 1).expect("read").and_then(|c| c.undone_by), Some(6));
    let cases = store.cases(Some(g), None).expect("cases");
    assert_eq!(numbers(&cases), [1, 2, 3, 4, 5, 6]);
    assert_eq!(cases[0].undone_by, Some(6));
    let text = std::fs::read_to_string(dir.path().join(arc::DIR).join(&day_files(dir.path())[0])).expect("read");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("qq\t1\t1\t")).count(),
        2,
        "both lines kept"
    );
    assert_eq!(
        store.undo_case(g, 9, at(602), decide).expect("undo"),
        crate::store::Undo::NoSuchCase
    );
}

#[test]
fn a_torn_last_line_is_cut_at_open_and_a_bad_line_elsewhere_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = GroupId::qq(1);
    let file = {
        let store = Store::open_path(dir.path()).expect("open");
        violations(&store, "g", g, 6, at(0));
        store.move_cases(1, 1_000).expect("move");
        store.flush_blocking().expect("flush");
        dir.path().join(arc::DIR).join(&day_files(dir.path())[0])
    };
    let good = std::fs::read(&file).expect("read");
    // A bad line in the middle, and a torn line at the end.
    let lines: Vec<&[u8]> = good.split_inclusive(|b| *b == b'\n').collect();
    let mut damaged = Vec::new();
    damaged.extend_from_slice(lines[0]);
    damaged.extend_from_slice(b"qq\t1\t99\t0\t{not json\n");
    for l in &lines[1..] {
        damaged.extend_from_slice(l);
    }
    damaged.extend_from_slice(&lines[2][..lines[2].len() / 2]);
    std::fs::write(&file, &damaged).expect("write");
    let store = Store::open_path(dir.path()).expect("reopen");
    let repaired = std::fs::read(&file).expect("read");
    assert_eq!(
        repaired.len(),
        damaged.len() - lines[2].len() / 2,
        "the torn tail is cut"
    );
    assert_eq!(numbers(&store.cases(Some(g), None).expect("cases")), [1, 2, 3, 4, 5, 6]);
    assert_eq!(store.case(g, 99).expect("read"), None);
    assert!(
        store.archive_gauges().expect("gauges").bad_lines >= 1,
        "the bad line is counted"
    );
    // A complete last line that is not a case is cut too.
    drop(store);
    let mut with_bad_tail = repaired.clone();
    with_bad_tail.extend_from_slice(b"garbage\n");
    std::fs::write(&file, &with_bad_tail).expect("write");
    let _store = Store::open_path(dir.path()).expect("reopen");
    assert_eq!(std::fs::read(&file).expect("read"), repaired);
}

#[test]
fn the_sweep_deletes_whole_day_files_past_retention_and_their_index() {
    let (dir, store) = store();
    let g = GroupId::qq(1);
    violations(&store, "d0", g, 3, at(0));
    violations(&store, "d1", g, 3, at(86_400));
    violations(&store, "d5", g, 3, at(5 * 86_400));
    store.move_cases(1, 1_000).expect("move");
    assert_eq!(day_files(dir.path()).len(), 3);
    let strike_ttl = |_| std::time::Duration::from_secs(3_600);
    let policy = SweepPolicy {
        seen_ttl: std::time::Duration::from_secs(3_600),
        audit_retention: Some(std::time::Duration::from_secs(3 * 86_400)),
        strike_ttl: &strike_ttl,
    };
    let report = store.sweep(at(5 * 86_400 + 3_600), &policy).expect("sweep");
    assert_eq!(report.archive_files, 2, "the two days before the cut");
    assert_eq!(day_files(dir.path()).len(), 1);
    assert_eq!(numbers(&store.cases(Some(g), None).expect("cases")), [7, 8, 9]);
    assert_eq!(store.case(g, 2).expect("read"), None);
    assert_eq!(store.trees().expect("trees").archive.len(), 1, "one index record left");
    // The start-up check finds every file the index names.
    drop(store);
    let (_store, problems) = Store::open_checked(
        &StorageSettings {
            path: dir.path().to_owned(),
            ..StorageSettings::default()
        },
        false,
    )
    .expect("opens");
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn a_file_the_index_names_missing_is_damage() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open_path(dir.path()).expect("open");
        violations(&store, "g", GroupId::qq(1), 3, at(0));
        store.move_cases(1, 1_000).expect("move");
        store.close_clean().expect("close");
    }
    std::fs::remove_dir_all(dir.path().join(arc::DIR)).expect("remove");
    let settings = StorageSettings {
        path: dir.path().to_owned(),
        ..StorageSettings::default()
    };
    let Err(StoreError::Damaged(damage)) = Store::open_checked(&settings, false) else {
        panic!("a missing archive file is damage");
    };
    assert!(
        damage.problems.iter().any(|p| p.contains("2023-11-14.jsonl")),
        "{damage:?}"
    );
}

#[test]
fn a_backup_carries_the_archived_cases_and_a_restore_moves_them_out_again() {
    let (dir, store) = store();
    let g = GroupId::qq(1);
    violations(&store, "g", g, 8, at(0));
    store.move_cases(3, 1_000).expect("move");
    // A stale duplicate line of a hot case: the backup takes the hot copy.
    let file = dir.path().join(arc::DIR).join(&day_files(dir.path())[0]);
    let mut stale = store.case(g, 7).expect("read").expect("case");
    stale.reason = "stale".into();
    let json = codec::encode(&stale).expect("encode");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .expect("open")
        .write_all(&arc::line(g, 7, stale.at_ms, &json))
        .expect("append");
    let before = store.cases(Some(g), None).expect("cases");
    let mut backup = Vec::new();
    let report = store.backup(&mut backup, at(0)).expect("backup");
    assert_eq!(report.trees.get("audit"), Some(&8));
    assert_eq!(report.archived, 5);
    assert_eq!(report.trees.get("archive"), None, "the index stays behind");
    let (restored_dir, restored) = restored_into_a_new_database(&backup);
    assert_eq!(restored.cases(Some(g), None).expect("cases"), before);
    assert_eq!(hot(&restored, g).len(), 8, "every case restored into audit");
    assert_eq!(restored.move_cases(3, 1_000).expect("move"), 5);
    assert_eq!(restored.cases(Some(g), None).expect("cases"), before);
    assert_eq!(day_files(&restored_dir.path().join("data")).len(), 1);
    // A restore over a database with archive files needs --force, which replaces them.
    drop(restored);
    let settings = StorageSettings {
        path: restored_dir.path().join("data"),
        ..StorageSettings::default()
    };
    assert!(matches!(
        backup::restore(&settings, &mut &backup[..], false),
        Err(StoreError::NotEmpty(_))
    ));
    backup::restore(&settings, &mut &backup[..], true).expect("forced");
    assert!(day_files(&settings.path).is_empty(), "the files went with --force");
    assert_eq!(
        Store::open(&settings)
            .expect("open")
            .cases(Some(g), None)
            .expect("cases"),
        before
    );
}

#[test]
fn a_schema_7_database_steps_to_9_with_its_cases_untouched_and_an_older_build_refuses_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = database_of_schema(dir.path(), 7);
        let audit = db.open_tree("audit").expect("tree");
        let mut entry = case(GroupId::qq(1), 7, at(0).as_millisecond());
        entry.case = 1;
        audit
            .insert(case_key(GroupId::qq(1), 1), codec::encode(&entry).expect("encode"))
            .expect("insert");
        db.open_tree("groups")
            .expect("tree")
            .insert(
                group_prefix(GroupId::qq(1)),
                codec::encode(&GroupRecord { last_case: 1 }).expect("encode"),
            )
            .expect("insert");
        db.flush().expect("flush");
    }
    let store = Store::open_path(dir.path()).expect("migrates");
    assert_eq!(
        stored(&store.trees().expect("trees").db, "meta", b"schema").as_ref(),
        &9u32.to_be_bytes()
    );
    assert_eq!(hot(&store, GroupId::qq(1)), [1], "the step moves nothing");
    assert!(day_files(dir.path()).is_empty());
    assert_eq!(SCHEMA_VERSION, 9);
    // What a build of schema 8 or older does with it: refuse it as newer than it knows.
    drop(store);
    let db = sled::open(dir.path()).expect("open");
    let found = u32::from_be_bytes(stored(&db, "meta", b"schema").as_ref().try_into().expect("4 bytes"));
    assert!(
        found > 8,
        "a build of schema 8 refuses schema {found} (StoreError::SchemaTooNew)"
    );
}
