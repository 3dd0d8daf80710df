//! The model file: what `qunguan model train` writes and the daemon loads.
//!
//! All integers and floats little-endian; offsets in bytes:
//!
//! | offset   | size | field                                                     |
//! |----------|------|-----------------------------------------------------------|
//! | 0        | 8    | magic `QGMODEL1`                                          |
//! | 8        | 4    | format version, `u32` = [`VERSION`]                       |
//! | 12       | 4    | hash id, `u32` = [`HASH_ID`] (see [`features`](super::features)) |
//! | 16       | 1    | bucket bits = [`BUCKET_BITS`]                             |
//! | 17       | 1    | shortest n-gram = [`MIN_ORDER`]                           |
//! | 18       | 1    | longest n-gram = [`MAX_ORDER`]                            |
//! | 19       | 1    | word boundaries = [`WORD_BOUNDARIES`] (version 2; was 0)   |
//! | 20       | 4    | characters scored, `u32` = [`MAX_CHARS`]                  |
//! | 24       | 4    | flag layout, `u32` = [`FLAGS_LAYOUT`]                     |
//! | 28       | 4    | flag slots, `u32` = [`FLAG_SLOTS`]                        |
//! | 32       | 4    | spam samples trained on, `u32`                            |
//! | 36       | 4    | ham samples trained on, `u32`                             |
//! | 40       | 4    | epochs, `u32`                                             |
//! | 44       | 4    | learning rate, `f32`                                      |
//! | 48       | 4    | L2 strength, `f32`                                        |
//! | 52       | 8    | shuffling seed, `u64`                                     |
//! | 60       | 4    | bias, `f32`                                               |
//! | 64       | 4    | weight step *s*, `f32`, finite and ≥ 0 (version 4)        |
//! | 68       | 4    | weight count *n*, `u32` = 2^bits + flag slots             |
//! | 72       | *n*  | weights, `i8` steps (weight = step · *s*): n-gram buckets, then flag slots |
//! | 72 + *n* | 8    | FNV-1a 64 of every byte before it                         |
//!
//! With 19 bucket bits that is 524,400 bytes. The checksum catches a truncated copy or a
//! flipped bit; it is not a signature.
//!
//! Version 4 stores the weights as the `i8` steps scoring reads (see [`Model`]), where
//! versions 1 to 3 stored `f32` weights (4 bytes each, with the count at 64 and the weights
//! from 68): the same scores from a quarter of the bytes, and the daemon no longer keeps
//! an `f32` table beside the one it scores with (2.5 MiB → 512 KiB; docs/detection.md, the
//! twenty-fourth round, which also measured 2²⁰ buckets, a 1 MiB file in this format).
//! Training quantizes once; reading and writing a file copy the steps, so a model read back
//! scores to the bit as the one written, and as a version 3 file of the same training did.
//!
//! [`Model::from_bytes`] checks, in this order, and never panics: the magic, the version, the
//! length the header promises, the checksum, every parameter against what this build
//! computes (a model hashed differently would silently score garbage), and that the bias and
//! the step are finite (and the step not negative). Each failure is its own [`ModelError`]
//! saying what to do.

use super::features::{BUCKET_BITS, FEATURES, FLAG_SLOTS, FLAGS_LAYOUT, HASH_ID, MAX_CHARS, MAX_ORDER, MIN_ORDER};
use super::words::WORD_BOUNDARIES;
use super::{Model, TrainMeta};

/// The first eight bytes of a model file.
pub const MAGIC: [u8; 8] = *b"QGMODEL1";
/// The format version this build writes and reads. Version 2: the model reads Latin word
/// boundaries (byte 19, [`WORD_BOUNDARIES`]); version 1 files were trained without them.
/// Version 3: the position features (see [`features`](super::features)) and 19 bucket bits;
/// version 2 files have neither. Version 4: the weights as `i8` steps of one scale (a
/// version 3 file holds the same model's `f32` weights, four times the bytes).
pub const VERSION: u32 = 4;
/// Bytes before the weights.
pub const HEADER_LEN: usize = 72;
/// Bytes of the checksum.
const CHECKSUM_LEN: usize = 8;

