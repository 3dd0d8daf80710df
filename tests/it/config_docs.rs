//! `docs/configuration.md` and `config.example.toml` document the same keys, with the same
//! defaults and environment names; and the example file is what the daemon's defaults are.
//!
//! Per-group keys (`groups.<id>.…`) appear in the example only as a commented block; they are
//! checked against that block.

use std::collections::BTreeMap;
use std::path::Path;

use toml::Value;

fn read(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every leaf key of the example file (dotted), with its value written as TOML.
fn example_keys() -> BTreeMap<String, String> {
    fn walk(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                Value::Table(inner) => walk(&path, inner, out),
                leaf => {
                    out.insert(path, render(leaf));
                }
            }
        }
    }
    let table: toml::Table = toml::from_str(&read("config.example.toml")).expect("config.example.toml parses");
    let mut out = BTreeMap::new();
    walk("", &table, &mut out);
    out
}

/// A value as written in TOML (strings in double quotes, arrays as `[a, b]`).
fn render(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Integer(n) => n.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Array(items) => format!("[{}]", items.iter().map(render).collect::<Vec<_>>().join(", ")),
        other => format!("{other:?}"),
    }
}

/// A row of the reference: key, default and environment name (backticks removed).
struct Row {
    key: String,
    default: String,
    env: String,
}

fn doc_rows() -> Vec<Row> {
    read("docs/configuration.md")
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|line| {
            let cells: Vec<String> = line
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().trim_matches('`').to_owned())
                .collect();
            assert!(cells.len() >= 4, "docs/configuration.md: a row needs 4 cells: {line}");
            Row {
                key: cells[0].clone(),
                default: cells[1].clone(),
                env: cells[2].clone(),
            }
        })
        .collect()
}

fn env_name(key: &str) -> String {
    format!("QUNGUAN__{}", key.replace('.', "__").to_uppercase())
}

#[test]
fn every_key_of_the_example_is_in_the_reference_with_its_default_and_environment_name() {
    let rows = doc_rows();
    let mut problems = Vec::new();
    for (key, value) in example_keys() {
        match rows.iter().find(|r| r.key == key) {
            None => problems.push(format!(
                "config.example.toml has `{key}` but docs/configuration.md has no row for it; add \
                 | `{key}` | `{value}` | `{}` | <meaning> |",
                env_name(&key)
            )),
            Some(row) => {
                if row.default != value {
                    problems.push(format!(
                        "`{key}`: docs/configuration.md says the default is `{}`, config.example.toml says `{value}`",
                        row.default
                    ));
                }
                if row.env != env_name(&key) {
                    problems.push(format!(
                        "`{key}`: docs/configuration.md names the variable `{}`, it is `{}`",
                        row.env,
                        env_name(&key)
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn every_key_of_the_reference_is_in_the_example() {
    let example = read("config.example.toml");
    let keys = example_keys();
    let mut problems = Vec::new();
    for row in doc_rows() {
        if let Some((list, leaf)) = row.key.split_once("[].") {
            // An entry of a list of tables: documented in the example's commented
            // `# [[list]]` block, set from the environment by index.
            if !list_block(&example, list)
                .iter()
                .any(|l| l.starts_with(&format!("{leaf} =")))
            {
                problems.push(format!(
                    "docs/configuration.md documents `{}` but config.example.toml's commented \
                     [[{list}]] block has no `# {leaf} = …` line",
                    row.key
                ));
            }
            let env = format!("{}__<N>__{}", env_name(list), leaf.to_uppercase());
            if row.env != env {
                problems.push(format!("`{}`: the variable is `{env}`, not `{}`", row.key, row.env));
            }
        } else if let Some(rest) = row.key.strip_prefix("groups.<id>.") {
            // Documented in the example's commented [groups."qq:…"] block.
            let leaf = rest.rsplit('.').next().unwrap_or(rest);
            let commented = example.lines().any(|l| {
                l.trim_start()
                    .strip_prefix("# ")
                    .is_some_and(|l| l.starts_with(&format!("{leaf} =")))
            });
            if !commented {
                problems.push(format!(
                    "docs/configuration.md documents `{}` but config.example.toml's commented \
                     [groups.\"qq:…\"] block has no `# {leaf} = …` line",
                    row.key
                ));
            }
            let env = format!("QUNGUAN__GROUPS__<ID>__{}", rest.replace('.', "__").to_uppercase());
            if row.env != env {
                problems.push(format!("`{}`: the variable is `{env}`, not `{}`", row.key, row.env));
            }
        } else if !keys.contains_key(&row.key) {
            problems.push(format!(
                "docs/configuration.md documents `{}` but config.example.toml has no such key; \
                 add it there with its default and `# {}`",
                row.key,
                env_name(&row.key)
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The commented lines (without `# `) of the example's `# [[list]]` block, up to the next
/// blank comment line.
fn list_block<'a>(example: &'a str, list: &str) -> Vec<&'a str> {
    let header = format!("# [[{list}]]");
    example
        .lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .map_while(|l| l.trim_start().strip_prefix("# "))
        .collect()
}

#[test]
fn the_example_file_states_the_built_in_defaults() {
    // Loading the example must give exactly what no file gives: the example documents the
    // defaults, it does not change them.
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let from_file =
        qunguan::config::Settings::load_with_env(Some(&file), Some(BTreeMap::new())).expect("example loads");
    let built_in = qunguan::config::Settings::load_with_env(None, Some(BTreeMap::new())).expect("defaults load");
    assert_eq!(format!("{from_file:?}"), format!("{built_in:?}"));
}
