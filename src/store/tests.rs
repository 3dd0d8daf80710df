//! Store tests: one event, one transaction; the outbox feed; audit; expiry; backups;
//! migrations.

use super::*;
use crate::domain::action::OutgoingMessage;
use crate::domain::activity::{MemberActivity, Since};
use crate::domain::audit::{Actor, Measure};
use crate::domain::strike::Strike;
use welcome::JoinWrite;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_path(dir.path()).expect("open");
    (dir, store)
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).expect("valid")
}

fn send(text: &str) -> Action {
    Action::Send {
        group: GroupId::qq(1),
        message: OutgoingMessage::text(text),
        reply_to: None,
    }
}

fn record(rule: &str, at_ms: i64) -> StrikeRecord {
    StrikeRecord {
        strikes: vec![Strike {
            at_ms,
            weight: 1,
            rule: rule.into(),
        }],
    }
}

fn case(group: GroupId, user_id: i64, at_ms: i64) -> AuditEntry {
    AuditEntry {
        case: 0,
        group,
        at_ms,
        user_id,
        user_name: "someone".into(),
        actor: Actor::Auto,
        rule: "ads".into(),
        reason: String::new(),
        matched: vec!["加微信".into()],
        excerpt: "快来加微信".into(),
        message_id: Some(5),
        recalled: vec![5],
        strikes_before: 0,
        strikes_after: 1,
        measure: Measure::Warn,
        dry_run: false,
        undone_by: None,
        undoes: None,
        sample: None,
        label: None,
        judged: None,
        points: 0,
    }
}

/// Commits a violation of `user` in `group`: one strike, one warning, one case.
fn violate(store: &Store, key: &str, group: GroupId, user: i64, now: Timestamp) -> Option<Committed<u64>> {
    let subject = Subject {
        group,
        user: Some(user),
    };
    store
        .commit(&EventKey::derive(key), now, Some(subject), |snap| {
            let mut record = snap.record.unwrap_or_default();
            record.strikes.push(Strike {
                at_ms: now.as_millisecond(),
                weight: 1,
                rule: "ads".into(),
            });
            let writes = Writes {
                strikes: StrikeWrite::Put(record),
                actions: vec![send("warn")],
                audit: Some(case(group, user, now.as_millisecond())),
            };
            (writes, snap.next_case)
        })
        .expect("commit")
}

#[test]
fn an_event_is_recorded_once() {
    let (_dir, store) = store();
    let key = EventKey::derive("e1");
    let member = Some((GroupId::qq(1), 7));
    let effects = |_: Option<StrikeRecord>| {
        (
            Effects {
                strikes: StrikeWrite::Put(record("ads", 1)),
                actions: vec![send("a"), send("b")],
            },
            (),
        )
    };
    assert_eq!(
        store.commit_event(&key, at(0), member, effects).expect("commit"),
        Some(())
    );
    assert_eq!(store.commit_event(&key, at(0), member, effects).expect("commit"), None);
    assert_eq!(store.outbox().pending().expect("scan").len(), 2);
    let strikes = store.strike_record(GroupId::qq(1), 7).expect("read");
    assert_eq!(strikes.map(|r| r.strikes.len()), Some(1));
}

#[test]
fn clear_removes_the_record() {
    let (_dir, store) = store();
    let member = Some((GroupId::qq(1), 7));
    let put = |_: Option<StrikeRecord>| {
        let effects = Effects {
            strikes: StrikeWrite::Put(StrikeRecord::default()),
            actions: vec![],
        };
        (effects, ())
    };
    store
        .commit_event(&EventKey::derive("a"), at(0), member, put)
        .expect("commit");
    let clear = |r: Option<StrikeRecord>| {
        assert!(r.is_some(), "the decision sees the stored record");
        let effects = Effects {
            strikes: StrikeWrite::Clear,
            actions: vec![],
        };
        (effects, ())
    };
    store
        .commit_event(&EventKey::derive("b"), at(0), member, clear)
        .expect("commit");
    assert_eq!(store.strike_record(GroupId::qq(1), 7).expect("read"), None);
}

#[test]
fn cases_are_numbered_per_group_and_stamped_on_their_actions() {
    let (_dir, store) = store();
    let (a, b) = (GroupId::qq(1), GroupId::telegram(-100));
    let numbers: Vec<u64> = [("e1", a), ("e2", a), ("e3", b), ("e4", a)]
        .iter()
        .map(|(key, group)| {
            violate(&store, key, *group, 7, at(0))
                .and_then(|c| c.case)
                .expect("new")
        })
        .collect();
    assert_eq!(numbers, [1, 2, 1, 3]);
    assert!(
        violate(&store, "e1", a, 7, at(0)).is_none(),
        "a redelivery takes no number"
    );

    let entry = store.case(a, 2).expect("read").expect("case 2 exists");
    assert_eq!((entry.case, entry.group, entry.matched[0].as_str()), (2, a, "加微信"));
    assert_eq!(store.case(a, 4).expect("read"), None);
    let cases: Vec<u64> = store
        .cases(Some(a), None)
        .expect("list")
        .iter()
        .map(|e| e.case)
        .collect();
    assert_eq!(cases, [1, 2, 3]);
    assert_eq!(store.cases(None, None).expect("list").len(), 4);
    assert_eq!(store.cases(Some(a), Some(1)).expect("list")[0].case, 3, "the newest");
    let stamped: Vec<Option<u64>> = store
        .outbox()
        .pending()
        .expect("scan")
        .iter()
        .map(|(_, i)| i.case)
        .collect();
    assert_eq!(stamped, [Some(1), Some(2), Some(1), Some(3)]);
}

#[test]
fn an_audit_case_or_strike_needs_a_subject() {
    let (_dir, store) = store();
    let err = store
        .commit(&EventKey::derive("x"), at(0), None, |_| {
            let writes = Writes {
                strikes: StrikeWrite::Keep,
                actions: vec![],
                audit: Some(case(GroupId::qq(1), 1, 0)),
            };
            (writes, ())
        })
        .expect_err("no group to number the case in");
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    assert!(
        store
            .commit(&EventKey::derive("x"), at(0), None, |_| (
                (Writes {
                    strikes: StrikeWrite::Keep,
                    actions: vec![],
                    audit: None
                }),
                ()
            ))
            .expect("ok")
            .is_some(),
        "the failed commit wrote nothing, not even the seen-key"
    );
}

#[test]
fn the_feed_hands_over_items_once_durable_in_commit_order() {
    let (_dir, store) = store();
    store.enqueue(vec![send("before")], at(0)).expect("enqueue");
    let loaded = store.outbox().subscribe().expect("subscribe");
    assert_eq!(loaded.len(), 1, "what was stored before subscribing is loaded");
    store.enqueue(vec![send("one"), send("two")], at(0)).expect("enqueue");
    assert!(store.outbox().take_durable().is_empty(), "not flushed yet");
    assert!(store.outbox().has_undurable());
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    rt.block_on(store.durable()).expect("flush");
    let fed: Vec<String> = store
        .outbox()
        .take_durable()
        .into_iter()
        .map(|(_, item)| match item.action {
            Action::Send { message, .. } => message.plain_text(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(fed, ["one", "two"]);
    assert!(store.outbox().take_durable().is_empty(), "handed over once");
    assert!(!store.outbox().has_undurable());
}

#[test]
fn dead_letters_keep_the_item_and_the_reason() {
    let (_dir, store) = store();
    store.enqueue(vec![send("x")], at(0)).expect("enqueue");
    let (seq, item) = store.outbox().pending().expect("scan").remove(0);
    store
        .outbox()
        .dead_letter(seq, &item, "refused: no permission", 42)
        .expect("dead letter");
    assert!(store.outbox().is_empty());
    let dead = store.outbox().dead_letters().expect("scan");
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].0, dead[0].1.reason.as_str(), dead[0].1.dead_ms),
        (seq, "refused: no permission", 42)
    );
    assert_eq!(dead[0].1.item, item);
}

#[test]
fn a_seen_key_expires_by_the_time_it_was_first_recorded_and_a_failed_unit_records_none() {
    let (_dir, store) = store();
    let g = GroupId::qq(1);
    let day = 86_400;
    let subject = Subject {
        group: g,
        user: Some(7),
    };
    let violation = |now: Timestamp| {
        store
            .commit_violation(&EventKey::derive("v"), now, subject, None, |_| {
                let writes = Writes {
                    strikes: StrikeWrite::Keep,
                    actions: vec![send("warn")],
                    audit: Some(case(g, 7, now.as_millisecond())),
                };
                (writes, ())
            })
            .expect("commit")
    };
    assert!(violation(at(0)).is_some());
    assert!(violation(at(day)).is_none(), "a redelivery changes nothing");
    // A decision that fails: its unit records nothing, not even the seen key.
    let failed = store.commit(&EventKey::derive("bad"), at(0), None, |_| {
        let writes = Writes {
            strikes: StrikeWrite::Put(record("ads", 0)),
            actions: Vec::new(),
            audit: None,
        };
        (writes, ())
    });
    assert!(failed.is_err(), "a strike write needs a subject member");
    assert_eq!(sweep::seen_at(&store, &EventKey::derive("bad").0).expect("read"), None);
    assert_eq!(
        sweep::seen_at(&store, &EventKey::derive("v").0).expect("read"),
        Some(at(0).as_millisecond()),
        "the redelivery kept the first time"
    );
    let ttl = |_| std::time::Duration::from_secs(100 * day as u64);
    let policy = SweepPolicy {
        seen_ttl: std::time::Duration::from_secs(day as u64),
        audit_retention: None,
        strike_ttl: &ttl,
    };
    // Not yet a day old: kept.
    assert_eq!(store.sweep(at(day - 1), &policy).expect("sweep").seen, 0);
    assert!(violation(at(day - 1)).is_none(), "still remembered");
    // A day after the first delivery (not the redelivery): forgotten.
    assert_eq!(store.sweep(at(day + 1), &policy).expect("sweep").seen, 1);
    assert_eq!(sweep::seen_at(&store, &EventKey::derive("v").0).expect("read"), None);
    assert_eq!(
        store.sweep(at(3 * day), &policy).expect("sweep").seen,
        0,
        "nothing left"
    );
    assert_eq!(store.case(g, 1).expect("read").map(|c| c.user_id), Some(7), "one case");
    assert_eq!(store.case(g, 2).expect("read"), None);
}

/// The sweep reads the whole `seen` tree: with keys spread over many of sled's pages, it
/// removes every expired one and keeps every young one, whatever their order.
#[test]
fn the_sweep_removes_exactly_the_expired_seen_keys_among_many() {
    let (_dir, store) = store();
    let day = 86_400;
    for i in 0..600 {
        // Alternate old and young, so both are spread over the whole key space.
        let when = if i % 3 == 0 { at(0) } else { at(2 * day) };
        store
            .unit(Some(&EventKey::derive(&format!("e{i}"))), when, |_| Ok(()))
            .expect("unit")
            .expect("first delivery");
    }
    let ttl = |_| std::time::Duration::from_secs(100 * day as u64);
    let policy = SweepPolicy {
        seen_ttl: std::time::Duration::from_secs(day as u64),
        audit_retention: None,
        strike_ttl: &ttl,
    };
    assert_eq!(store.sweep(at(2 * day), &policy).expect("sweep").seen, 200);
    for i in 0..600 {
        let kept = sweep::seen_at(&store, &EventKey::derive(&format!("e{i}")).0).expect("read");
        assert_eq!(kept.is_some(), i % 3 != 0, "e{i}");
    }
    assert_eq!(store.sweep(at(2 * day), &policy).expect("sweep").seen, 0);
}

