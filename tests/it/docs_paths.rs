//! The container paths in the docs are the image's (issue 17). Every path inside the container
//! that README.md and docs/deploy.md mention — in a compose file's qunguan service, in `docker …`
//! commands, in ```dockerfile blocks and in the prose of their Docker sections — must be where
//! the Dockerfile puts the binary, the rules, the data volume or the configuration file. The
//! documented mounts of the data directory must be named volumes: the image runs as a non-root
//! user, and a bind-mounted `./data` belongs to whoever created it.
//!
//! The image's layout is read from the Dockerfile's final stage (COPY, ENV, VOLUME, WORKDIR,
//! ENTRYPOINT, HEALTHCHECK), which is checked for agreeing with itself first.

use std::path::Path;

const DOCS: [&str; 2] = ["README.md", "docs/deploy.md"];

/// First path components that name a file-system location (and not an HTTP route such as
/// `/healthz` or a chat command such as `/rules`); the image's own roots are added to these.
const FS_ROOTS: [&str; 15] = [
    "app", "backups", "bin", "data", "etc", "home", "lib", "mnt", "opt", "root", "sbin", "srv", "tmp", "usr", "var",
];

fn read(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Where the image puts things.
#[derive(Debug)]
struct Image {
    binary: String,
    rules: String,
    data: String,
    config: String,
    workdir: String,
}

/// The Dockerfile's instructions, continuation lines joined, comments and blank lines dropped.
fn instructions(dockerfile: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

/// The words of an exec-form (`["a", "b"]`) or shell-form argument list.
fn exec_words(args: &str) -> Vec<String> {
    let args = args.trim();
    if args.starts_with('[') {
        serde_json::from_str(args).unwrap_or_else(|e| panic!("Dockerfile: {args}: {e}"))
    } else {
        args.split_whitespace().map(str::to_owned).collect()
    }
}

impl Image {
    fn from_dockerfile(text: &str) -> Image {
        let all = instructions(text);
        let last_from = all
            .iter()
            .rposition(|i| i.starts_with("FROM "))
            .expect("Dockerfile: a FROM");
        let stage = &all[last_from + 1..];
        let (mut binary, mut rules, mut volume, mut workdir) = (None, None, None, None);
        let (mut entrypoint, mut healthcheck) = (None, None);
        let mut env: Vec<(String, String)> = Vec::new();
        for instruction in stage {
            let (keyword, args) = instruction.split_once(' ').unwrap_or((instruction, ""));
            match keyword {
                "COPY" => {
                    let words: Vec<&str> = args.split_whitespace().filter(|w| !w.starts_with("--")).collect();
                    let (dst, srcs) = words.split_last().expect("Dockerfile: COPY <src> <dst>");
                    for src in srcs {
                        let src = src.trim_start_matches("./").trim_end_matches('/');
                        if src == "rules" {
                            rules = Some(dst.trim_end_matches('/').to_owned());
                        } else if src.rsplit('/').next() == Some("qunguan") {
                            binary = Some(match dst.strip_suffix('/') {
                                Some(dir) => format!("{dir}/qunguan"),
                                None => (*dst).to_owned(),
                            });
                        }
                    }
                }
                "ENV" => {
                    for pair in args.split_whitespace() {
                        let (key, value) = pair.split_once('=').expect("Dockerfile: ENV KEY=VALUE");
                        env.push((key.to_owned(), value.trim_matches('"').to_owned()));
                    }
                }
                "VOLUME" => {
                    let volumes = exec_words(args);
                    assert_eq!(volumes.len(), 1, "Dockerfile: one VOLUME, the data directory");
                    volume = volumes.into_iter().next();
                }
                "WORKDIR" => workdir = Some(args.trim().to_owned()),
                "ENTRYPOINT" => entrypoint = exec_words(args).into_iter().next(),
                "HEALTHCHECK" => {
                    let (_, cmd) = args.split_once("CMD ").expect("Dockerfile: HEALTHCHECK … CMD");
                    healthcheck = exec_words(cmd).into_iter().next();
                }
                _ => {}
            }
        }
        let env_of = |key: &str| {
            env.iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("Dockerfile: ENV {key}"))
        };
        let binary = binary.expect("Dockerfile: COPY of the qunguan binary into the final stage");
        let rules = rules.expect("Dockerfile: COPY rules <dir>");
        let data = volume.expect("Dockerfile: VOLUME");

        // The Dockerfile agrees with itself.
        assert_eq!(
            env_of("QUNGUAN__STORAGE__PATH"),
            data,
            "Dockerfile: storage.path is the VOLUME"
        );
        assert_eq!(
            env_of("QUNGUAN__RULES__DIR"),
            rules,
            "Dockerfile: rules.dir is where rules/ is copied"
        );
        assert_eq!(
            entrypoint.as_ref(),
            Some(&binary),
            "Dockerfile: ENTRYPOINT runs the copied binary"
        );
        assert_eq!(
            healthcheck.as_ref(),
            Some(&binary),
            "Dockerfile: HEALTHCHECK runs the copied binary"
        );

        // The configuration file has no instruction of its own: the Dockerfile's comments say
        // where to mount it (`run --config …`), beside the rules.
        let configs: Vec<&str> = text
            .match_indices("--config ")
            .filter_map(|(at, m)| text[at + m.len()..].split_whitespace().next())
            .map(|p| p.trim_end_matches(['`', ')', ',', '.']))
            .filter(|p| p.starts_with('/'))
            .collect();
        let config = configs
            .first()
            .expect("Dockerfile: a comment naming `--config <path>`")
            .to_string();
        assert!(
            configs.iter().all(|c| *c == config),
            "Dockerfile: one configuration path, not {configs:?}"
        );
        assert_eq!(
            Path::new(&config).parent(),
            Path::new(&rules).parent(),
            "Dockerfile: the configuration file ({config}) sits beside the rules ({rules})"
        );

        Image {
            binary,
            rules,
            data,
            config,
            workdir: workdir.expect("Dockerfile: WORKDIR"),
        }
    }

    /// Whether `path` (inside the container) is one of the image's locations.
    fn knows(&self, path: &str) -> bool {
        let under = |dir: &str| path == dir || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'));
        let config_dir = Path::new(&self.config).parent().and_then(Path::to_str).unwrap_or("/");
        path == self.binary
            || path == self.config
            || path == config_dir
            || path == self.workdir
            || under(&self.rules)
            || under(&self.data)
    }

    fn describe(&self) -> String {
        format!(
            "binary {}, rules {}, data {}, configuration {}",
            self.binary, self.rules, self.data, self.config
        )
    }

    fn is_fs_path(&self, path: &str) -> bool {
        let Some(first) = path.strip_prefix('/').and_then(|p| p.split('/').next()) else {
            return false;
        };
        let first_of = |p: &str| {
            p.trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        !first.is_empty()
            && (FS_ROOTS.contains(&first)
                || [&self.binary, &self.rules, &self.data, &self.config]
                    .iter()
                    .any(|p| first_of(p) == first))
    }
}

/// A container path the docs mention, where, and in what line.
struct Mention {
    file: &'static str,
    line: usize,
    path: String,
    text: String,
}

/// A documented mount: `source` (a host path or a volume name) onto `target` in the container.
struct Mount {
    file: &'static str,
    line: usize,
    source: String,
    target: String,
    /// For compose files: the top-level `volumes:` it declares.
    declared: Option<Vec<String>>,
}

#[derive(Default)]
struct Findings {
    mentions: Vec<Mention>,
    mounts: Vec<Mount>,
    composes: usize,
}

/// The container paths in `text`: absolute file-system paths, the targets of `src:dst` pairs,
/// the paths of `container:path`; never URLs. With `copy` (a `docker cp` line) only the
/// `container:path` words count: the others are host paths.
fn container_paths(image: &Image, text: &str, copy: bool) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || "\"'`,[](){}=".contains(c))
        .filter(|word| !word.contains("://"))
        .filter_map(|word| match word.split_once(':') {
            Some((_, rest)) => rest.split(':').next(),
            None if copy => None,
            None => Some(word),
        })
        .map(|p| p.trim_end_matches(['.', ';', ':', '/']))
        .filter(|p| image.is_fs_path(p))
        .map(str::to_owned)
        .collect()
}

