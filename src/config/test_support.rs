//! Helpers of the configuration tests.

use std::collections::BTreeMap;

/// A bot token of the shape @BotFather hands out (not a real one).
pub(super) const TG_TOKEN: &str = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0";

/// Environment overrides for [`super::Settings::load_with_env`].
pub(super) fn env(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
}

/// A temporary `.toml` file holding `contents`.
pub(super) fn write(contents: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().expect("temp file");
    std::io::Write::write_all(&mut file, contents.as_bytes()).expect("write");
    file
}