#[test]
fn the_sweep_expires_seen_keys_strikes_old_cases_and_receipts() {
    let (_dir, store) = store();
    let g = GroupId::qq(1);
    let day = 86_400;
    violate(&store, "old", g, 7, at(0));
    violate(&store, "new", g, 8, at(3 * day));
    // Receipts of the last welcome: one from day 0, one from day 3.
    let receipt = |group: GroupId, secs: i64| {
        let value = encode(&Receipt::new(1, at(secs).as_millisecond())).expect("encode");
        store.set_state(&welcome::receipt_name(group), &value).expect("state");
    };
    receipt(g, 0);
    receipt(GroupId::qq(2), 3 * day);
    store.set_state("telegram.offset", b"\x00\x01").expect("state");
    let ttl = |_| std::time::Duration::from_secs(2 * day as u64);
    let policy = SweepPolicy {
        seen_ttl: std::time::Duration::from_secs(day as u64),
        audit_retention: Some(std::time::Duration::from_secs(2 * day as u64)),
        strike_ttl: &ttl,
    };
    let report = store.sweep(at(3 * day + 10), &policy).expect("sweep");
    assert_eq!(
        report,
        SweepReport {
            seen: 1,
            strikes: 1,
            cases: 1,
            archive_files: 0,
            dead: 0,
            receipts: 1,
            sent: 0,
        }
    );
    assert_eq!(store.welcome_receipt(g).expect("read"), None, "older than 2 days");
    assert!(store.welcome_receipt(GroupId::qq(2)).expect("read").is_some());
    assert!(
        store.state("telegram.offset").expect("read").is_some(),
        "other state is kept"
    );
    assert_eq!(sweep::seen_at(&store, &EventKey::derive("old").0).expect("read"), None);
    assert!(
        sweep::seen_at(&store, &EventKey::derive("new").0)
            .expect("read")
            .is_some()
    );
    assert_eq!(
        store.strike_record(g, 7).expect("read"),
        None,
        "all its strikes expired"
    );
    assert!(store.strike_record(g, 8).expect("read").is_some());
    let left: Vec<u64> = store
        .cases(Some(g), None)
        .expect("list")
        .iter()
        .map(|e| e.case)
        .collect();
    assert_eq!(left, [2], "case 1 aged out; numbering goes on");
    // A second sweep finds nothing; the old event is forgotten, so it would count again.
    assert_eq!(
        store.sweep(at(3 * day + 10), &policy).expect("sweep"),
        SweepReport::default()
    );
    assert!(violate(&store, "old", g, 7, at(3 * day + 20)).is_some());
}

#[test]
fn a_scheduled_post_fires_once_per_occurrence() {
    let (_dir, store) = store();
    assert_eq!(store.post_state("morning").expect("read"), None);
    assert!(
        store
            .commit_post("morning", 1_000, 1, &[send("早上好")], at(0))
            .expect("fire")
    );
    assert!(
        !store
            .commit_post("morning", 1_000, 2, &[send("早上好")], at(0))
            .expect("again")
    );
    assert!(!store.commit_post("morning", 500, 2, &[], at(0)).expect("older"));
    assert!(store.commit_post("morning", 2_000, 2, &[], at(0)).expect("skipped one"));
    let state = store.post_state("morning").expect("read").expect("state");
    assert_eq!((state.last_occurrence_ms, state.rotation), (2_000, 2));
    assert_eq!(store.outbox().pending().expect("scan").len(), 1);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = sled::open(dir.path()).expect("open");
        db.open_tree("meta")
            .expect("tree")
            .insert(b"schema", &99u32.to_be_bytes())
            .expect("insert");
        db.flush().expect("flush");
    }
    let opened = Store::open_path(dir.path());
    assert!(
        matches!(opened, Err(StoreError::SchemaTooNew { found: 99, .. })),
        "{opened:?}"
    );
}

/// A bare sled database at `path` that says it is of schema `version` (what each
/// `write_schema_N` fills with that schema's records).
fn database_of_schema(path: &Path, version: u32) -> sled::Db {
    let db = sled::open(path).expect("open");
    db.open_tree("meta")
        .expect("tree")
        .insert(b"schema", &version.to_be_bytes())
        .expect("insert");
    db
}

/// A database as schema 1 (the foundation) wrote it.
fn write_schema_1(path: &Path) {
    let db = database_of_schema(path, 1);
    let seen = db.open_tree("seen").expect("tree");
    seen.insert(EventKey::derive("old event").0, &at(0).as_millisecond().to_be_bytes())
        .expect("insert");
    let strikes = db.open_tree("strikes").expect("tree");
    let v1 = br#"{"strikes":[{"at_ms":1700000000000,"weight":1,"rule":"ads"}]}"#;
    strikes.insert(member_key(GroupId::qq(5), 7), &v1[..]).expect("insert");
    let outbox = db.open_tree("outbox").expect("tree");
    let item = br#"{"v":1,"action":{"action":"recall","group":{"platform":"qq","id":5},"message_id":3},"created_ms":1,"attempts":0,"not_before_ms":1,"last_error":null}"#;
    outbox.insert(9u64.to_be_bytes(), &item[..]).expect("insert");
    db.flush().expect("flush");
}

#[test]
fn schema_1_is_backed_up_then_migrated() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_schema_1(dir.path());
    let store = Store::open_path(dir.path()).expect("migrates");

    let record = store.strike_record(GroupId::qq(5), 7).expect("readable").expect("kept");
    assert_eq!(record.strikes[0].rule, "ads");
    assert_eq!(store.outbox().pending().expect("scan")[0].0, 9);
    // The seen key is expired by its time, like one this build wrote.
    let ttl = |_| std::time::Duration::from_secs(1);
    let policy = SweepPolicy {
        seen_ttl: std::time::Duration::from_secs(60),
        audit_retention: None,
        strike_ttl: &ttl,
    };
    assert_eq!(store.sweep(at(3_600), &policy).expect("sweep").seen, 1);

    let backups: Vec<_> = std::fs::read_dir(dir.path().join("backups"))
        .expect("backups folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(backups.len(), 1);
    assert!(backups[0].starts_with("pre-migration-v1-"), "{backups:?}");
    drop(store);
    // The backup restores the schema-1 data, which migrates again on open.
    let backup = dir.path().join("backups").join(&backups[0]);
    let target = tempfile::tempdir().expect("tempdir");
    let settings = StorageSettings {
        path: target.path().join("data"),
        ..StorageSettings::default()
    };
    let mut input = std::io::BufReader::new(std::fs::File::open(&backup).expect("open"));
    let report = backup::restore(&settings, &mut input, false).expect("restores");
    assert_eq!(report.schema, 1);
    let restored = Store::open(&settings).expect("open");
    assert!(restored.strike_record(GroupId::qq(5), 7).expect("read").is_some());
}

/// A database as schema 2 wrote it: seen keys with their `seen_expiry` index entries.
fn write_schema_2(path: &Path) {
    let db = database_of_schema(path, 2);
    let seen = db.open_tree("seen").expect("tree");
    let expiry = db.open_tree("seen_expiry").expect("tree");
    for (name, secs) in [("old event", 0), ("young event", 3 * 86_400)] {
        let key = EventKey::derive(name).0;
        let at_ms = at(secs).as_millisecond();
        seen.insert(key, &at_ms.to_be_bytes()).expect("insert");
        let mut index = at_ms.to_be_bytes().to_vec();
        index[0] ^= 0x80; // the index's keys were sign-flipped big-endian times
        index.extend_from_slice(&key);
        expiry.insert(index, &[]).expect("insert");
    }
    db.flush().expect("flush");
}

#[test]
fn schema_2_drops_the_seen_index_keeps_the_seen_keys_and_its_backup_restores() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_schema_2(dir.path());
    let store = Store::open_path(dir.path()).expect("migrates");
    let names = store.trees().expect("open").db.tree_names();
    assert!(
        !names.iter().any(|n| n.as_ref() == b"seen_expiry"),
        "the index is dropped"
    );
    let old = EventKey::derive("old event").0;
    let young = EventKey::derive("young event").0;
    assert_eq!(
        sweep::seen_at(&store, &old).expect("read"),
        Some(at(0).as_millisecond())
    );
    // Still a redelivery after the migration.
    assert!(
        store
            .unit(Some(&EventKey::derive("young event")), at(3 * 86_400), |_| Ok(()))
            .expect("unit")
            .is_none()
    );
    let ttl = |_| std::time::Duration::from_secs(1);
    let policy = SweepPolicy {
        seen_ttl: std::time::Duration::from_secs(86_400),
        audit_retention: None,
        strike_ttl: &ttl,
    };
    assert_eq!(store.sweep(at(3 * 86_400), &policy).expect("sweep").seen, 1);
    assert_eq!(sweep::seen_at(&store, &old).expect("read"), None);
    assert!(sweep::seen_at(&store, &young).expect("read").is_some());

    // Its pre-migration backup holds the index; restored, the index is left out and the
    // database migrates again on open.
    let backup_file = the_only_backup(dir.path());
    let text = std::fs::read_to_string(&backup_file).expect("read");
    assert!(text.contains(r#""tree":"seen_expiry""#), "the backup is of schema 2");
    drop(store);
    let (_target, report, restored) = restored_with_its_report(&std::fs::read(&backup_file).expect("read the backup"));
    assert_eq!(report.schema, 2);
    assert_eq!(report.trees.get("seen"), Some(&2));
    assert_eq!(report.trees.get("seen_expiry"), None);
    assert!(sweep::seen_at(&restored, &young).expect("read").is_some());
    let mut file = Vec::new();
    assert_eq!(
        restored.backup(&mut file, at(0)).expect("backup").schema,
        SCHEMA_VERSION
    );
    assert!(!String::from_utf8(file).expect("utf-8").contains("seen_expiry"));
}

/// A database as schema 3 wrote it: seen keys in the undated form of every event.
fn write_schema_3(path: &Path, events: &[(&str, i64)]) {
    let db = database_of_schema(path, 3);
    let seen = db.open_tree("seen").expect("tree");
    for (identity, at_ms) in events {
        seen.insert(EventKey::derive(identity).0, &at_ms.to_be_bytes())
            .expect("insert");
    }
    db.flush().expect("flush");
}

/// Schema 4 keys dated events by their date; an event an older build recorded under its
/// undated key is still a redelivery until every such key has expired, and then the lookup
/// for them stops.
#[test]
fn schema_3_seen_keys_still_count_after_the_migration_until_they_expire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = Timestamp::now();
    let day_ms = 86_400_000;
    let recorded = now.as_millisecond() - 1_000;
    let identity = "qq|m|1|55|2|3|1700000000";
    write_schema_3(dir.path(), &[(identity, recorded)]);
    let store = Store::open_path(dir.path()).expect("migrates");
    let meta = store
        .trees()
        .expect("open")
        .meta
        .get(super::LEGACY_SEEN_KEY)
        .expect("read");
    assert!(meta.is_some(), "the migration notes its time");
    let dated = |identity: &str| EventKey::dated(1_700_000_000, identity);
    assert!(
        store
            .unit(Some(&dated(identity)), now, |_| Ok(()))
            .expect("unit")
            .is_none(),
        "the redelivery of an event recorded by schema 3 changes nothing"
    );
    let other = "qq|m|1|56|2|3|1700000000";
    assert!(
        store
            .unit(Some(&dated(other)), now, |_| Ok(()))
            .expect("unit")
            .is_some(),
        "another event of the same second is new"
    );
    let ttl = |_| std::time::Duration::from_secs(1);
    let policy = SweepPolicy {
        seen_ttl: std::time::Duration::from_secs(86_400),
        audit_retention: None,
        strike_ttl: &ttl,
    };
    // A day later, before the migration's time has expired: the old key is kept, and looked up.
    let early = Timestamp::from_millisecond(recorded + day_ms - 10_000).expect("time");
    assert_eq!(store.sweep(early, &policy).expect("sweep").seen, 0);
    assert!(store.trees().expect("open").legacy_seen().is_some());
    // Past it: the old key and the new one (recorded at `now`) go, and the lookup stops.
    let late = Timestamp::from_millisecond(now.as_millisecond() + 2 * day_ms).expect("time");
    assert_eq!(store.sweep(late, &policy).expect("sweep").seen, 2);
    let trees = store.trees().expect("open");
    assert!(trees.legacy_seen().is_none());
    assert_eq!(trees.meta.get(super::LEGACY_SEEN_KEY).expect("read"), None);
    drop(trees);
    drop(store);
    // Reopened, it stays off; a new database never has it.
    let store = Store::open_path(dir.path()).expect("reopens");
    assert!(store.trees().expect("open").legacy_seen().is_none());
    let (_fresh_dir, fresh) = self::store();
    assert!(fresh.trees().expect("open").legacy_seen().is_none());
}

