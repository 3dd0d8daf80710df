//! Schema versions and migrations.
//!
//! The schema version lives in `meta`/`schema`. On open, an older database is backed up to
//! `<storage.path>/backups/pre-migration-v<old>-<unix ms>.jsonl` and then migrated one version
//! at a time; the new version is written only after a step has finished, and every step can
//! run again over its own output, so a crash during a migration just reruns it on the next
//! start. A database newer than this build is refused, untouched.
//!
//! | from | to | what changes |
//! |------|----|--------------|
//! | 1    | 2  | strike records get a version field (this step also built `seen_expiry`, a time index of `seen`; step 3 drops it, so it no longer does) |
//! | 2    | 3  | `seen_expiry` is dropped: the sweep expires `seen` keys by the time each one holds |
//! | 3    | 4  | dated events' seen keys begin with the event's date ([`crate::domain::event::EventKey::dated`]); `meta`/`seen_legacy_since` notes the migration's time, so keys recorded before it are still found until they expire ([`super::LEGACY_SEEN_KEY`]) |
//! | 4    | 5  | `trust` is merged into `members`: one record per member, the trust record's 6 bytes before the activity JSON; `trust` is dropped |
//! | 5    | 6  | the members' points records move from `engagement` into their record in `members`, after a zero byte at its end; `engagement` keeps the groups' check-in counts and the keyword answers |
//! | 6    | 7  | a `seen` record may hold up to 17 keys of the same 256 seconds ([`super::seen`]); a record of one key, as older schemas wrote, is one such record, so nothing is rewritten: the step only keeps older builds, which would miss the keys a record holds besides its own, from opening the database |
//! | 7    | 8  | `joins` is merged into `members`: when a member last joined becomes the first part of their record ([`super::members`], 0xff and the time); `joins` is dropped |
//! | 8    | 9  | each group's cases beyond its newest `[audit] hot_cases` live in day files under `<storage.path>/archive/`, indexed by the `archive` tree ([`super::archive`]); the step writes nothing (the background mover moves existing cases), it only keeps older builds, which would not see the archived cases and whose sweep would not delete them, from opening the database |

use std::path::Path;

use jiff::Timestamp;
use serde::Deserialize;

use super::codec::{decode, encode};
use super::members::{Parts, join_member, put_member, split_member};
use super::strikes::StoredStrikes;
use super::{SCHEMA_VERSION, StoreError, backup};
use crate::domain::strike::Strike;

/// Whether opening `db` will migrate it (an older schema this build knows how to bring up).
pub(super) fn needs_migration(db: &sled::Db) -> Result<bool, StoreError> {
    let meta = db.open_tree("meta")?;
    Ok(match meta.get(b"schema")? {
        Some(found) => <[u8; 4]>::try_from(found.as_ref()).is_ok_and(|b| u32::from_be_bytes(b) < SCHEMA_VERSION),
        None => false,
    })
}

/// Brings the database to [`SCHEMA_VERSION`], or refuses it.
pub(super) fn ensure_current(db: &sled::Db, path: Option<&Path>) -> Result<(), StoreError> {
    let meta = db.open_tree("meta")?;
    let Some(found) = meta.get(b"schema")? else {
        // A new database.
        meta.insert(b"schema", &SCHEMA_VERSION.to_be_bytes())?;
        return Ok(());
    };
    let found = u32::from_be_bytes(found.as_ref().try_into().map_err(|_| StoreError::Decode {
        what: "schema version",
        reason: format!("{} bytes instead of 4", found.len()),
    })?);
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    if let Some(path) = path {
        let now = Timestamp::now();
        let file = path
            .join("backups")
            .join(format!("pre-migration-v{found}-{}.jsonl", now.as_millisecond()));
        let report = backup::backup_db_to_file(db, &file, now, Some(&path.join(super::archive::DIR)))?;
        tracing::info!(backup = %file.display(), %report, "database backed up before migrating");
    }
    for version in found..SCHEMA_VERSION {
        match version {
            1 => v1_to_v2(db)?,
            2 => v2_to_v3(db)?,
            3 => v3_to_v4(db, Timestamp::now())?,
            4 => v4_to_v5(db)?,
            5 => v5_to_v6(db)?,
            // Nothing to rewrite: see the table above.
            6 | 8 => {}
            7 => v7_to_v8(db)?,
            _ => {
                return Err(StoreError::Decode {
                    what: "schema version",
                    reason: format!("no migration from version {version}"),
                });
            }
        }
        meta.insert(b"schema", &(version + 1).to_be_bytes())?;
        db.flush()?;
        tracing::info!(from = version, to = version + 1, "database migrated");
    }
    Ok(())
}