/// `src:dst[:mode]`, without quotes and comments.
fn parse_mount(spec: &str) -> Option<(String, String)> {
    let spec = spec
        .split(" #")
        .next()
        .unwrap_or_default()
        .trim()
        .trim_matches(['"', '\'']);
    let (source, rest) = spec.split_once(':')?;
    let target = rest.split(':').next()?;
    target.starts_with('/').then(|| (source.to_owned(), target.to_owned()))
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// A compose file: the qunguan service's lines are container context; its volumes are mounts.
fn scan_compose(image: &Image, file: &'static str, lines: &[(usize, &str)], out: &mut Findings) {
    let declared: Vec<String> = {
        let mut names = Vec::new();
        let mut in_volumes = false;
        for (_, line) in lines {
            if indent(line) == 0 && !line.trim().is_empty() {
                in_volumes = line.trim_end() == "volumes:";
            } else if in_volumes && indent(line) == 2 && !line.trim_start().starts_with('#') {
                names.push(line.trim().split(':').next().unwrap_or_default().to_owned());
            }
        }
        names
    };
    // The services, by name, with their lines.
    let mut services: Vec<(&str, Vec<(usize, &str)>)> = Vec::new();
    let mut in_services = false;
    for &(no, line) in lines {
        let trimmed = line.trim();
        if indent(line) == 0 && !trimmed.is_empty() {
            in_services = trimmed == "services:";
        } else if in_services && indent(line) == 2 && trimmed.ends_with(':') && !trimmed.starts_with('#') {
            services.push((trimmed.trim_end_matches(':'), Vec::new()));
        } else if in_services && let Some((_, body)) = services.last_mut() {
            body.push((no, line));
        }
    }
    let is_qunguan = |(name, body): &(&str, Vec<(usize, &str)>)| {
        *name == "qunguan"
            || body.iter().any(|(_, l)| {
                l.trim()
                    .strip_prefix("image:")
                    .is_some_and(|i| i.trim().starts_with("qunguan"))
            })
    };
    let service: Vec<(usize, &str)> = services
        .iter()
        .filter(|s| is_qunguan(s))
        .flat_map(|(_, b)| b.clone())
        .collect();
    assert!(!service.is_empty(), "{file}: a compose file without a qunguan service");
    out.composes += 1;

    let mut in_volumes = false;
    let mut volumes_indent = 0;
    for &(no, line) in &service {
        let trimmed = line.trim();
        if trimmed == "volumes:" {
            (in_volumes, volumes_indent) = (true, indent(line));
            continue;
        }
        if in_volumes && !trimmed.is_empty() && indent(line) <= volumes_indent {
            in_volumes = false;
        }
        if in_volumes && let Some((source, target)) = trimmed.strip_prefix("- ").and_then(parse_mount) {
            out.mounts.push(Mount {
                file,
                line: no,
                source,
                target,
                declared: Some(declared.clone()),
            });
        }
        mention(image, file, no, line, false, out);
    }
}

fn mention(image: &Image, file: &'static str, line: usize, text: &str, copy: bool, out: &mut Findings) {
    for path in container_paths(image, text, copy) {
        out.mentions.push(Mention {
            file,
            line,
            path,
            text: text.trim().to_owned(),
        });
    }
}

/// A `docker …` command line: its container paths, and its `-v`/`--volume` mounts.
fn scan_docker_command(image: &Image, file: &'static str, line: usize, text: &str, out: &mut Findings) {
    let words: Vec<&str> = text.split_whitespace().collect();
    let copy = words.windows(2).any(|w| w[0] == "docker" && w[1] == "cp")
        || words
            .windows(3)
            .any(|w| w[0] == "docker" && w[1] == "compose" && w[2] == "cp");
    mention(image, file, line, text, copy, out);
    for (i, word) in words.iter().enumerate() {
        let spec = match *word {
            "-v" | "--volume" => words.get(i + 1).copied(),
            other => other.strip_prefix("--volume="),
        };
        if let Some((source, target)) = spec.and_then(parse_mount) {
            out.mounts.push(Mount {
                file,
                line,
                source,
                target,
                declared: None,
            });
        }
    }
}

/// The inline code spans of a prose line.
fn code_spans(line: &str) -> impl Iterator<Item = &str> {
    line.split('`').skip(1).step_by(2)
}

fn scan_doc(image: &Image, file: &'static str, text: &str, out: &mut Findings) {
    let lines: Vec<&str> = text.lines().collect();
    let mut heading = String::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if let Some(lang) = trimmed.strip_prefix("```") {
            let lang = lang.trim().to_lowercase();
            let start = i + 1;
            let mut end = start;
            while end < lines.len() && lines[end].trim() != "```" {
                end += 1;
            }
            let block: Vec<(usize, &str)> = (start..end).map(|n| (n + 1, lines[n])).collect();
            match lang.as_str() {
                "yaml" | "yml" if block.iter().any(|(_, l)| l.trim() == "services:") => {
                    scan_compose(image, file, &block, out);
                }
                "dockerfile" | "docker" => {
                    for (no, l) in &block {
                        mention(image, file, *no, l, false, out);
                    }
                }
                "sh" | "bash" | "shell" | "console" | "" => {
                    // Logical lines: continuation lines joined.
                    let mut joined = String::new();
                    let mut first = None;
                    for (no, l) in &block {
                        first.get_or_insert(*no);
                        match l.trim_end().strip_suffix('\\') {
                            Some(head) => joined.push_str(head),
                            None => {
                                joined.push_str(l);
                                if joined.to_lowercase().contains("docker") {
                                    scan_docker_command(image, file, first.unwrap_or(*no), &joined, out);
                                }
                                joined.clear();
                                first = None;
                            }
                        }
                    }
                }
                _ => {}
            }
            i = end + 1;
            continue;
        }
        if trimmed.starts_with('#') {
            heading = trimmed.to_lowercase();
        } else {
            let docker_section = ["docker", "container", "compose", "容器"]
                .iter()
                .any(|w| heading.contains(w));
            for span in code_spans(line) {
                if span.to_lowercase().contains("docker ") {
                    scan_docker_command(image, file, i + 1, span, out);
                } else if docker_section {
                    mention(image, file, i + 1, span, false, out);
                }
            }
        }
        i += 1;
    }
}