#[test]
fn a_backup_restores_every_tree_exactly() {
    let (_dir, store) = store();
    let g = GroupId::qq(1);
    violate(&store, "e1", g, 7, at(0));
    violate(&store, "e2", g, 8, at(1));
    store.set_state("telegram.offset", b"\x00\x01").expect("state");
    store.commit_post("night", 5, 1, &[], at(0)).expect("post");
    let (seq, item) = store.outbox().pending().expect("scan").remove(0);
    store.outbox().dead_letter(seq, &item, "refused", 3).expect("dead");

    let mut file = Vec::new();
    let made = store.backup(&mut file, at(2)).expect("backup");
    assert_eq!(made.schema, SCHEMA_VERSION);
    let text = String::from_utf8(file.clone()).expect("utf-8");
    assert!(
        text.contains(r#""tree":"audit""#) && text.contains("加微信"),
        "JSON values are readable"
    );

    let target = tempfile::tempdir().expect("tempdir");
    let settings = StorageSettings {
        path: target.path().join("data"),
        ..StorageSettings::default()
    };
    let restored = backup::restore(&settings, &mut file.as_slice(), false).expect("restore");
    assert_eq!(restored, made);
    let copy = Store::open(&settings).expect("open");
    let mut again = Vec::new();
    copy.backup(&mut again, at(2)).expect("backup of the copy");
    assert_eq!(again, file, "byte for byte the same trees");
    assert_eq!(copy.state("telegram.offset").expect("state"), Some(vec![0, 1]));
    assert!(violate(&copy, "e1", g, 7, at(3)).is_none(), "seen keys came along");
    assert_eq!(
        violate(&copy, "e3", g, 7, at(3)).and_then(|c| c.case),
        Some(3),
        "so did the counter"
    );

    // A second restore into the now non-empty database needs --force.
    drop(copy);
    let err = backup::restore(&settings, &mut file.as_slice(), false).expect_err("not empty");
    assert!(matches!(err, StoreError::NotEmpty(_)), "{err}");
    backup::restore(&settings, &mut file.as_slice(), true).expect("forced");
    let copy = Store::open(&settings).expect("open");
    assert_eq!(
        copy.cases(Some(g), None).expect("list").len(),
        2,
        "replaced, not merged"
    );
}

#[test]
fn damaged_backups_are_refused_with_the_line_and_nothing_is_written() {
    let (_dir, store) = store();
    violate(&store, "e1", GroupId::qq(1), 7, at(0));
    let mut file = Vec::new();
    store.backup(&mut file, at(1)).expect("backup");
    let text = String::from_utf8(file).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();

    let truncated = lines[..lines.len() - 1].join("\n");
    let wrong_tree = text.replacen(r#""tree":"strikes""#, r#""tree":"strikez""#, 1);
    let bad_hex = text.replacen(r#""key":""#, r#""key":"zz"#, 1);
    let miscounted = text.replace(r#""entries":"#, r#""entries":1"#);
    let cases = [
        ("", "empty"),
        ("hello\n", "header"),
        (truncated.as_str(), "truncated"),
        (wrong_tree.as_str(), "strikez"),
        (bad_hex.as_str(), "key"),
        (miscounted.as_str(), "damaged"),
    ];
    for (input, needle) in cases {
        let target = tempfile::tempdir().expect("tempdir");
        let settings = StorageSettings {
            path: target.path().join("data"),
            ..StorageSettings::default()
        };
        let err = backup::restore(&settings, &mut input.as_bytes(), false).expect_err(needle);
        assert!(err.to_string().contains(needle), "{needle}: {err}");
        assert!(!settings.path.exists(), "{needle}: nothing was created");
    }
}

#[tokio::test]
async fn concurrent_durable_calls_all_complete() {
    let (_dir, store) = store();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.enqueue(vec![send(&i.to_string())], at(0)).expect("enqueue");
            store.durable().await
        }));
    }
    for t in tasks {
        t.await.expect("join").expect("durable");
    }
    assert_eq!(store.outbox().pending().expect("scan").len(), 32);
}

#[test]
fn a_database_in_use_is_reported_as_such() {
    let (dir, _store) = store();
    let err = Store::open_path(dir.path()).expect_err("the first handle holds the lock");
    assert!(matches!(err, StoreError::Locked(_)), "{err}");
    assert!(err.to_string().contains("in use by another process"), "{err}");
}

fn joiner(user_id: i64, joined_ms: i64) -> JoinWrite {
    JoinWrite {
        group: GroupId::qq(1),
        member: PendingJoin {
            user_id,
            name: String::new(),
            joined_ms,
        },
        rejoin_window: Some(std::time::Duration::from_secs(3_600)),
        batch_window: Some(std::time::Duration::from_secs(10)),
        stale_after: Some(std::time::Duration::from_secs(600)),
    }
}

/// Records member `user`'s join in group 1 as event `key`, `secs` seconds after the epoch
/// ([`joiner`]'s windows, [`greet`]'s welcome).
fn join_at(store: &Store, key: &str, user: i64, secs: i64) -> JoinRecorded {
    store
        .commit_join(
            &EventKey::derive(key),
            at(secs),
            &joiner(user, at(secs).as_millisecond()),
            greet,
        )
        .expect("join")
}

/// A welcome builder that greets everyone of a batch in one item and recalls the previous one.
fn greet(batch: &WelcomeBatch, previous: Option<Receipt>) -> Vec<OutboxItem> {
    let mut items: Vec<OutboxItem> = previous
        .map(|r| {
            let recall = Action::Recall {
                group: batch.group,
                message_id: r.message_id,
            };
            OutboxItem::new(recall, 0)
        })
        .into_iter()
        .collect();
    let names: Vec<String> = batch.members.iter().map(|m| m.user_id.to_string()).collect();
    items.push(OutboxItem::new(send(&names.join(",")), 0).with_receipt(welcome::receipt_name(batch.group)));
    items
}

#[test]
fn a_quiet_group_greets_at_once_and_joins_within_the_window_wait_in_one_batch_greeted_once() {
    let (_dir, store) = store();
    let record = |key: &str, user, secs| join_at(&store, key, user, secs);
    let pending_sends = || -> Vec<Action> {
        store
            .outbox()
            .pending()
            .expect("outbox")
            .into_iter()
            .map(|(_, i)| i.action)
            .collect()
    };
    // The first join of a quiet group is greeted in its own transaction.
    assert_eq!(record("j1", 801, 0), JoinRecorded::Welcomed { actions: 1 });
    assert_eq!(pending_sends(), [send("801")]);
    // Joins within the 10 s after that welcome wait for the window to end.
    let first_ms = at(3).as_millisecond();
    assert_eq!(
        record("j2", 802, 3),
        JoinRecorded::Queued {
            first_ms,
            started: true
        },
        "the batch's first member wakes the greeter"
    );
    assert_eq!(
        record("j3", 803, 5),
        JoinRecorded::Queued {
            first_ms,
            started: false
        },
        "same batch, whose due time does not change"
    );
    assert_eq!(
        record("j3", 803, 5),
        JoinRecorded::Duplicate,
        "a redelivery changes nothing"
    );
    assert_eq!(
        store.pending_welcomes().expect("pending"),
        [(GroupId::qq(1), at(0).as_millisecond())],
        "the window counts from the welcome"
    );
    assert_eq!(pending_sends().len(), 1, "nothing more sent while waiting");

    // The greeting: one item for both, the batch gone, flushing again does nothing.
    assert_eq!(
        store.flush_welcome(GroupId::qq(1), at(10), greet).expect("flush"),
        Some(1)
    );
    assert_eq!(store.flush_welcome(GroupId::qq(1), at(10), greet).expect("again"), None);
    assert!(store.pending_welcomes().expect("pending").is_empty());
    assert_eq!(pending_sends(), [send("801"), send("802,803")]);

    // A join right after that batched welcome waits for its window in turn.
    assert!(matches!(record("j4", 804, 12), JoinRecorded::Queued { .. }));
    assert_eq!(
        store.pending_welcomes().expect("pending"),
        [(GroupId::qq(1), at(10).as_millisecond())]
    );
}

/// A batch left by a downtime longer than `stale_after` is one the greeter drops unsent; a
/// join recorded before the greeter's first pass must not join it (it would vanish with it),
/// but is greeted as the first of a quiet group, and the stale batch is gone.
#[test]
fn a_join_after_a_long_downtime_does_not_join_the_stale_batch() {
    let (_dir, store) = store();
    let record = |key: &str, user, secs| join_at(&store, key, user, secs);
    assert_eq!(record("j1", 801, 0), JoinRecorded::Welcomed { actions: 1 });
    assert!(matches!(record("j2", 802, 3), JoinRecorded::Queued { .. }));
    // An hour later (the batch was due at 10 s; stale after 600 s), before any flush.
    assert_eq!(record("j3", 803, 3_600), JoinRecorded::Welcomed { actions: 1 });
    assert!(
        store.pending_welcomes().expect("pending").is_empty(),
        "the stale batch is dropped with the join"
    );
    // Within the window of that fresh welcome, joins batch again as usual.
    assert!(matches!(record("j4", 804, 3_605), JoinRecorded::Queued { .. }));
}

#[test]
fn the_next_welcome_recalls_the_previous_one_whose_receipt_is_kept() {
    let (_dir, store) = store();
    let record = |key: &str, user, secs| join_at(&store, key, user, secs);
    record("j1", 801, 0);
    let pending = store.outbox().pending().expect("outbox");
    // Delivered with its message id: the next welcome recalls it, and the receipt is taken.
    let (seq, item) = &pending[0];
    let name = item.receipt.as_deref().expect("a receipt name");
    store
        .outbox()
        .delivered_with(*seq, Some((name, Receipt::new(9_001, 5))))
        .expect("delivered");
    assert_eq!(
        store.welcome_receipt(GroupId::qq(1)).expect("read"),
        Some(Receipt::new(9_001, 5))
    );
    assert_eq!(
        record("j2", 802, 60),
        JoinRecorded::Welcomed { actions: 2 },
        "a quiet group again"
    );
    let actions: Vec<Action> = store
        .outbox()
        .pending()
        .expect("outbox")
        .into_iter()
        .map(|(_, i)| i.action)
        .collect();
    assert_eq!(
        actions,
        [
            Action::Recall {
                group: GroupId::qq(1),
                message_id: 9_001
            },
            send("802")
        ]
    );
    assert_eq!(store.welcome_receipt(GroupId::qq(1)).expect("read"), None);
}