/// The strike record as schema 1 stored it: no version field.
#[derive(Deserialize)]
struct StrikesV1 {
    strikes: Vec<Strike>,
}

fn v1_to_v2(db: &sled::Db) -> Result<(), StoreError> {
    let strikes = db.open_tree("strikes")?;
    for entry in strikes.iter() {
        let (key, value) = entry?;
        if decode::<StoredStrikes>(&value).is_ok() {
            continue; // already migrated by an interrupted earlier run
        }
        let old: StrikesV1 = serde_json::from_slice(&value).map_err(|e| StoreError::Decode {
            what: "schema 1 strike record",
            reason: e.to_string(),
        })?;
        let new = StoredStrikes { strikes: old.strikes };
        strikes.insert(key, encode(&new)?)?;
    }
    Ok(())
}

/// Drops `seen_expiry`, the time index of `seen` (one record per seen key): the sweep reads
/// the times the `seen` keys hold. `seen` itself is unchanged. Dropping a tree that is already
/// gone does nothing, so the step can run again.
fn v2_to_v3(db: &sled::Db) -> Result<(), StoreError> {
    db.drop_tree("seen_expiry")?;
    Ok(())
}

/// Notes when the database began recording dated seen keys. The keys already in `seen` stay
/// as they are (an event's identity is hashed; the undated key cannot be turned into the
/// dated one), and are looked up by their digest until they expire. A rerun keeps the first
/// run's time.
fn v3_to_v4(db: &sled::Db, now: Timestamp) -> Result<(), StoreError> {
    let meta = db.open_tree("meta")?;
    let since = now.as_millisecond().to_be_bytes();
    let _ = meta.compare_and_swap(super::LEGACY_SEEN_KEY, None as Option<&[u8]>, Some(&since[..]))?;
    Ok(())
}

/// Moves every member's trust record (`trust`, 6 bytes) into their record in `members`, before
/// its activity JSON (or alone, for a member with no activity record), then drops `trust`:
/// one record per member instead of two (docs/storage.md, "Per-member records"). The trust
/// record replaces whatever trust part the member record already has, so the step can run
/// again over its own output; once `trust` is dropped it finds nothing to move.
///
/// Every trust record and every member record it goes into is read first: one that cannot
/// be read stops the migration before anything is written (the database stays at schema 4,
/// unchanged, its pre-migration backup beside it). A crash part-way through the writes
/// leaves a database only this build can finish (it reruns the step); an older build cannot
/// read the moved records, so going back from there means restoring the pre-migration backup.
pub(super) fn v4_to_v5(db: &sled::Db) -> Result<(), StoreError> {
    if !db.tree_names().iter().any(|n| n.as_ref() == b"trust") {
        return Ok(());
    }
    let trust = db.open_tree("trust")?;
    let members = db.open_tree("members")?;
    let mut moves = Vec::with_capacity(trust.len());
    for entry in trust.iter() {
        let (key, value) = entry?;
        let Ok(key) = <[u8; 17]>::try_from(key.as_ref()) else {
            return Err(StoreError::Decode {
                what: "schema 4 trust key",
                reason: format!("{} bytes instead of 17", key.len()),
            });
        };
        let record = super::trust::decode_trust(&value)?;
        if let Some(old) = members.get(key)? {
            split_member(&old)?;
        }
        moves.push((key, record));
    }
    put_parts(&members, &moves, |parts, record| Parts {
        trust: Some(*record),
        ..parts
    })?;
    db.flush()?;
    db.drop_tree("trust")?;
    tracing::info!(
        moved = moves.len(),
        "members' trust records moved into their member records"
    );
    Ok(())
}

