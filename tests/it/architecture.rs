//! The layering of `src/`, as a test: every `crate::` path a file names must point down the
//! table in `src/lib.rs`, only `store/` may name sled, the top-level modules form no cycle,
//! and `main.rs` stays a thin entry point.
//!
//! Paths are read from the source text (imports, inline paths and doc links alike), so a
//! new upward edge fails here before it can grow into a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and what it may import from the crate.
const LAYERS: &[(&str, &[&str])] = &[
    ("domain", &[]),
    ("policy", &["domain"]),
    ("config", &["domain", "policy"]),
    ("store", &["domain", "config"]),
    ("gateway", &["domain", "config"]),
    ("service", &["domain", "policy", "config", "store", "gateway"]),
    (
        "runtime",
        &["domain", "policy", "config", "store", "gateway", "service"],
    ),
    (
        "cli",
        &["domain", "policy", "config", "store", "gateway", "service", "runtime"],
    ),
];

/// Within `service/`, only the outbox talks to gateway clients.
const GATEWAY_FROM_SERVICE: &str = "service/outbox/";

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(file relative to src/, line, target module)` for every `crate::<module>` in the file.
fn crate_paths(rel: &str, text: &str) -> Vec<(String, usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().next_back();
            let after = &rest[at + "crate::".len()..];
            rest = after;
            // `qunguan_crate::x` or `$crate::` are not ours.
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            if let Some(group) = after.strip_prefix('{') {
                // `crate::{a::X, b::{Y, Z}}`: the first segment of each item.
                let mut depth = 0;
                let mut item_start = true;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        c if item_start && (c.is_ascii_alphanumeric() || c == '_') => {
                            let module: String = group[i..]
                                .chars()
                                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                                .collect();
                            found.push((rel.to_owned(), n + 1, module));
                            item_start = false;
                        }
                        _ => {}
                    }
                }
                continue;
            }
            let module: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !module.is_empty() {
                found.push((rel.to_owned(), n + 1, module));
            }
        }
    }
    found
}

fn top_level(rel: &str) -> &str {
    let first = rel.split('/').next().unwrap_or(rel);
    first.strip_suffix(".rs").unwrap_or(first)
}

#[test]
fn every_import_points_down_the_layers() {
    let allowed: BTreeMap<&str, BTreeSet<&str>> = LAYERS
        .iter()
        .map(|(layer, deps)| (*layer, deps.iter().copied().collect()))
        .collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    assert!(files.len() > 50, "read only {} files under src/", files.len());
    let mut violations = Vec::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &files {
        let rel = path
            .strip_prefix(src())
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        let from = top_level(&rel);
        if matches!(from, "lib" | "main") {
            continue;
        }
        let Some(may) = allowed.get(from) else {
            violations.push(format!("{rel}: `{from}` is not a layer of the table in src/lib.rs"));
            continue;
        };
        let text = std::fs::read_to_string(path).expect("read");
        for (file, line, to) in crate_paths(&rel, &text) {
            if to == from {
                continue;
            }
            edges.entry(from.to_owned()).or_default().insert(to.clone());
            let ok = may.contains(to.as_str())
                && !(from == "service" && to == "gateway" && !rel.starts_with(GATEWAY_FROM_SERVICE));
            if !ok {
                violations.push(format!("{file}:{line}: `{from}` may not name `crate::{to}`"));
            }
        }
        if from != "store" && text.contains("sled::") {
            violations.push(format!("{rel}: only store/ may use sled"));
        }
    }
    assert!(
        violations.is_empty(),
        "imports that point up:\n{}",
        violations.join("\n")
    );
    assert_no_cycle(&edges);
}

/// Depth-first search for a cycle among the top-level modules.
fn assert_no_cycle(edges: &BTreeMap<String, BTreeSet<String>>) {
    fn visit<'a>(
        node: &'a str,
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(at) = stack.iter().position(|n| *n == node) {
            panic!("import cycle: {} -> {node}", stack[at..].join(" -> "));
        }
        stack.push(node);
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, stack, done);
        }
        stack.pop();
        done.insert(node);
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        visit(node, edges, &mut Vec::new(), &mut done);
    }
}

#[test]
fn main_rs_is_a_thin_entry_point() {
    let main = std::fs::read_to_string(src().join("main.rs")).expect("read main.rs");
    let lines = main.lines().count();
    assert!(
        lines <= 100,
        "src/main.rs has {lines} lines; subcommands belong in src/cli/"
    );
}

#[test]
fn the_checker_sees_upward_paths() {
    // The reader must be able to fail: an upward import, a doc link and a grouped import.
    let text = "use crate::service::pipeline::Pipeline;\n/// See [`crate::runtime::app::App`].\n\
                use crate::{store::Store, gateway::{Gateways, GatewayError}};\nlet x = my_crate::foo;";
    let found: Vec<String> = crate_paths("policy/x.rs", text)
        .into_iter()
        .map(|(_, _, m)| m)
        .collect();
    assert_eq!(found, ["service", "runtime", "store", "gateway"]);
}