#[test]
fn members_who_leave_while_waiting_are_not_greeted() {
    let (_dir, store) = store();
    let group = GroupId::qq(1);
    let record = |key: &str, user, secs| join_at(&store, key, user, secs);
    record("j1", 801, 0);
    record("j2", 802, 1);
    record("j3", 803, 2);
    assert!(store.leave_welcome(group, 802).expect("leave"), "802 was waiting");
    assert!(!store.leave_welcome(group, 802).expect("again"), "no longer");
    assert!(
        !store.leave_welcome(group, 801).expect("leave"),
        "801 was greeted already"
    );
    assert_eq!(store.flush_welcome(group, at(10), greet).expect("flush"), Some(1));
    let last = store
        .outbox()
        .pending()
        .expect("outbox")
        .pop()
        .expect("an item")
        .1
        .action;
    assert_eq!(last, send("803"));

    // Everyone of a batch gone: no welcome at all.
    record("j4", 804, 12);
    assert!(store.leave_welcome(group, 804).expect("leave"));
    assert!(store.pending_welcomes().expect("pending").is_empty());
    assert_eq!(store.flush_welcome(group, at(20), greet).expect("flush"), None);
}

#[test]
fn a_member_rejoining_within_the_window_is_recorded_but_not_queued() {
    let (_dir, store) = store();
    let join = |key: &str, secs: i64| join_at(&store, key, 801, secs);
    assert!(matches!(join("a", 0), JoinRecorded::Welcomed { .. }));
    assert_eq!(join("b", 1_800), JoinRecorded::Rejoined, "30 minutes later");
    assert!(store.pending_welcomes().expect("pending").is_empty());
    // The window counts from the latest join: 1 h after the re-join, not after the first.
    assert_eq!(join("c", 1_800 + 3_000), JoinRecorded::Rejoined);
    assert!(matches!(
        join("d", 1_800 + 3_000 + 3_600),
        JoinRecorded::Welcomed { .. }
    ));
    // The sweep forgets joins older than the window.
    assert_eq!(
        store
            .sweep_joins(at(20_000), std::time::Duration::from_secs(3_600))
            .expect("sweep"),
        1
    );
    assert!(
        matches!(join("e", 20_001), JoinRecorded::Welcomed { .. }),
        "a join after the sweep is greeted"
    );
}

/// The join time is a part of the member's record (schema 8): it survives the member leaving
/// (a member who leaves and comes back within the window is not greeted again), the other
/// parts' writers keep it, and the sweep takes it off once it is older than the window —
/// deleting a record that held nothing else, keeping the rest of one that did.
#[test]
fn the_join_time_lives_in_the_member_record_through_a_leave_and_the_sweep() {
    let (_dir, store) = store();
    let g = GroupId::qq(1);
    let join = |key: &str, user: i64, secs: i64| join_at(&store, key, user, secs);
    let raw = |user: i64| {
        store
            .trees()
            .expect("open")
            .members
            .get(member_key(g, user))
            .expect("read")
    };
    assert!(matches!(join("a", 801, 0), JoinRecorded::Welcomed { .. }));
    assert!(matches!(join("b", 802, 10), JoinRecorded::Welcomed { .. }));
    assert!(
        !store
            .trees()
            .expect("open")
            .db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == b"joins"),
        "no joins tree"
    );
    assert_eq!(raw(801).expect("a record")[0], 0xff, "the join part");
    // 802 is counted and speaks: the other parts' writers keep the join part.
    store.trust_joined(g, 802, at(10).as_millisecond()).expect("trust");
    store.flush_blocking().expect("flush");
    store
        .record_activity(
            g,
            802,
            &MemberActivity::new(
                at(20).as_millisecond(),
                Since::Spoke,
                "b",
                crate::domain::event::Role::Member,
            ),
        )
        .expect("activity");
    let parts = members::split_member(&raw(802).expect("a record"))
        .map(|p| (p.joined, p.trust.is_some(), p.activity.is_empty()));
    assert_eq!(parts.expect("reads"), (Some(at(10).as_millisecond()), true, false));
    // 801 leaves: their activity and trust are forgotten, the join time stays.
    store.forget_member(g, 801).expect("leave");
    store.forget_trust(g, 801).expect("leave");
    assert!(raw(801).is_some(), "the join part alone");
    assert!(store.member_activity(g, 801).expect("read").is_none());
    assert_eq!(join("c", 801, 1_800), JoinRecorded::Rejoined, "back within the window");
    store.forget_member(g, 801).expect("leave");
    store.forget_trust(g, 801).expect("leave");
    // The sweep, past the window of both: 801's record (the join part alone) is deleted,
    // 802's keeps its trust and activity.
    assert_eq!(
        store
            .sweep_joins(at(20_000), std::time::Duration::from_secs(3_600))
            .expect("sweep"),
        2
    );
    assert_eq!(raw(801), None);
    let parts = members::split_member(&raw(802).expect("a record"))
        .map(|p| (p.joined, p.trust.is_some(), p.activity.is_empty()));
    assert_eq!(parts.expect("reads"), (None, true, false));
    assert_eq!(
        store
            .sweep_joins(at(20_000), std::time::Duration::from_secs(3_600))
            .expect("sweep"),
        0,
        "nothing left to forget"
    );
}

/// A database as schema 7 wrote it: join times in `joins`, one for a member with a record in
/// `members`, one for a member without (they left).
fn write_schema_7(path: &Path) {
    let db = database_of_schema(path, 7);
    let g = GroupId::qq(4);
    let joins = db.open_tree("joins").expect("tree");
    joins
        .insert(keys::member_key(g, 7), &1_733_270_400_000_i64.to_be_bytes())
        .expect("insert");
    joins
        .insert(keys::member_key(g, 8), &1_733_270_500_000_i64.to_be_bytes())
        .expect("insert");
    db.open_tree("members")
        .expect("tree")
        .insert(keys::member_key(g, 7), &[1, 0, 0, 0x4e, 0x20, 3])
        .expect("insert");
    db.flush().expect("flush");
}

/// What a schema-7 database of [`write_schema_7`] holds, read through this build.
fn assert_schema_7_data(store: &Store) {
    use crate::domain::learning::MemberTrust;
    let g = GroupId::qq(4);
    let members = store.trees().expect("open").members.clone();
    let part = |user: i64| {
        let bytes = members.get(keys::member_key(g, user)).expect("read").expect("a record");
        let parts = members::split_member(&bytes).expect("reads");
        (parts.joined, parts.trust)
    };
    assert_eq!(
        part(7),
        (
            Some(1_733_270_400_000),
            Some(MemberTrust {
                joined_day: 20_000,
                clean: 3
            })
        )
    );
    assert_eq!(part(8), (Some(1_733_270_500_000), None));
    assert_eq!(members.len(), 2, "one record per member");
    assert!(
        !store
            .trees()
            .expect("open")
            .db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == b"joins"),
        "the joins tree is dropped"
    );
}

#[test]
fn schema_7_moves_join_times_into_the_member_records_and_its_backup_restores() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_schema_7(dir.path());
    let store = Store::open_path(dir.path()).expect("migrates");
    assert_schema_7_data(&store);
    // A re-join within the window of a migrated join time is recognised.
    let mut rejoin = joiner(8, 1_733_270_600_000);
    rejoin.group = GroupId::qq(4);
    let now = Timestamp::from_millisecond(1_733_270_600_000).expect("time");
    assert_eq!(
        store
            .commit_join(&EventKey::derive("again"), now, &rejoin, greet)
            .expect("join"),
        JoinRecorded::Rejoined
    );
    migrate::v7_to_v8(&store.trees().expect("open").db).expect("again, nothing to move");
    // Its pre-migration backup holds the `joins` tree; restored into this build, it migrates
    // again, to the same records.
    let backup_file = the_only_backup(dir.path());
    drop(store);
    let (_target, report, restored) = restored_with_its_report(&std::fs::read(&backup_file).expect("read the backup"));
    assert_eq!(report.schema, 7);
    assert_eq!(report.trees.get("joins"), Some(&2));
    assert_schema_7_data(&restored);
}

#[test]
fn without_batching_a_join_is_welcomed_in_its_own_transaction() {
    let (_dir, store) = store();
    let mut join = joiner(801, at(0).as_millisecond());
    join.batch_window = None;
    let recorded = store
        .commit_join(&EventKey::derive("j"), at(0), &join, greet)
        .expect("join");
    assert_eq!(recorded, JoinRecorded::Welcomed { actions: 1 });
    assert!(store.pending_welcomes().expect("pending").is_empty());
    assert_eq!(store.outbox().pending().expect("outbox").len(), 1);
}

#[test]
fn admin_posts_are_numbered_per_group_never_reused_and_added_once() {
    let (_dir, store) = store();
    let group = GroupId::qq(1);
    let post = |text: &str| AdminPost::new(group, "07:30".into(), "Asia/Shanghai".into(), text.into(), 9);
    let reply = |n: u64| send(&format!("#{n}"));
    let add = |key: &str, text: &str| {
        store
            .commit_schedule_add(&EventKey::derive(key), at(0), &post(text), reply)
            .expect("add")
    };
    assert_eq!(add("a", "早"), Some(1));
    assert_eq!(add("b", "晚"), Some(2));
    assert_eq!(add("b", "晚"), None, "a redelivered command adds nothing");
    // Added with a state at now: the scheduler never fires it for an earlier time.
    let state = store.post_state("qq:1/1").expect("read").expect("a state");
    assert_eq!(state.last_occurrence_ms, at(0).as_millisecond());

    let del = |key: &str, n: u64| {
        store
            .commit_schedule_del(&EventKey::derive(key), at(0), group, n, |_| send("ok"))
            .expect("del")
    };
    assert_eq!(del("c", 2), Some(true));
    assert_eq!(del("d", 2), Some(false), "already gone");
    assert_eq!(
        store.post_state("qq:1/2").expect("read"),
        None,
        "its state goes with it"
    );
    assert_eq!(add("e", "午"), Some(3), "numbers are never given again");
    let numbers: Vec<u64> = store
        .admin_posts_of(group)
        .expect("list")
        .iter()
        .map(|p| p.number)
        .collect();
    assert_eq!(numbers, [1, 3]);
    assert!(store.admin_posts_of(GroupId::qq(2)).expect("list").is_empty());
    // Every command answered once: 3 adds and 2 deletes.
    assert_eq!(store.outbox().pending().expect("outbox").len(), 5);
}

#[test]
fn a_post_occurrence_and_its_jittered_items_are_committed_together_once() {
    let (_dir, store) = store();
    let items = [
        OutboxItem::new(send("a"), 1_000).not_before(1_000),
        OutboxItem::new(send("b"), 1_000).not_before(21_000),
    ];
    assert!(store.commit_post_items("noon", 1_000, 1, &items).expect("commit"));
    assert!(
        !store.commit_post_items("noon", 1_000, 2, &items).expect("again"),
        "exactly once"
    );
    let pending = store.outbox().pending().expect("outbox");
    let not_before: Vec<i64> = pending.iter().map(|(_, i)| i.not_before_ms).collect();
    assert_eq!(not_before, [1_000, 21_000]);
    assert_eq!(store.post_state("noon").expect("read").expect("state").rotation, 1);
    assert_eq!(store.post_ids().expect("ids"), ["noon"]);
    store.forget_post("noon").expect("forget");
    assert!(store.post_ids().expect("ids").is_empty());
}

