//! Traditional → simplified Chinese, one character at a time, from OpenCC's
//! `TSCharacters.txt` (Apache-2.0; `opencc/README.md` records the upstream commit).
//!
//! A filter does not need phrase-accurate conversion: the text and the phrases only have to
//! land on the *same* form, so the first candidate of each single-character entry is enough
//! and keeps the fold one character to one character. The file is compiled in verbatim and
//! parsed once, when the fold table is built.

use std::collections::HashMap;

/// OpenCC's traditional → simplified character table, byte for byte as upstream ships it.
pub(crate) const TS_CHARACTERS: &str = include_str!("opencc/TSCharacters.txt");

/// The git blob id of `TS_CHARACTERS` in OpenCC's repository (see `opencc/README.md`).
#[cfg(test)]
pub(crate) const TS_CHARACTERS_BLOB: &str = "fbe8912067fda73c3d3a491d5cc8bc3698125291";

/// Parses the table: `traditional<TAB>simplified [alternatives…]`, `#` comments. Entries whose
/// key or first candidate is not a single character are skipped (there are none upstream).
pub(crate) fn table() -> HashMap<char, char> {
    let mut map = HashMap::with_capacity(4_096);
    for line in TS_CHARACTERS.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some((key, values)) = line.split_once('\t') else {
            continue;
        };
        let Some(first) = values.split(' ').next() else {
            continue;
        };
        if let (Some(k), Some(v)) = (single(key), single(first))
            && k != v
        {
            map.insert(k, v);
        }
    }
    map
}

fn single(s: &str) -> Option<char> {
    let mut chars = s.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some(c)
}

#[cfg(test)]
mod tests {
    use sha1::{Digest, Sha1};

    use super::*;

    #[test]
    fn the_compiled_in_table_is_the_upstream_file() {
        // git's blob id: sha1("blob <len>\0" + content). Equal ids mean byte-identical files,
        // so the table is exactly what OpenCC publishes at the recorded commit.
        let mut hasher = Sha1::new();
        hasher.update(format!("blob {}\0", TS_CHARACTERS.len()).as_bytes());
        hasher.update(TS_CHARACTERS.as_bytes());
        assert_eq!(hex::encode(hasher.finalize()), TS_CHARACTERS_BLOB);
    }

    #[test]
    fn converts_the_characters_spammers_use() {
        let t = table();
        for (trad, simp) in [
            ('開', '开'),
            ('發', '发'),
            ('單', '单'),
            ('職', '职'),
            ('賭', '赌'),
            ('網', '网'),
        ] {
            assert_eq!(t.get(&trad), Some(&simp), "{trad}");
        }
        assert!(t.len() > 3_000, "{} entries", t.len());
        assert!(!t.contains_key(&'开'), "simplified characters map to nothing");
    }
}
