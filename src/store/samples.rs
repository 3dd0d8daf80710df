//! The `samples` tree: messages admins labelled (`/spam`, `/notspam`) or an operator imported.
//!
//! Keys are sample ids (u64 BE), handed out in order from a counter in the `state` tree
//! (`samples.last`), so key order is labelling order — the order the model's instance delta
//! is replayed in at start. Values are [`Sample`]s as versioned JSON.
//!
//! A label is written in the transaction of its command's event ([`Store::commit_labelled`]):
//! the sample, the retired samples, the member's strikes, the audit case and the answer are
//! all on disk, or none is. Imports and removals by `qunguan samples` are one transaction each.

use jiff::Timestamp;

use super::codec::{Record, decode, encode};
use super::engagement::PointsRefund;
use super::unit::{Abort, Unit};
use super::{Committed, Store, StoreError, abort};
use crate::domain::effects::{Snapshot, StrikePenalty, Subject, Writes};
use crate::domain::event::EventKey;
use crate::domain::learning::{Sample, SampleLabel};

impl Record for Sample {
    const WHAT: &'static str = "sample";
    const VERSION: u8 = 1;
}

/// The `state` entry holding the last sample id handed out.
const LAST_ID: &[u8] = b"samples.last";

/// How many samples each label has, and how many spam samples are retired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SampleCounts {
    /// Spam samples in force.
    pub spam: u64,
    /// Retired spam samples.
    pub retired: u64,
    /// Ham samples.
    pub ham: u64,
}

/// What [`Store::commit_labelled`] hands back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Labelled<R> {
    /// What the decision returned.
    pub value: R,
    /// The id the label's sample got (or would have got, had the decision recorded none).
    pub sample: u64,
    /// The spam samples actually retired.
    pub retired: Vec<u64>,
    /// The change the label's strikes made to the member's points (0 or negative; see
    /// [`Store::commit_violation`]).
    pub points: i64,
    /// A pardon's refund: the case recording it and the points given back.
    pub refund: Option<(u64, i64)>,
}

impl Unit<'_> {
    /// The id the next sample gets (not yet taken).
    pub(crate) fn next_sample_id(&self) -> Result<u64, Abort> {
        Ok(match self.state.get(LAST_ID)? {
            Some(bytes) => {
                u64::from_be_bytes(bytes.as_ref().try_into().map_err(|_| {
                    abort(StoreError::Decode {
                        what: "last sample id",
                        reason: format!("{} bytes instead of 8", bytes.len()),
                    })
                })?) + 1
            }
            None => 1,
        })
    }

    /// Records `sample` under the next id and returns it.
    pub(crate) fn add_sample(&mut self, sample: &Sample) -> Result<u64, Abort> {
        let id = self.next_sample_id()?;
        self.state.insert(LAST_ID, &id.to_be_bytes())?;
        self.samples.insert(&id.to_be_bytes(), encode(sample).map_err(abort)?)?;
        Ok(id)
    }

    /// Retires the spam samples among `ids` that are in force; returns those it retired.
    pub(crate) fn retire_samples(&mut self, ids: &[u64]) -> Result<Vec<u64>, Abort> {
        let mut retired = Vec::new();
        for &id in ids {
            let Some(bytes) = self.samples.get(id.to_be_bytes())? else {
                continue;
            };
            let mut sample: Sample = decode(&bytes).map_err(abort)?;
            if sample.label != SampleLabel::Spam || sample.retired || retired.contains(&id) {
                continue;
            }
            sample.retired = true;
            self.samples
                .insert(&id.to_be_bytes(), encode(&sample).map_err(abort)?)?;
            retired.push(id);
        }
        Ok(retired)
    }
}

impl Store {
    /// [`Store::commit`] for an admin's label, in one transaction: first the spam samples
    /// `retire` are retired (those in force; the others are skipped), then `decide` sees the
    /// strike snapshot, the id the label's sample will get and the ids actually retired, and
    /// returns the writes, the sample to record and a value. Returns that value, the sample's
    /// id and the retired ids; `None` for a redelivery. Strikes the label adds cost `penalty`
    /// in the same transaction, as a violation's do ([`Store::commit_violation`]); the points
    /// a pardon's case records (its `points`, positive) are given back with `refund`, as a
    /// case of their own (`engagement::refund_for_pardon`).
    #[allow(clippy::too_many_arguments)]
    pub fn commit_labelled<R>(
        &self,
        key: &EventKey,
        now: Timestamp,
        subject: Subject,
        retire: &[u64],
        penalty: Option<StrikePenalty>,
        refund: Option<&PointsRefund>,
        decide: impl Fn(Snapshot, u64, &[u64]) -> (Writes, Option<Sample>, R),
    ) -> Result<Option<Committed<Labelled<R>>>, StoreError> {
        self.commit_then(
            key,
            now,
            Some(subject),
            |unit, snapshot| {
                let retired = unit.retire_samples(retire)?;
                let next = unit.next_sample_id()?;
                let (mut writes, sample, value) = decide(snapshot, next, &retired);
                if let Some(sample) = &sample {
                    let id = unit.add_sample(sample)?;
                    if id != next {
                        return Err(abort(StoreError::Invalid("a sample id changed inside its transaction")));
                    }
                }
                let points = super::engagement::deduct_for_strikes(unit, subject, penalty, &mut writes)?;
                Ok((
                    writes,
                    Labelled {
                        value,
                        sample: next,
                        retired,
                        points,
                        refund: None,
                    },
                ))
            },
            |unit, entry, case, labelled| {
                labelled.refund = super::engagement::refund_for_pardon(unit, subject, refund, entry, case)?;
                Ok(())
            },
        )
    }