/// Moves every member's points record (the 17-byte keys of `engagement`) into their record in
/// `members`, as its points part (after the trust and activity parts, behind a zero byte):
/// one record per member instead of two (docs/storage.md, "Per-member records").
/// `engagement` keeps its other records (each group's check-in count, 9-byte keys, and the
/// keyword answers, 18-byte keys). The moved JSON is kept as it was stored (version 1 or 2;
/// each takes the short form at its next write).
///
/// As [`v4_to_v5`]: every record moved and every member record it goes into is read first,
/// and one that cannot be read stops the migration before anything is written. The points
/// part replaces whatever points part the member record already has, and the `engagement`
/// records are removed only after every write is flushed, so a rerun after a crash anywhere
/// in the step writes the same records again and then removes what is left.
pub(super) fn v5_to_v6(db: &sled::Db) -> Result<(), StoreError> {
    let engagement = db.open_tree("engagement")?;
    let members = db.open_tree("members")?;
    let mut moves = Vec::new();
    for entry in engagement.iter() {
        let (key, value) = entry?;
        let Ok(key) = <[u8; 17]>::try_from(key.as_ref()) else {
            continue;
        };
        super::engagement::decode_points(&value)?;
        if let Some(old) = members.get(key)? {
            split_member(&old)?;
        }
        moves.push((key, value));
    }
    put_parts(&members, &moves, |parts, points| Parts { points, ..parts })?;
    db.flush()?;
    for (key, _) in &moves {
        engagement.remove(key)?;
    }
    tracing::info!(
        moved = moves.len(),
        "members' points records moved into their member records"
    );
    Ok(())
}

/// Schema 7 → 8: each member's last join time moves from `joins` into their record in
/// `members` (its first part), and `joins` is dropped. Like [`v4_to_v5`], every record is read
/// first, so one that cannot be read stops the step before anything is written, and the step
/// runs again over its own output (once `joins` is dropped it finds nothing to move).
pub(super) fn v7_to_v8(db: &sled::Db) -> Result<(), StoreError> {
    if !db.tree_names().iter().any(|n| n.as_ref() == b"joins") {
        return Ok(());
    }
    let joins = db.open_tree("joins")?;
    let members = db.open_tree("members")?;
    let mut moves = Vec::with_capacity(joins.len());
    for entry in joins.iter() {
        let (key, value) = entry?;
        let Ok(key) = <[u8; 17]>::try_from(key.as_ref()) else {
            return Err(StoreError::Decode {
                what: "schema 7 join key",
                reason: format!("{} bytes instead of 17", key.len()),
            });
        };
        let joined = super::codec::decode_i64(&value, "join time")?;
        if let Some(old) = members.get(key)? {
            split_member(&old)?;
        }
        moves.push((key, joined));
    }
    put_parts(&members, &moves, |parts, joined| Parts {
        joined: Some(*joined),
        ..parts
    })?;
    db.flush()?;
    db.drop_tree("joins")?;
    tracing::info!(
        moved = moves.len(),
        "members' join times moved into their member records"
    );
    Ok(())
}

/// The writing half of a step that moves one part of every member's record into `members`
/// (the records were read and checked first): each member record of `moves` rewritten with
/// the part `with` sets, its other parts kept.
fn put_parts<T>(
    members: &sled::Tree,
    moves: &[([u8; 17], T)],
    with: impl for<'a> Fn(Parts<'a>, &'a T) -> Parts<'a>,
) -> Result<(), StoreError> {
    for (key, moved) in moves {
        let old = members.get(key)?;
        let parts = match &old {
            Some(bytes) => split_member(bytes)?,
            None => Parts::default(),
        };
        put_member(members, key, old.as_deref(), join_member(with(parts, moved)))?;
    }
    Ok(())
}