/// Why a model file cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// It does not start with `QGMODEL1`.
    #[error(
        "this is not a qunguan model file (it does not start with `QGMODEL1`): check the path, or rebuild it with `qunguan model train`"
    )]
    BadMagic,
    /// A format version this build cannot read.
    #[error(
        "the model file has format version {found}, but this qunguan reads version {supported}{}: rebuild it with `qunguan model train`",
        version_hint(*.found, *.supported)
    )]
    UnsupportedVersion {
        /// The file's version.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// Shorter than its header says.
    #[error(
        "the model file is truncated: {len} bytes where its header needs {needed}: copy it again, or rebuild it with `qunguan model train`"
    )]
    Truncated {
        /// The file's length.
        len: usize,
        /// The length it should have.
        needed: u64,
    },
    /// Longer than its header says.
    #[error(
        "the model file has {extra} unexpected bytes after its checksum: copy it again, or rebuild it with `qunguan model train`"
    )]
    TrailingBytes {
        /// How many.
        extra: u64,
    },
    /// The checksum does not match the contents.
    #[error(
        "the model file is corrupt (checksum {stored:#018x} stored, {computed:#018x} computed): copy it again, or rebuild it with `qunguan model train`"
    )]
    Checksum {
        /// The checksum in the file.
        stored: u64,
        /// The checksum of its contents.
        computed: u64,
    },
    /// Built with feature parameters this build does not use.
    #[error(
        "the model file was built with {what} = {found}, but this qunguan uses {expected}: rebuild it with `qunguan model train`"
    )]
    Mismatch {
        /// The parameter.
        what: &'static str,
        /// The file's value.
        found: u64,
        /// This build's value.
        expected: u64,
    },
    /// The weight step is negative, NaN or infinite.
    #[error(
        "the model file has a weight step of {}, not a finite number of at least 0: training went wrong; rebuild it with `qunguan model train`",
        f32::from_bits(*.bits)
    )]
    BadScale {
        /// The step's bits (an `f32`).
        bits: u32,
    },
    /// A weight or the bias is NaN or infinite.
    #[error(
        "the model file has a non-finite weight (at index {index}; the bias is index -1): training went wrong; rebuild it with `qunguan model train`"
    )]
    NonFinite {
        /// The weight's index, -1 for the bias.
        index: i64,
    },
}

/// Why a file of another format version cannot be read, for [`ModelError::UnsupportedVersion`].
fn version_hint(found: u32, supported: u32) -> &'static str {
    match found {
        3 if supported == 4 => {
            " (a version 3 model holds 32-bit weights; version 4 keeps the 8-bit steps scoring reads)"
        }
        2 if supported >= 3 => " (a version 2 model was trained without the position features, on 2^18 buckets)",
        1 if supported >= 2 => {
            " (a version 1 model was trained without Latin word boundaries and would misread English chat)"
        }
        f if f < supported => " (an older qunguan made it)",
        _ => " (a newer qunguan made it)",
    }
}

/// FNV-1a, 64 bits, over bytes.
#[must_use]
pub fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The number of weights this build expects.
fn weight_count() -> u32 {
    // 2^19 + 32: fits.
    u32::try_from(FEATURES).unwrap_or(u32::MAX)
}

/// Reads fixed-size fields of the header; the caller has checked its length.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn array<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0; N];
        if let Some(src) = self.0.get(at..at + N) {
            out.copy_from_slice(src);
        }
        out
    }
    fn u8(&self, at: usize) -> u8 {
        self.0.get(at).copied().unwrap_or(0)
    }
    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.array(at))
    }
    fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.array(at))
    }
    fn f32(&self, at: usize) -> f32 {
        f32::from_le_bytes(self.array(at))
    }
}