fn is_named_volume(source: &str) -> bool {
    !source.is_empty() && !source.contains('/') && !source.starts_with(['.', '~', '$'])
}

#[test]
fn the_docs_use_the_images_paths_and_a_named_data_volume() {
    let image = Image::from_dockerfile(&read("Dockerfile"));
    let mut problems = Vec::new();
    for file in DOCS {
        let mut found = Findings::default();
        scan_doc(&image, file, &read(file), &mut found);

        for m in &found.mentions {
            if !image.knows(&m.path) {
                problems.push(format!(
                    "{}:{}: `{}` is not a path of the image ({}): {}",
                    m.file,
                    m.line,
                    m.path,
                    image.describe(),
                    m.text
                ));
            }
        }
        for env in ["QUNGUAN__STORAGE__PATH", "QUNGUAN__RULES__DIR"] {
            let expected = if env == "QUNGUAN__STORAGE__PATH" {
                &image.data
            } else {
                &image.rules
            };
            for m in found.mentions.iter().filter(|m| m.text.contains(env)) {
                let value = m.text.split(env).nth(1).unwrap_or_default();
                let value = value.trim_start_matches([':', '=', ' ', '"', '\'']);
                let value = value.split(['"', '\'', ' ']).next().unwrap_or_default();
                if value != expected {
                    problems.push(format!(
                        "{}:{}: {env} is `{value}`, the image's is {expected}",
                        m.file, m.line
                    ));
                }
            }
        }
        for mount in found.mounts.iter().filter(|m| m.target == image.data) {
            if !is_named_volume(&mount.source) {
                problems.push(format!(
                    "{}:{}: `{}:{}` bind-mounts the data directory; the image runs as a non-root user, so \
                     a fresh host directory is not writable: use a named volume (and explain `chown` in prose)",
                    mount.file, mount.line, mount.source, mount.target
                ));
            } else if let Some(declared) = &mount.declared
                && !declared.contains(&mount.source)
            {
                problems.push(format!(
                    "{}:{}: the volume `{}` is not declared under the compose file's top-level `volumes:`",
                    mount.file, mount.line, mount.source
                ));
            }
        }

        // Not vacuous: each document shows how to run the image with its data and rules, and
        // calls the binary by its path (distroless has no shell to find it otherwise).
        let mentions = |path: &str| found.mentions.iter().any(|m| m.path == path);
        let mounts = |target: &str| found.mounts.iter().any(|m| m.target == target);
        let mut missing = |what: String| problems.push(format!("{file}: {what}"));
        if !mounts(&image.data) {
            missing(format!("no documented mount of the data directory {}", image.data));
        }
        if !mounts(&image.rules) {
            missing(format!("no documented mount of the rules {}", image.rules));
        }
        if !mentions(&image.binary) {
            missing(format!("never calls the binary {}", image.binary));
        }
        if file == "docs/deploy.md" && found.composes == 0 {
            missing("the compose file was not found".to_owned());
        }
        if file == "docs/deploy.md" && !mentions(&image.config) {
            missing(format!(
                "never says where the configuration file goes ({})",
                image.config
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the docs disagree with the Dockerfile:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_catches_the_old_layout() {
    let image = Image::from_dockerfile(&read("Dockerfile"));
    let old = "## Docker compose\n\nThe binary is `/app/qunguan`.\n\n```yaml\nservices:\n  qunguan:\n    image: qunguan\n    \
               volumes:\n      - ./data:/data\n      - ./rules:/app/rules:ro\n```\n\n```sh\n\
               docker compose exec qunguan /app/qunguan backup --out /data/b.jsonl\n\
               docker compose cp qunguan:/data/b.jsonl /backups/b.jsonl\n```\n";
    let mut found = Findings::default();
    scan_doc(&image, "old.md", old, &mut found);
    let unknown: Vec<(usize, &str)> = found
        .mentions
        .iter()
        .filter(|m| !image.knows(&m.path))
        .map(|m| (m.line, m.path.as_str()))
        .collect();
    assert_eq!(unknown, [(3, "/app/qunguan"), (11, "/app/rules"), (15, "/app/qunguan")]);
    let data: Vec<&str> = found
        .mounts
        .iter()
        .filter(|m| m.target == image.data)
        .map(|m| m.source.as_str())
        .collect();
    assert_eq!(data, ["./data"]);
    assert!(!is_named_volume("./data") && is_named_volume("qunguan-data"));
}