    /// Every sample, in id (labelling) order.
    pub fn samples(&self) -> Result<Vec<(u64, Sample)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.trees()?.samples.iter() {
            let (key, value) = entry?;
            out.push((sample_id(&key)?, decode(&value)?));
        }
        Ok(out)
    }

    /// One sample.
    pub fn sample(&self, id: u64) -> Result<Option<Sample>, StoreError> {
        self.trees()?
            .samples
            .get(id.to_be_bytes())?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    /// How many samples there are of each kind (a full scan: for start and the CLI).
    pub fn sample_counts(&self) -> Result<SampleCounts, StoreError> {
        let mut counts = SampleCounts::default();
        for (_, sample) in self.samples()? {
            match (sample.label, sample.retired) {
                (SampleLabel::Spam, false) => counts.spam += 1,
                (SampleLabel::Spam, true) => counts.retired += 1,
                (SampleLabel::Ham, _) => counts.ham += 1,
            }
        }
        Ok(counts)
    }

    /// Adds `samples` in order under new ids, in one transaction; returns the ids.
    pub fn import_samples(&self, samples: &[Sample], now: Timestamp) -> Result<Vec<u64>, StoreError> {
        let ids = self.unit(None, now, |unit| {
            samples
                .iter()
                .map(|s| unit.add_sample(s))
                .collect::<Result<Vec<u64>, Abort>>()
        })?;
        Ok(ids.unwrap_or_default())
    }

    /// Deletes the samples `ids`, in one transaction; returns those that existed.
    pub fn remove_samples(&self, ids: &[u64], now: Timestamp) -> Result<Vec<u64>, StoreError> {
        let removed = self.unit(None, now, |unit| {
            let mut removed = Vec::new();
            for &id in ids {
                if unit.samples.remove(&id.to_be_bytes())?.is_some() && !removed.contains(&id) {
                    removed.push(id);
                }
            }
            Ok(removed)
        })?;
        Ok(removed.unwrap_or_default())
    }
}

fn sample_id(key: &[u8]) -> Result<u64, StoreError> {
    super::decode_seq(key).ok_or_else(|| StoreError::Decode {
        what: "sample id",
        reason: format!("a key of {} bytes instead of 8", key.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::effects::StrikeWrite;
    use crate::domain::event::GroupId;

    fn sample(label: SampleLabel, text: &str) -> Sample {
        Sample {
            label,
            text: text.into(),
            masked: text.into(),
            by: Some(10),
            by_name: "admin".into(),
            at_ms: 5,
            group: Some(GroupId::qq(1)),
            case: None,
            retired: false,
        }
    }

    fn nothing() -> Writes {
        Writes {
            strikes: StrikeWrite::Keep,
            actions: Vec::new(),
            audit: None,
        }
    }

    #[test]
    fn labels_get_ids_in_order_retire_spam_once_and_redeliveries_change_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        let now = Timestamp::UNIX_EPOCH;
        let subject = Subject {
            group: GroupId::qq(1),
            user: Some(7),
        };
        let ids = store
            .import_samples(&[sample(SampleLabel::Spam, "a"), sample(SampleLabel::Ham, "b")], now)
            .expect("import");
        assert_eq!(ids, [1, 2]);
        // A /notspam: retires #1 (and skips the ham #2 and the unknown #9), records #3.
        let key = EventKey::derive("notspam");
        let label = |seen: &[u64]| (nothing(), Some(sample(SampleLabel::Ham, "c")), seen.to_vec());
        let committed = store
            .commit_labelled(&key, now, subject, &[1, 2, 9], None, None, |_, next, retired| {
                assert_eq!(next, 3);
                label(retired)
            })
            .expect("commit")
            .expect("first delivery");
        let Labelled {
            value,
            sample: id,
            retired,
            points,
            refund,
        } = committed.value;
        assert_eq!((value, id, retired, points, refund), (vec![1], 3, vec![1], 0, None));
        // Redelivered: nothing written, nothing retired again.
        let again = store
            .commit_labelled(&key, now, subject, &[1], None, None, |_, _, retired| label(retired))
            .expect("commit");
        assert!(again.is_none());
        let stored = store.samples().expect("read");
        let summary: Vec<(u64, SampleLabel, bool)> = stored.iter().map(|(id, s)| (*id, s.label, s.retired)).collect();
        assert_eq!(
            summary,
            [
                (1, SampleLabel::Spam, true),
                (2, SampleLabel::Ham, false),
                (3, SampleLabel::Ham, false)
            ]
        );
        assert_eq!(
            store.sample_counts().expect("counts"),
            SampleCounts {
                spam: 0,
                retired: 1,
                ham: 2
            }
        );
        // Removal is exact; ids are never reused.
        assert_eq!(store.remove_samples(&[2, 8], now).expect("remove"), [2]);
        assert_eq!(
            store
                .import_samples(&[sample(SampleLabel::Spam, "d")], now)
                .expect("import"),
            [4]
        );
        assert!(store.sample(2).expect("read").is_none());
    }
}