#[test]
fn a_flush_larger_than_one_batch_records_every_member_and_the_earliest_start() {
    let (_dir, store) = store();
    let group = GroupId::qq(726_300_112);
    let records: Vec<(GroupId, i64, MemberActivity)> = (0..1_300)
        .map(|i| {
            let record = MemberActivity::new(
                1_000_000 + i,
                Since::Spoke,
                format!("m{i}"),
                crate::domain::event::Role::Member,
            );
            (group, 10_000 + i, record)
        })
        .collect();
    store.record_activities(&records).expect("record");
    let activity = store.group_activity(group).expect("read");
    assert_eq!(activity.members.len(), 1_300);
    assert_eq!(activity.since_ms, Some(1_000_000));
    assert!(
        activity
            .members
            .iter()
            .all(|(user, r)| r.last_ms == 1_000_000 + (user - 10_000))
    );
}

#[test]
fn an_undo_writes_strikes_both_cases_and_the_counter_at_once_or_nothing() {
    let (_dir, store) = store();
    let g = GroupId::qq(1);
    violate(&store, "v1", g, 7, at(0));
    violate(&store, "v2", g, 8, at(1));
    let decide = |entry: &AuditEntry, record: Option<StrikeRecord>, next: u64| {
        assert_eq!(next, 3, "the undo takes the group's next number");
        let mut record = record.expect("a record");
        record.strikes.retain(|s| s.at_ms != entry.at_ms);
        let mut audit = case(g, entry.user_id, 2_000);
        audit.measure = Measure::Pardon { removed: 1 };
        Ok::<_, &str>(crate::store::UndoWrites {
            strikes: if record.strikes.is_empty() {
                StrikeWrite::Clear
            } else {
                StrikeWrite::Put(record)
            },
            audit,
        })
    };
    // A refusal writes nothing.
    let refused = store.undo_case(g, 1, at(2), |_, _, _| Err::<crate::store::UndoWrites, _>("no"));
    assert_eq!(refused.expect("undo"), crate::store::Undo::Refused("no"));
    assert_eq!(store.cases(Some(g), None).expect("cases").len(), 2);
    assert!(store.strike_record(g, 7).expect("read").is_some());

    let done = store.undo_case(g, 1, at(2), decide).expect("undo");
    let crate::store::Undo::Done { case: new, undone } = done else {
        panic!("{done:?}");
    };
    assert_eq!((new, undone.undone_by), (3, Some(3)));
    assert_eq!(
        store.strike_record(g, 7).expect("read"),
        None,
        "the only strike is gone"
    );
    let cases = store.cases(Some(g), None).expect("cases");
    assert_eq!(
        cases
            .iter()
            .map(|c| (c.case, c.undone_by, c.undoes))
            .collect::<Vec<_>>(),
        [(1, Some(3), None), (2, None, None), (3, None, Some(1))]
    );
    // The next case of the group after the undo gets number 4.
    assert_eq!(violate(&store, "v3", g, 9, at(3)).map(|c| c.value), Some(4));
    assert_eq!(
        store.undo_case(g, 1, at(4), decide).expect("undo"),
        crate::store::Undo::AlreadyUndone(3)
    );
    assert_eq!(
        store.undo_case(g, 99, at(4), decide).expect("undo"),
        crate::store::Undo::NoSuchCase
    );
}

#[test]
fn known_groups_and_recent_cases_read_across_trees() {
    let (_dir, store) = store();
    let (a, b) = (GroupId::qq(1), GroupId::telegram(-1_005));
    for (i, g) in [a, a, b, a].into_iter().enumerate() {
        let i = i64::try_from(i).expect("small");
        violate(&store, &format!("v{i}"), g, 7 + i, at(i * 10));
    }
    assert_eq!(store.known_groups().expect("groups"), [a, b]);
    let newest: Vec<(GroupId, u64)> = store
        .recent_cases(None, None, 3, &|_| true)
        .expect("cases")
        .iter()
        .map(|c| (c.group, c.case))
        .collect();
    assert_eq!(newest, [(a, 3), (b, 1), (a, 2)], "newest first across groups");
    let since = store
        .recent_cases(Some(a), Some(at(10).as_millisecond()), 10, &|_| true)
        .expect("cases");
    assert_eq!(since.iter().map(|c| c.case).collect::<Vec<_>>(), [3, 2]);
    let only_8 = store.recent_cases(None, None, 10, &|c| c.user_id == 8).expect("cases");
    assert_eq!(only_8.len(), 1);
    assert_eq!(store.strike_records(a, 10).expect("records").len(), 3);
}

#[test]
fn a_data_directory_it_cannot_write_is_named_with_the_uid_to_chown_it_to() {
    let uid = super::process_uid();
    assert!(uid.parse::<u32>().is_ok(), "the uid is read on Linux: {uid}");
    let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
    assert!(super::not_writable(&denied));
    assert!(super::not_writable(&std::io::Error::from(
        std::io::ErrorKind::ReadOnlyFilesystem
    )));
    assert!(!super::not_writable(&std::io::Error::from(
        std::io::ErrorKind::NotFound
    )));
    let message = StoreError::NotWritable {
        path: "/data".into(),
        uid: "65532".into(),
        cause: denied,
    }
    .to_string();
    assert!(
        message.starts_with("the data directory /data is not writable by this process (uid 65532)")
            && message.contains("chown -R 65532 /data"),
        "{message}"
    );
    // Where the permission bits bind (not as root), opening a read-only directory says so.
    if uid != "0" {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("mkdir");
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o500)).expect("chmod");
        let err = Store::open_path(&data).expect_err("read-only");
        assert!(matches!(err, StoreError::NotWritable { .. }), "{err}");
    }
}