impl Model {
    /// The model file's bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.quantized.len() + CHECKSUM_LEN);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&HASH_ID.to_le_bytes());
        out.extend_from_slice(&[BUCKET_BITS, MIN_ORDER, MAX_ORDER, WORD_BOUNDARIES]);
        out.extend_from_slice(&u32::try_from(MAX_CHARS).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&FLAGS_LAYOUT.to_le_bytes());
        out.extend_from_slice(&u32::try_from(FLAG_SLOTS).unwrap_or(u32::MAX).to_le_bytes());
        let m = &self.meta;
        out.extend_from_slice(&m.spam.to_le_bytes());
        out.extend_from_slice(&m.ham.to_le_bytes());
        out.extend_from_slice(&m.epochs.to_le_bytes());
        out.extend_from_slice(&m.rate.to_le_bytes());
        out.extend_from_slice(&m.l2.to_le_bytes());
        out.extend_from_slice(&m.seed.to_le_bytes());
        out.extend_from_slice(&self.bias.to_le_bytes());
        out.extend_from_slice(&self.scale.to_le_bytes());
        out.extend_from_slice(&u32::try_from(self.quantized.len()).unwrap_or(u32::MAX).to_le_bytes());
        debug_assert_eq!(out.len(), HEADER_LEN);
        out.extend(self.quantized.iter().map(|&q| q.to_le_bytes()[0]));
        let sum = fnv64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Reads a model file (see the module documentation for what is checked).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        let len = bytes.len();
        let truncated = |needed: usize| ModelError::Truncated {
            len,
            needed: needed as u64,
        };
        // A prefix of the magic is a cut-off file; anything else is not ours.
        match bytes.get(..MAGIC.len()) {
            Some(head) if head == MAGIC => {}
            Some(_) => return Err(ModelError::BadMagic),
            None if MAGIC.starts_with(bytes) && !bytes.is_empty() => return Err(truncated(MAGIC.len())),
            None => return Err(ModelError::BadMagic),
        }
        let r = Reader(bytes);
        if len < 12 {
            return Err(truncated(12));
        }
        let version = r.u32(8);
        if version != VERSION {
            return Err(ModelError::UnsupportedVersion {
                found: version,
                supported: VERSION,
            });
        }
        if len < HEADER_LEN {
            return Err(truncated(HEADER_LEN + CHECKSUM_LEN));
        }
        let count = r.u32(68);
        let needed = HEADER_LEN as u64 + u64::from(count) + CHECKSUM_LEN as u64;
        if (len as u64) < needed {
            return Err(ModelError::Truncated { len, needed });
        }
        if (len as u64) > needed {
            return Err(ModelError::TrailingBytes {
                extra: len as u64 - needed,
            });
        }
        // len == needed, so this split is in range.
        let (body, sum) = bytes.split_at(len - CHECKSUM_LEN);
        let stored = Reader(sum).u64(0);
        let computed = fnv64(body);
        if stored != computed {
            return Err(ModelError::Checksum { stored, computed });
        }

        let params: [(&'static str, u64, u64); 9] = [
            ("hash", u64::from(r.u32(12)), u64::from(HASH_ID)),
            ("bucket bits", u64::from(r.u8(16)), u64::from(BUCKET_BITS)),
            ("shortest n-gram", u64::from(r.u8(17)), u64::from(MIN_ORDER)),
            ("longest n-gram", u64::from(r.u8(18)), u64::from(MAX_ORDER)),
            ("word boundaries", u64::from(r.u8(19)), u64::from(WORD_BOUNDARIES)),
            ("characters scored", u64::from(r.u32(20)), MAX_CHARS as u64),
            ("flag layout", u64::from(r.u32(24)), u64::from(FLAGS_LAYOUT)),
            ("flag slots", u64::from(r.u32(28)), FLAG_SLOTS as u64),
            ("weight count", u64::from(count), u64::from(weight_count())),
        ];
        for (what, found, expected) in params {
            if found != expected {
                return Err(ModelError::Mismatch { what, found, expected });
            }
        }

        let bias = r.f32(60);
        if !bias.is_finite() {
            return Err(ModelError::NonFinite { index: -1 });
        }
        let scale = r.f32(64);
        if !scale.is_finite() || scale < 0.0 {
            return Err(ModelError::BadScale { bits: scale.to_bits() });
        }
        let quantized: Box<[i8]> = body
            .get(HEADER_LEN..)
            .unwrap_or(&[])
            .iter()
            .map(|&b| i8::from_le_bytes([b]))
            .collect();
        if quantized.len() != FEATURES {
            // Unreachable after the length and count checks; kept so a bug cannot build a
            // short table.
            return Err(truncated(needed as usize));
        }
        let meta = TrainMeta {
            spam: r.u32(32),
            ham: r.u32(36),
            epochs: r.u32(40),
            rate: r.f32(44),
            l2: r.f32(48),
            seed: r.u64(52),
        };
        Ok(Self::from_steps(bias, quantized, scale, meta))
    }
}