/// Per-member records as builds before the short stored forms wrote them (version 1, every
/// field spelled out) read as before, also after a backup and restore, and take the short
/// form at their next write.
#[test]
fn member_records_of_the_long_form_read_as_before_and_are_rewritten_short() {
    use crate::domain::engagement::{MemberPoints, Period};
    use crate::domain::event::Role;

    let (_dir, store) = store();
    let g = GroupId::qq(1);
    let points_v1 = r#"{"v":1,"points":42,"name":"小王","streak":3,"last_checkin":20060,"checkins":9,"msg_day":20061,"msg_points":4,"week":2865,"week_points":12,"month":660,"month_points":30,"days":5,"active_day":20061,"optout":false}"#;
    let activity_v1 = r#"{"v":1,"last_ms":1733270400000,"since":"joined","name":"小李","role":"admin","reminded":2,"removing":false}"#;
    let trees = store.trees().expect("open");
    // Schema 6: the points JSON is the points part of the member record, after a zero byte.
    let mut points_record = vec![0];
    points_record.extend_from_slice(points_v1.as_bytes());
    trees
        .members
        .insert(keys::member_key(g, 7), points_record)
        .expect("insert");
    trees
        .members
        .insert(keys::member_key(g, 8), activity_v1.as_bytes())
        .expect("insert");
    drop(trees);
    let points = MemberPoints {
        points: 42,
        name: "小王".into(),
        streak: 3,
        last_checkin: Some(20_060),
        checkins: 9,
        msg_day: 20_061,
        msg_points: 4,
        week: 2_865,
        week_points: 12,
        month: 660,
        month_points: 30,
        days: 5,
        active_day: 20_061,
        optout: false,
    };
    let activity = MemberActivity {
        last_ms: 1_733_270_400_000,
        since: Since::Joined,
        name: "小李".into(),
        role: Role::Admin,
        reminded: 2,
        removing: false,
    };

    // Through a backup and a restore: the stored bytes come along as they are.
    let mut file = Vec::new();
    store.backup(&mut file, at(1)).expect("backup");
    let target = tempfile::tempdir().expect("tempdir");
    let settings = StorageSettings {
        path: target.path().join("data"),
        ..StorageSettings::default()
    };
    backup::restore(&settings, &mut file.as_slice(), false).expect("restore");
    let copy = Store::open(&settings).expect("open");
    for s in [&store, &copy] {
        assert_eq!(s.member_points(g, 7).expect("read"), Some(points.clone()));
        assert_eq!(s.group_points(g).expect("read"), vec![(7, points.clone())]);
        assert_eq!(s.member_activity(g, 8).expect("read"), Some(activity.clone()));
        assert_eq!(s.group_activity(g).expect("read").members, vec![(8, activity.clone())]);
    }

    // The next write of each takes the short form, with what was stored kept.
    let period = Period {
        day: 20_061,
        week: 2_865,
        month: 660,
    };
    let noted = NotedPoints {
        name: "小王".into(),
        period,
        points: 3,
    };
    copy.add_message_points(&[(g, 7, noted)], 5).expect("add");
    let now = copy.member_points(g, 7).expect("read").expect("record");
    assert_eq!(
        (now.points, now.msg_points, now.checkins),
        (43, 5, 9),
        "capped at 5 a day"
    );
    assert!(copy.mark_removing(g, 8, activity.last_ms).expect("mark"));
    let trees = copy.trees().expect("open");
    for key in [7, 8] {
        let bytes = trees
            .members
            .get(keys::member_key(g, key))
            .expect("read")
            .expect("stored");
        let parts = members::split_member(&bytes).expect("reads");
        let part = if key == 7 { parts.points } else { parts.activity };
        let text = std::str::from_utf8(part).expect("utf-8");
        assert!(text.starts_with(r#"{"v":2,"#) && !text.contains("name"), "{text}");
    }
    let marked = copy.member_activity(g, 8).expect("read").expect("record");
    assert_eq!(
        marked,
        MemberActivity {
            removing: true,
            ..activity
        }
    );
}

#[test]
fn a_unit_a_crash_tore_part_way_is_finished_from_its_journal_on_the_next_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = GroupId::qq(1);
    {
        let store = Store::open_path(dir.path()).expect("open");
        violate(&store, "v1", g, 7, at(0));
        // The second violation's journal and its first write (the strike record) reach the
        // disk, the rest does not: what a crash part-way through the unit leaves.
        journal::injected::fail_after(Some(1));
        let torn = warning_result(&store, "v2", g, 8, at(1), "warn 8");
        journal::injected::fail_after(None);
        assert!(torn.expect_err("injected").is_store_wide());
        let trees = store.trees().expect("trees");
        assert!(trees.meta.get(journal::JOURNAL_KEY).expect("read").is_some());
        assert!(
            store.strike_record(g, 8).expect("read").is_some(),
            "written before the error"
        );
        assert_eq!(store.cases(Some(g), None).expect("cases").len(), 1, "not written");
        trees.db.flush().expect("flush");
    }
    let store = Store::open_path(dir.path()).expect("reopen");
    assert!(
        store
            .trees()
            .expect("trees")
            .meta
            .get(journal::JOURNAL_KEY)
            .expect("read")
            .is_none(),
        "the journal is removed once applied"
    );
    let cases = store.cases(Some(g), None).expect("cases");
    assert_eq!(
        cases.iter().map(|c| (c.case, c.user_id)).collect::<Vec<_>>(),
        [(1, 7), (2, 8)]
    );
    assert_eq!(store.outbox().pending().expect("pending").len(), 2, "both warnings");
    assert_eq!(violate(&store, "v2", g, 8, at(2)), None, "its seen key was written too");
    assert_eq!(violate(&store, "v3", g, 9, at(3)).map(|c| c.value), Some(3));
}

#[test]
fn a_unit_that_fails_part_way_is_written_again_before_any_other_write() {
    let (_dir, store) = store();
    let g = GroupId::qq(1);
    assert!(store.outbox().subscribe().expect("subscribe").is_empty());
    journal::injected::fail_after(Some(2));
    let failed = warning_result(&store, "v1", g, 7, at(0), "warn 7");
    journal::injected::fail_after(None);
    assert!(failed.expect_err("injected").is_store_wide());
    assert!(store.failing().is_some());
    // Until the unit is whole, nothing else is written: not a plain write, not another unit
    // while the disk still fails.
    let refused = store.set_state("x", b"1").expect_err("refused");
    assert!(matches!(refused, StoreError::Unavailable(_)), "{refused}");
    journal::injected::fail_after(Some(0));
    assert!(violate_result(&store, "v2", g, 8, at(1)).is_err());
    journal::injected::fail_after(None);
    assert_eq!(
        store.cases(Some(g), None).expect("cases").len(),
        0,
        "only two writes made it"
    );
    // The next unit writes the unfinished one first, then its own, in that order.
    assert_eq!(violate(&store, "v2", g, 8, at(1)).map(|c| c.value), Some(2));
    let cases = store.cases(Some(g), None).expect("cases");
    assert_eq!(
        cases.iter().map(|c| (c.case, c.user_id)).collect::<Vec<_>>(),
        [(1, 7), (2, 8)]
    );
    assert!(
        store
            .trees()
            .expect("trees")
            .meta
            .get(journal::JOURNAL_KEY)
            .expect("read")
            .is_none()
    );
    store.set_state("x", b"1").expect("writes again");
    assert_eq!(
        violate(&store, "v1", g, 7, at(2)),
        None,
        "the failed event is recorded once"
    );
    // Its warning reaches the delivery worker, before the next unit's.
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    rt.block_on(store.durable()).expect("flush");
    let fed: Vec<String> = store
        .outbox()
        .take_durable()
        .into_iter()
        .map(|(_, item)| match item.action {
            Action::Send { message, .. } => message.plain_text(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(fed, ["warn 7", "warn"]);
    assert_eq!(store.recover().expect("recover"), recover::Recovery::Probed);
}

#[test]
fn recovery_finishes_an_unfinished_unit_before_its_probe() {
    let (_dir, store) = store();
    let g = GroupId::qq(1);
    journal::injected::fail_after(Some(1));
    assert!(violate_result(&store, "v1", g, 7, at(0)).is_err());
    journal::injected::fail_after(None);
    assert_eq!(store.recover().expect("recover"), recover::Recovery::Probed);
    assert_eq!(store.failing(), None);
    assert_eq!(store.cases(Some(g), None).expect("cases").len(), 1);
    store.set_state("x", b"1").expect("writes again");
    assert_eq!(violate(&store, "v1", g, 7, at(1)), None);
}

#[test]
fn a_write_outside_units_is_refused_while_a_unit_is_unfinished_so_the_unit_never_undoes_it() {
    let (_dir, store) = store();
    let g = GroupId::qq(1);
    let role = crate::domain::event::Role::Member;
    let silent = MemberActivity::new(1_000, Since::Spoke, "u", role);
    store.record_activity(g, 801, &silent).expect("record");
    // A reminder unit (the member's record marked reminded, an outbox item): its journal is
    // written, then its first plain write fails.
    journal::injected::fail_after(Some(0));
    let reminded = store.remind_members(g, &[(801, 1_000)], 1, |_| vec![send("speak up")], at(0));
    journal::injected::fail_after(None);
    assert!(reminded.is_err());
    // The member speaks meanwhile: refused, as every write outside a unit is (the inactivity
    // tracker keeps the record for its next write), never written under the unfinished unit.
    let spoke = MemberActivity::new(5_000, Since::Spoke, "u", role);
    let refused = store.record_activity(g, 801, &spoke).expect_err("refused");
    assert!(matches!(refused, StoreError::Unavailable(_)), "{refused}");
    assert!(store.forget_member(g, 801).is_err());
    assert!(store.mark_removing(g, 801, 1_000).is_err());
    assert!(store.forget_post("morning").is_err());
    // The next unit finishes the reminder first; then the newer activity is written over it.
    assert!(violate(&store, "v", g, 9, at(1)).is_some());
    assert_eq!(
        store.member_activity(g, 801).expect("read").expect("record").reminded,
        1
    );
    store.record_activity(g, 801, &spoke).expect("written");
    let now = store.member_activity(g, 801).expect("read").expect("record");
    assert_eq!(now.last_ms, 5_000);
}

/// [`violate`], returning the store's error.
fn violate_result(
    store: &Store,
    key: &str,
    group: GroupId,
    user: i64,
    now: Timestamp,
) -> Result<Option<Committed<u64>>, StoreError> {
    warning_result(store, key, group, user, now, "warn")
}

/// A violation of `user` recorded with one strike, its case and the warning `text`; the
/// store's error as it is.
fn warning_result(
    store: &Store,
    key: &str,
    group: GroupId,
    user: i64,
    now: Timestamp,
    text: &str,
) -> Result<Option<Committed<u64>>, StoreError> {
    let subject = Subject {
        group,
        user: Some(user),
    };
    store.commit(&EventKey::derive(key), now, Some(subject), |snap| {
        let writes = Writes {
            strikes: StrikeWrite::Put(record("ads", now.as_millisecond())),
            actions: vec![send(text)],
            audit: Some(case(group, user, now.as_millisecond())),
        };
        (writes, snap.next_case)
    })
}

/// One record per member (schema 5): the trust part and the activity part are written by
/// their own writers, each keeping the other; a batch of activity writes the trust counts
/// waiting for the same members with it; a leave removes the record.
#[test]
fn a_members_trust_and_activity_share_one_record_and_a_leave_removes_it() {
    use crate::domain::event::Role;
    use crate::domain::learning::MemberTrust;

    let (_dir, store) = store();
    let g = GroupId::qq(1);
    let day = 20_000 * 86_400_000;
    let raw = |user| {
        store
            .trees()
            .expect("open")
            .members
            .get(keys::member_key(g, user))
            .expect("read")
    };
    let spoke = |user: i64| MemberActivity::new(day, Since::Spoke, format!("u{user}"), Role::Member);
    // First sight: a pending trust count and an activity note, written by one batch.
    store.trust_message(g, 7, day, true, 3).expect("count");
    assert_eq!(raw(7), None, "both wait for their batch");
    store.record_activities(&[(g, 7, spoke(7))]).expect("batch");
    let trust = MemberTrust {
        joined_day: 20_000,
        clean: 1,
    };
    let stored = raw(7).expect("one record");
    assert_eq!(
        members::split_member(&stored).expect("reads").trust,
        Some(trust),
        "the count came along"
    );
    assert_eq!(store.write_pending_trust().expect("batch"), 0, "nothing left to write");
    assert_eq!(store.member_activity(g, 7).expect("read"), Some(spoke(7)));
    // A later count keeps the activity; a later activity keeps the trust.
    store.trust_message(g, 7, day, true, 3).expect("count");
    assert_eq!(store.write_pending_trust().expect("batch"), 1);
    assert_eq!(store.member_activity(g, 7).expect("read"), Some(spoke(7)));
    let later = MemberActivity::new(day + 86_400_000, Since::Spoke, "u7", Role::Member);
    store.record_activities(&[(g, 7, later.clone())]).expect("batch");
    store.reopen().expect("reopen: the cache starts empty");
    assert_eq!(store.trust(g, 7).expect("read").map(|t| t.clean), Some(2));
    assert_eq!(store.member_activity(g, 7).expect("read"), Some(later.clone()));
    // The activity batch reads the trust part from the tree when the cache does not know it.
    store.record_activities(&[(g, 7, spoke(7))]).expect("batch");
    store.reopen().expect("reopen");
    assert_eq!(store.trust(g, 7).expect("read").map(|t| t.clean), Some(2));
    // Reminders and the removal mark keep the trust part.
    assert_eq!(
        store
            .remind_members(g, &[(7, day)], 1, |_| vec![send("speak up")], at(0))
            .expect("remind"),
        1
    );
    assert!(store.mark_removing(g, 7, day).expect("mark"));
    store.reopen().expect("reopen");
    assert_eq!(store.trust(g, 7).expect("read").map(|t| t.clean), Some(2));
    let marked = store.member_activity(g, 7).expect("read").expect("a record");
    assert_eq!((marked.reminded, marked.removing), (1, true));

    // A member with trust only (tracking off, or not yet written) is no tracked member; one
    // with activity only (an admin, never judged) has no trust.
    store.trust_joined(g, 8, day).expect("join");
    store
        .record_activities(&[(g, 9, MemberActivity::new(day, Since::Spoke, "admin", Role::Admin))])
        .expect("batch");
    let users: Vec<i64> = store
        .group_activity(g)
        .expect("read")
        .members
        .iter()
        .map(|(u, _)| *u)
        .collect();
    assert_eq!(users, vec![7, 9]);
    assert_eq!(store.member_activity(g, 8).expect("read"), None);
    store.reopen().expect("reopen");
    assert_eq!(store.trust(g, 9).expect("read"), None);
    assert!(store.trust(g, 8).expect("read").is_some());

    // A leave forgets both (the tracker's part, then the trust cache's): no record is left.
    store.forget_member(g, 7).expect("leave: activity");
    assert_eq!(store.member_activity(g, 7).expect("read"), None);
    assert!(
        store.trust(g, 7).expect("read").is_some(),
        "the trust part stays until forgotten"
    );
    store.forget_trust(g, 7).expect("leave: trust");
    assert_eq!(raw(7), None);
    // Either order; and each alone keeps the other's part.
    store.forget_trust(g, 9).expect("trust of a member with none");
    assert!(store.member_activity(g, 9).expect("read").is_some());
    store.forget_member(g, 9).expect("leave");
    assert_eq!(raw(9), None);
    store.forget_trust(g, 8).expect("leave");
    assert_eq!(raw(8), None);
    assert_eq!(
        store.trees().expect("open").members.len(),
        1,
        "the group's tracking start"
    );
    assert!(
        !store
            .trees()
            .expect("open")
            .db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == b"trust"),
        "no trust tree"
    );
}

/// A database as schema 4 wrote it: trust records in `trust`, activity in `members`.
fn write_schema_4(path: &Path) {
    let db = database_of_schema(path, 4);
    let g = GroupId::qq(3);
    let trust = db.open_tree("trust").expect("tree");
    let members = db.open_tree("members").expect("tree");
    // 7: both; 8: trust only; 9: activity only (version 1).
    trust
        .insert(keys::member_key(g, 7), &[1, 0, 0, 0x4e, 0x20, 3])
        .expect("insert");
    trust
        .insert(keys::member_key(g, 8), &[1, 0, 0, 0x4e, 0x21, 0])
        .expect("insert");
    members
        .insert(keys::member_key(g, 7), &br#"{"v":2,"d":20000,"n":"u7"}"#[..])
        .expect("insert");
    members
        .insert(
            keys::member_key(g, 9),
            &br#"{"v":1,"last_ms":1728000000000,"since":"joined","name":"u9","role":"admin","reminded":0}"#[..],
        )
        .expect("insert");
    members
        .insert(keys::group_prefix(g), &br#"{"v":1,"since_ms":1728000000000}"#[..])
        .expect("insert");
    db.flush().expect("flush");
}

/// What a schema-4 database of [`write_schema_4`] holds, read through this build.
fn assert_schema_4_data(store: &Store) {
    use crate::domain::learning::MemberTrust;
    let g = GroupId::qq(3);
    assert_eq!(
        store.trust(g, 7).expect("read"),
        Some(MemberTrust {
            joined_day: 20_000,
            clean: 3
        })
    );
    assert_eq!(
        store.trust(g, 8).expect("read"),
        Some(MemberTrust {
            joined_day: 20_001,
            clean: 0
        })
    );
    assert_eq!(store.trust(g, 9).expect("read"), None);
    let activity = store.group_activity(g).expect("read");
    assert_eq!(activity.since_ms, Some(1_728_000_000_000));
    let users: Vec<(i64, i64)> = activity.members.iter().map(|(u, r)| (*u, r.last_ms)).collect();
    assert_eq!(users, vec![(7, 20_000 * 86_400_000), (9, 1_728_000_000_000)]);
    let names = store.trees().expect("open").db.tree_names();
    assert!(
        !names.iter().any(|n| n.as_ref() == b"trust"),
        "the trust tree is dropped"
    );
    // Three member records and the tracking start: one record per member.
    assert_eq!(store.trees().expect("open").members.len(), 4);
}

#[test]
fn schema_4_moves_trust_into_the_member_records_and_its_backup_restores() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_schema_4(dir.path());
    let store = Store::open_path(dir.path()).expect("migrates");
    assert_schema_4_data(&store);
    // The step runs again over its own output without change (a crash before the schema
    // number was written).
    let before = store
        .trees()
        .expect("open")
        .members
        .iter()
        .collect::<Result<Vec<_>, _>>();
    migrate::v4_to_v5(&store.trees().expect("open").db).expect("again");
    let after = store
        .trees()
        .expect("open")
        .members
        .iter()
        .collect::<Result<Vec<_>, _>>();
    assert_eq!(before.expect("read"), after.expect("read"));

    // Its pre-migration backup holds the `trust` tree whole; restored into this build, it
    // migrates again, to the same records.
    let backup_file = the_only_backup(dir.path());
    let text = std::fs::read_to_string(&backup_file).expect("read");
    assert_eq!(
        text.matches(r#""tree":"trust""#).count(),
        2,
        "the backup is of schema 4"
    );
    drop(store);
    let (_target, report, restored) = restored_with_its_report(&std::fs::read(&backup_file).expect("read the backup"));
    assert_eq!(report.schema, 4);
    assert_eq!(report.trees.get("trust"), Some(&2));
    assert_schema_4_data(&restored);
    // A backup of this build has no trust lines, and restores to the same records.
    let mut file = Vec::new();
    assert_eq!(
        restored.backup(&mut file, at(0)).expect("backup").schema,
        SCHEMA_VERSION
    );
    assert!(
        !String::from_utf8(file.clone())
            .expect("utf-8")
            .contains(r#""tree":"trust""#)
    );
    drop(restored);
    assert_schema_4_data(&restored_into_a_new_database(&file).1);
}

/// `backup` restored into a new database, opened (which migrates it).
fn restored_into_a_new_database(backup: &[u8]) -> (tempfile::TempDir, Store) {
    let (dir, _, store) = restored_with_its_report(backup);
    (dir, store)
}

/// [`restored_into_a_new_database`], with what the restore reported (the backup's schema
/// and its records per tree).
fn restored_with_its_report(backup: &[u8]) -> (tempfile::TempDir, backup::BackupReport, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = StorageSettings {
        path: dir.path().join("data"),
        ..StorageSettings::default()
    };
    let report = backup::restore(&settings, &mut &backup[..], false).expect("restores");
    let store = Store::open(&settings).expect("open");
    (dir, report, store)
}

/// The one backup in the `backups` folder of the database at `root` (a migration's).
fn the_only_backup(root: &std::path::Path) -> std::path::PathBuf {
    let backups: Vec<_> = std::fs::read_dir(root.join("backups"))
        .expect("backups folder")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    backups.into_iter().next().expect("one")
}

/// A migration step that meets a record it cannot read stops before writing anything: the
/// database is still schema 4 and holds only schema-4 records.
#[test]
fn a_migration_to_schema_5_that_meets_an_unreadable_trust_record_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_schema_4(dir.path());
    {
        let db = sled::open(dir.path()).expect("open");
        db.open_tree("trust")
            .expect("tree")
            .insert(keys::member_key(GroupId::qq(3), 8), &[2, 0, 0, 0x4e, 0x21, 0])
            .expect("insert");
        db.flush().expect("flush");
    }
    assert!(Store::open_path(dir.path()).is_err(), "the migration stops");
    let db = sled::open(dir.path()).expect("open");
    let schema = stored(&db, "meta", b"schema");
    assert_eq!(schema.as_ref(), &4u32.to_be_bytes(), "still schema 4");
    let seven = stored(&db, "members", keys::member_key(GroupId::qq(3), 7));
    assert_eq!(seven.first(), Some(&b'{'), "member 7's record is untouched: {seven:?}");
}

/// A member record no build can read is replaced by the next write of either of its parts
/// (with a warning), never a reason to stop the batch it is in or the members after it.
#[test]
fn an_unreadable_member_record_is_replaced_by_the_next_write_and_blocks_nothing() {
    let (_dir, store) = store();
    let g = GroupId::qq(3);
    let damaged = |user: i64| {
        store
            .trees()
            .expect("open")
            .members
            .insert(keys::member_key(g, user), &[7u8, 0, 0, 0, 0, 0][..])
            .expect("insert");
    };
    damaged(5);
    let rec = |u: i64| {
        (
            g,
            u,
            MemberActivity::new(1_000, Since::Spoke, "x", crate::domain::event::Role::Member),
        )
    };
    let records: Vec<_> = (1..=300).map(rec).collect();
    store.record_activities(&records).expect("the batch is written");
    assert!(store.member_activity(g, 5).expect("readable again").is_some());
    assert!(store.member_activity(g, 300).expect("read").is_some());
    // A leave and a trust write replace one too.
    damaged(6);
    store.forget_member(g, 6).expect("forgotten");
    damaged(7);
    store.trust_joined(g, 7, 0).expect("trust written");
    assert!(store.trust(g, 7).expect("readable again").is_some());
}

/// One record per member (schema 6): the points part shares the record with the trust and
/// activity parts; each part's writers keep the other two; a leave keeps the points (for the
/// retention sweep), and the sweep removes only the points part.
#[test]
fn a_members_points_share_their_record_and_each_writer_keeps_the_other_parts() {
    use crate::domain::engagement::Period;
    use crate::domain::event::Role;
    use engagement::{CheckinDay, PointsWrite};

    let (_dir, store) = store();
    let g = GroupId::qq(1);
    let day = 20_000;
    let day_ms = i64::from(day) * 86_400_000;
    let period = Period { day, week: 1, month: 1 };
    let raw = |user| {
        store
            .trees()
            .expect("open")
            .members
            .get(keys::member_key(g, user))
            .expect("read")
    };
    let spoke = |user: i64| MemberActivity::new(day_ms, Since::Spoke, format!("u{user}"), Role::Member);
    let earn = |user: i64, points| {
        let noted = NotedPoints {
            name: format!("u{user}"),
            period,
            points,
        };
        store.add_message_points(&[(g, user, noted)], 100).expect("points");
    };
    let balance = |user| store.member_points(g, user).expect("read").map(|p| p.points);
    let trust = |user| store.trust(g, user).expect("read").map(|t| t.clean);

    // Trust and activity first, then points: one record with all three.
    for user in [7, 8] {
        store.trust_joined(g, user, day_ms).expect("join");
        store.record_activities(&[(g, user, spoke(user))]).expect("activity");
        earn(user, 5);
    }
    let stored = raw(7).expect("one record");
    let parts = members::split_member(&stored).expect("reads");
    assert!(parts.trust.is_some() && !parts.activity.is_empty() && !parts.points.is_empty());
    // The other writers keep the points part: an activity batch, a trust count, a reminder
    // and the removal mark.
    store.record_activities(&[(g, 7, spoke(7))]).expect("activity again");
    store.trust_message(g, 7, day_ms, true, 3).expect("count");
    assert_eq!(store.write_pending_trust().expect("batch"), 1);
    assert_eq!(
        store
            .remind_members(g, &[(7, day_ms)], 1, |_| vec![send("speak up")], at(0))
            .expect("remind"),
        1
    );
    assert!(store.mark_removing(g, 7, day_ms).expect("mark"));
    assert_eq!(balance(7), Some(5));
    // The points writers keep the others: message points, and a check-in (a unit of work,
    // with the group's count of the day in `engagement`).
    earn(7, 2);
    let check_in = |key: &str| {
        store
            .commit_points(&EventKey::derive(key), at(1), g, 7, |view| {
                let mut record = view.record.unwrap_or_default();
                record.points += 10;
                record.checkins += 1;
                let write = PointsWrite {
                    record: Some(record),
                    checkins: Some(CheckinDay {
                        day,
                        count: view.checkins.count + 1,
                    }),
                    audit: None,
                    actions: vec![send("checked in")],
                };
                (write, ())
            })
            .expect("commit")
    };
    assert!(check_in("c/1").is_some());
    assert!(check_in("c/1").is_none(), "a redelivery changes nothing");
    assert_eq!(balance(7), Some(17));
    store.reopen().expect("reopen: the trust cache starts empty");
    assert_eq!(trust(7), Some(1));
    let activity = store.member_activity(g, 7).expect("read").expect("activity");
    assert_eq!((activity.reminded, activity.removing), (1, true));
    let engagement = &store.trees().expect("open").engagement;
    assert_eq!(engagement.len(), 1, "only the group's check-in count");
    assert_eq!(
        engagement
            .iter()
            .keys()
            .map(|k| k.expect("key").len())
            .collect::<Vec<_>>(),
        vec![9]
    );

    // A leave forgets the activity and the trust; the points stay, alone in the record.
    store.forget_member(g, 7).expect("leave: activity");
    store.forget_trust(g, 7).expect("leave: trust");
    let stored = raw(7).expect("the points are left");
    assert_eq!(stored.first(), Some(&0), "points alone");
    let user = |id| crate::domain::event::UserRef {
        platform: g.platform,
        id,
    };
    assert!(
        store.groups_seen(user(7)).expect("read").is_empty(),
        "no longer seen in the group"
    );
    assert_eq!(store.groups_seen(user(8)).expect("read"), vec![g]);
    assert_eq!(balance(7), Some(17));
    assert_eq!(
        store
            .group_points(g)
            .expect("read")
            .iter()
            .map(|(u, _)| *u)
            .collect::<Vec<_>>(),
        vec![7, 8]
    );
    assert_eq!(
        store
            .group_activity(g)
            .expect("read")
            .members
            .iter()
            .map(|(u, _)| *u)
            .collect::<Vec<_>>(),
        vec![8]
    );

    // The retention sweep removes the points part only: 7's record goes, 8 keeps trust and
    // activity.
    assert_eq!(store.sweep_points(day).expect("sweep"), 0);
    assert_eq!(store.sweep_points(day + 1).expect("sweep"), 2);
    assert_eq!(raw(7), None);
    assert_eq!(balance(8), None);
    assert_eq!(trust(8), Some(0));
    assert_eq!(store.member_activity(g, 8).expect("read"), Some(spoke(8)));
    assert!(store.group_points(g).expect("read").is_empty());

    // An unreadable record is replaced by the next points write, and blocks no other member.
    store
        .trees()
        .expect("open")
        .members
        .insert(keys::member_key(g, 5), &[7u8, 0, 0, 0, 0, 0][..])
        .expect("insert");
    let noted = |user: i64| {
        let points = NotedPoints {
            name: String::new(),
            period,
            points: 1,
        };
        (g, user, points)
    };
    store.add_message_points(&[noted(5), noted(6)], 100).expect("written");
    assert_eq!((balance(5), balance(6)), (Some(1), Some(1)));
}

/// A database as schema 5 wrote it: trust and activity in `members`, points in `engagement`
/// with the groups' check-in counts and the keyword answers.
fn write_schema_5(path: &Path) {
    let db = sled::open(path).expect("open");
    db.open_tree("meta")
        .expect("tree")
        .insert(b"schema", &5u32.to_be_bytes())
        .expect("insert");
    let g = GroupId::qq(3);
    let members = db.open_tree("members").expect("tree");
    let engagement = db.open_tree("engagement").expect("tree");
    // Members 7: trust and activity; 8: trust only; 9: activity only; 10: no member record.
    let mut seven = vec![1, 0, 0, 0x4e, 0x20, 3];
    seven.extend_from_slice(br#"{"v":2,"d":20000,"n":"u7"}"#);
    members.insert(keys::member_key(g, 7), seven).expect("insert");
    members
        .insert(keys::member_key(g, 8), &[1, 0, 0, 0x4e, 0x21, 0])
        .expect("insert");
    members
        .insert(
            keys::member_key(g, 9),
            &br#"{"v":2,"d":20000,"n":"u9","r":"admin"}"#[..],
        )
        .expect("insert");
    members
        .insert(keys::group_prefix(g), &br#"{"v":1,"since_ms":1728000000000}"#[..])
        .expect("insert");
    // Points: 7 and 10 in the short form, 8 in the long one (version 1).
    engagement
        .insert(keys::member_key(g, 7), &br#"{"v":2,"p":7,"n":"u7","ad":20000}"#[..])
        .expect("insert");
    engagement
        .insert(
            keys::member_key(g, 8),
            &br#"{"v":1,"points":8,"name":"u8","streak":0,"last_checkin":20001,"checkins":1,"msg_day":0,"msg_points":0,"week":0,"week_points":0,"month":0,"month_points":0,"days":0,"active_day":0,"optout":true}"#[..],
        )
        .expect("insert");
    engagement
        .insert(keys::member_key(g, 10), &br#"{"v":2,"p":10,"ad":20000}"#[..])
        .expect("insert");
    // The group's check-ins of the day, and a keyword answer: they stay in `engagement`.
    engagement
        .insert(keys::group_prefix(g), &br#"{"v":1,"day":20001,"count":1}"#[..])
        .expect("insert");
    let mut reply = keys::group_prefix(g).to_vec();
    reply.push(b'q');
    reply.extend_from_slice(&1u64.to_be_bytes());
    engagement
        .insert(
            reply,
            &br#"{"v":1,"number":1,"keyword":"k","answer":"a","created_by":1,"created_ms":0}"#[..],
        )
        .expect("insert");
    db.flush().expect("flush");
}

/// What a schema-5 database of [`write_schema_5`] holds, read through this build.
fn assert_schema_5_data(store: &Store) {
    use crate::domain::learning::MemberTrust;
    let g = GroupId::qq(3);
    let points: Vec<(i64, i64, bool)> = store
        .group_points(g)
        .expect("read")
        .iter()
        .map(|(u, p)| (*u, p.points, p.optout))
        .collect();
    assert_eq!(points, vec![(7, 7, false), (8, 8, true), (10, 10, false)]);
    assert_eq!(store.member_points(g, 9).expect("read"), None);
    assert_eq!(
        store.trust(g, 7).expect("read"),
        Some(MemberTrust {
            joined_day: 20_000,
            clean: 3
        })
    );
    assert_eq!(store.trust(g, 8).expect("read").map(|t| t.joined_day), Some(20_001));
    assert_eq!(store.trust(g, 10).expect("read"), None);
    let activity = store.group_activity(g).expect("read");
    assert_eq!(activity.since_ms, Some(1_728_000_000_000));
    let users: Vec<i64> = activity.members.iter().map(|(u, _)| *u).collect();
    assert_eq!(users, vec![7, 9]);
    assert_eq!(store.admin_replies(g).expect("read").len(), 1);
    let trees = store.trees().expect("open");
    assert_eq!(trees.engagement.len(), 2, "the check-in count and the keyword answer");
    // Four member records and the tracking start: one record per member.
    assert_eq!(trees.members.len(), 5);
}

#[test]
fn schema_5_moves_points_into_the_member_records_and_its_backup_restores() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_schema_5(dir.path());
    let store = Store::open_path(dir.path()).expect("migrates");
    assert_schema_5_data(&store);
    let all = |store: &Store| {
        let trees = store.trees().expect("open");
        let members = trees.members.iter().collect::<Result<Vec<_>, _>>().expect("read");
        let engagement = trees.engagement.iter().collect::<Result<Vec<_>, _>>().expect("read");
        (members, engagement)
    };
    // The step runs again over its own output without change (a crash before the schema
    // number was written), and after a crash before its removals (a moved record still in
    // `engagement`) it writes the same record and removes the rest.
    let before = all(&store);
    let db = store.trees().expect("open").db.clone();
    migrate::v5_to_v6(&db).expect("again");
    assert_eq!(all(&store), before);
    db.open_tree("engagement")
        .expect("tree")
        .insert(
            keys::member_key(GroupId::qq(3), 10),
            &br#"{"v":2,"p":10,"ad":20000}"#[..],
        )
        .expect("insert");
    migrate::v5_to_v6(&db).expect("after a crash");
    assert_eq!(all(&store), before);

    // Its pre-migration backup holds the points records in `engagement`; restored into
    // this build, it migrates again, to the same records.
    let backup_file = the_only_backup(dir.path());
    drop(store);
    let (_target, report, restored) = restored_with_its_report(&std::fs::read(&backup_file).expect("read the backup"));
    assert_eq!(report.schema, 5);
    assert_eq!(report.trees.get("engagement"), Some(&5));
    assert_schema_5_data(&restored);
    // A backup of this build restores to the same records.
    let mut file = Vec::new();
    assert_eq!(
        restored.backup(&mut file, at(0)).expect("backup").schema,
        SCHEMA_VERSION
    );
    drop(restored);
    assert_schema_5_data(&restored_into_a_new_database(&file).1);
}

/// The schema-6 step that meets a points record it cannot read stops before writing
/// anything: the database is still schema 5, with its records where they were.
#[test]
fn a_migration_to_schema_6_that_meets_an_unreadable_points_record_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_schema_5(dir.path());
    {
        let db = sled::open(dir.path()).expect("open");
        db.open_tree("engagement")
            .expect("tree")
            .insert(keys::member_key(GroupId::qq(3), 11), &br#"{"v":3,"p":1}"#[..])
            .expect("insert");
        db.flush().expect("flush");
    }
    assert!(Store::open_path(dir.path()).is_err(), "the migration stops");
    let db = sled::open(dir.path()).expect("open");
    let schema = stored(&db, "meta", b"schema");
    assert_eq!(schema.as_ref(), &5u32.to_be_bytes(), "still schema 5");
    let seven = stored(&db, "members", keys::member_key(GroupId::qq(3), 7));
    let mut untouched = vec![1, 0, 0, 0x4e, 0x20, 3];
    untouched.extend_from_slice(br#"{"v":2,"d":20000,"n":"u7"}"#);
    assert_eq!(seven.as_ref(), &untouched[..], "member 7's record is untouched");
    assert_eq!(db.open_tree("engagement").expect("tree").len(), 6);
}

/// The raw bytes stored under `key` in `tree` of a database opened with sled alone (a
/// migration test's look under the store).
fn stored(db: &sled::Db, tree: &str, key: impl AsRef<[u8]>) -> sled::IVec {
    db.open_tree(tree).expect("tree").get(key).expect("read").expect("some")
}

/// Schema 7 (several seen keys to a record): a schema-6 database's seen records, one key
/// each, are read as they are. The step rewrites nothing, the keys recorded before it still
/// make a redelivery change nothing, new keys join the old records, the sweep expires them
/// by their records' latest time, and the pre-migration backup restores into this build.
#[test]
fn schema_6_seen_keys_are_read_as_they_are_and_take_the_new_keys_of_their_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = Timestamp::now();
    let recorded = now.as_millisecond() - 1_000;
    let second = 1_700_000_000;
    let old: Vec<EventKey> = (0..40)
        .map(|i| EventKey::dated(second + i, &format!("qq|m|1|{i}|2|3|{}", second + i)))
        .collect();
    {
        let db = database_of_schema(dir.path(), 6);
        let seen = db.open_tree("seen").expect("tree");
        for key in &old {
            seen.insert(key.0, &recorded.to_be_bytes()).expect("insert");
        }
        db.flush().expect("flush");
    }
    let store = Store::open_path(dir.path()).expect("migrates");
    let seen = |store: &Store| store.trees().expect("open").seen.len();
    assert_eq!(seen(&store), 40, "nothing rewritten");
    for key in &old {
        let again = store.unit(Some(key), now, |_| Ok(())).expect("unit");
        assert!(again.is_none(), "a redelivery of {key:?} changes nothing");
    }
    let new: Vec<EventKey> = (0..200)
        .map(|i| EventKey::dated(second + i % 40, &format!("qq|m|1|{i}|9|3|{}", second + i % 40)))
        .collect();
    for key in &new {
        assert!(store.unit(Some(key), now, |_| Ok(())).expect("unit").is_some());
        assert!(store.unit(Some(key), now, |_| Ok(())).expect("unit").is_none());
    }
    assert!(seen(&store) < 60, "{} records for 240 keys", seen(&store));
    for key in old.iter().chain(&new) {
        assert!(sweep::seen_at(&store, &key.0).expect("read").is_some(), "{key:?}");
    }
    let ttl = |_| std::time::Duration::from_secs(1);
    let policy = SweepPolicy {
        seen_ttl: std::time::Duration::from_secs(86_400),
        audit_retention: None,
        strike_ttl: &ttl,
    };
    // The old keys now share records with keys recorded `now`: kept while those are.
    let later = |ms: i64| Timestamp::from_millisecond(now.as_millisecond() + ms).expect("time");
    assert_eq!(store.sweep(later(86_400_000 - 5_000), &policy).expect("sweep").seen, 0);
    assert!(store.sweep(later(86_400_000 + 5_000), &policy).expect("sweep").seen > 0);
    assert_eq!(seen(&store), 0);

    let backup_file = the_only_backup(dir.path());
    drop(store);
    let (_target, report, restored) = restored_with_its_report(&std::fs::read(&backup_file).expect("read the backup"));
    assert_eq!(report.schema, 6);
    assert_eq!(report.trees.get("seen"), Some(&40));
    for key in &old {
        assert!(restored.unit(Some(key), now, |_| Ok(())).expect("unit").is_none());
    }
    // A backup of this build (records of several keys) restores to the same records.
    let mut file = Vec::new();
    assert_eq!(
        restored.backup(&mut file, at(0)).expect("backup").schema,
        SCHEMA_VERSION
    );
    let seen_records = |store: &Store| -> Vec<_> {
        let trees = store.trees().expect("open");
        trees.seen.iter().map(|e| e.expect("entry")).collect()
    };
    let before = seen_records(&restored);
    drop(restored);
    let (_dir, again) = restored_into_a_new_database(&file);
    assert_eq!(before, seen_records(&again));
}

#[test]
fn writes_go_on_while_a_flush_that_records_its_number_hangs() {
    let (_dir, store) = store();
    // A test store records every flush's number in `meta` (under the commit lock); the
    // injected hang comes after, in the flush itself, as a stalled disk's would.
    assert!(integrity::records_flush_seq(&store));
    store.faults().stall_flushes(true);
    let _lift = health::LiftFlushStall(store.clone());
    let flusher = store.clone();
    let hung = std::thread::spawn(move || flusher.flush_now());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.stalled_for().is_none_or(|(_, what)| what != health::FLUSH_OP) {
        assert!(std::time::Instant::now() < deadline, "the flush never started");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (written, wrote) = std::sync::mpsc::channel();
    let writer = store.clone();
    std::thread::spawn(move || {
        let _ = written.send(writer.set_state("test.during", b"1"));
    });
    let write = wrote
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the write waited for the hung flush");
    assert!(write.is_ok(), "{write:?}");
    store.faults().stall_flushes(false);
    assert!(hung.join().expect("no panic").is_ok());
}

mod archive;
