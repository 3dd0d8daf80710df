//! Soak: a long stream of signed OneBot v11 events through the real daemon, with its resident
//! memory and disk printed as it goes.
//!
//! ```sh
//! cargo bench --bench soak                                   # 1,000,000 events, 16 connections
//! cargo bench --bench soak -- --events 200000 --every 20000  # shorter
//! cargo bench --bench soak -- --phrases 50000 --events 0     # idle RSS with a 50k-phrase dictionary
//! cargo bench --bench soak -- --name-chars 100000            # members with 100 KB nicknames
//! cargo bench --bench soak -- --env QUNGUAN__STORAGE__CACHE_CAPACITY=32MiB
//! cargo bench --bench soak -- --root /tmp/soak    # keep the data and rules folders there
//! cargo bench --bench soak -- --entries 1          # each structure's entries under every row
//! ```
//!
//! The daemon is the release binary (`qunguan run`, built by `cargo bench`; `QUNGUAN_BIN`
//! overrides it), started as its own process with its default configuration plus what the
//! OneBot v11 bench profile sets (listen address, gateway URL and token, HMAC secret, storage
//! and rules folder; `--env KEY=VALUE` adds more), so its RSS is the daemon's alone. The
//! load driver and a do-nothing OneBot gateway (it answers every action `ok`) run in this
//! process. Everything is on 127.0.0.1, the loop is closed (`--concurrency` requests in
//! flight) and bounded by `--events`.
//!
//! The stream is generated from a fixed seed, shaped like the shared bench's: 200 groups ×
//! 300 members, 2 % joins of new members, 8 % of messages spam (70 % of it from 4 repeat
//! offenders per group, so the ladder's later rungs happen), the rest clean chat; every
//! event is signed (`X-Signature`). Every `--every` events it prints the daemon's RSS
//! (`VmRSS`) and peak (`VmHWM`) from `/proc`, the disk its data folder takes (allocated
//! blocks, as `du` counts them) and that disk divided by the events so far, then the RSS by
//! mapping from `/proc/<pid>/smaps`: malloc's heap (`[heap]`), the other anonymous mappings
//! (large blocks mapped on their own, thread stacks), the program file; with `--entries 1`,
//! under each row, the entries of every in-memory structure that holds any (from
//! `/metrics`). After the stream it
//! prints each in-memory structure's entries and capacity (`bounds`, from `/metrics`), waits
//! `--idle-secs` and prints RSS again, then stops the daemon with SIGTERM and prints the disk
//! after its final flush.
//!
//! Timing lives here, never in tests. On a shared machine the events/s column is noise; RSS
//! and disk are what this measures.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::routing::post;
use qunguan::gateway::onebot::signature;
use serde_json::json;

const GROUPS: u64 = 200;
const MEMBERS: u64 = 300;
const SELF_ID: i64 = 3_889_000_123;
const SECRET: &str = "soak-hmac-secret";
const TOKEN: &str = "soak-access-token";
const SEED: u64 = 0x50a4_0001;

/// Spam phrases (the rules folder's word list) and the texts around them. Our own.
const PHRASES: &[&str] = &[
    "加微信领取福利",
    "扫码进群送资料",
    "免费代开发票",
    "cheap followers here",
    "刷单日结",
];
const CLEAN: &[&str] = &[
    "今天的会议改到下午三点，大家记得准时参加",
    "有人知道食堂几点关门吗",
    "周末一起去爬山吧，天气预报说是晴天",
    "这个问题我昨天也遇到了，重启一下就好",
    "新版本的文档已经更新了，链接在群公告里",
    "thanks, the build is green again",
    "anyone up for lunch at noon?",
    "哈哈哈哈 笑死我了",
    "收到，明天上午之前给你答复",
    "谁有上次分享的那个表格？",
];

struct Options {
    events: u64,
    every: u64,
    concurrency: usize,
    phrases: usize,
    name_chars: usize,
    spam_chars: usize,
    idle_secs: u64,
    /// Print the structures' entries under every row (`--entries 1`).
    entries: bool,
    env: Vec<(String, String)>,
    /// Where the data and rules folders go (kept); a temp folder otherwise.
    root: Option<PathBuf>,
}

const USAGE: &str = "usage: soak [--events N] [--every N] [--concurrency N] [--phrases N] \
[--name-chars N] [--spam-chars N] [--idle-secs N] [--entries 0|1] [--root DIR] [--env KEY=VALUE]... \
(QUNGUAN_BIN: the daemon; see the file's docs)";

/// Prints `problem` and the usage to stderr and exits with status 2.
fn usage_error(problem: &str) -> ! {
    eprintln!("soak: {problem}\n{USAGE}");
    std::process::exit(2)
}

fn options() -> Options {
    let mut o = Options {
        events: 1_000_000,
        every: 100_000,
        concurrency: 16,
        phrases: 0,
        name_chars: 0,
        spam_chars: 0,
        idle_secs: 10,
        entries: false,
        env: Vec::new(),
        root: None,
    };
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    while let Some(flag) = args.next() {
        if matches!(flag.as_str(), "--help" | "-h") {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args
            .next()
            .unwrap_or_else(|| usage_error(&format!("{flag} needs a value")));
        let number = || {
            value
                .replace('_', "")
                .parse::<u64>()
                .unwrap_or_else(|_| usage_error(&format!("{flag} {value}: not a whole number")))
        };
        let size = || usize::try_from(number()).unwrap_or_else(|_| usage_error(&format!("{flag} {value}: too large")));
        match flag.as_str() {
            "--events" => o.events = number(),
            "--every" => o.every = number().max(1),
            "--concurrency" => o.concurrency = size().max(1),
            "--phrases" => o.phrases = size(),
            "--name-chars" => o.name_chars = size(),
            "--spam-chars" => o.spam_chars = size(),
            "--idle-secs" => o.idle_secs = number(),
            "--entries" => o.entries = number() != 0,
            "--root" => o.root = Some(PathBuf::from(&value)),
            "--env" => {
                let (k, v) = value
                    .split_once('=')
                    .unwrap_or_else(|| usage_error(&format!("--env {value}: want KEY=VALUE")));
                o.env.push((k.to_owned(), v.to_owned()));
            }
            other => usage_error(&format!("unknown flag {other}")),
        }
    }
    o
}

/// SplitMix64 of `x`: the stream's randomness, a pure function of the event number.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Event `i` of the stream, as a signed body.
fn event(i: u64, o: &Options, now: i64) -> (Vec<u8>, String) {
    let r = mix(SEED ^ i.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let group = 700_000_000 + (r % GROUPS) as i64;
    let name = |user: i64| {
        if o.name_chars == 0 {
            format!("u{user}")
        } else {
            "名".repeat(o.name_chars)
        }
    };
    let body = if (r >> 8) % 100 < 2 {
        let user = 50_000_000 + i as i64;
        json!({
            "post_type": "notice", "notice_type": "group_increase", "sub_type": "approve",
            "time": now, "self_id": SELF_ID, "group_id": group, "user_id": user, "operator_id": 0,
        })
    } else {
        let spam = (r >> 16) % 100 < 8;
        let member = if spam && (r >> 24) % 10 < 7 {
            (r >> 32) % 4
        } else {
            (r >> 32) % MEMBERS
        };
        let user = 10_000_000 + (group - 700_000_000) * 1_000 + member as i64;
        let text = if spam {
            let phrase = PHRASES[((r >> 40) % PHRASES.len() as u64) as usize];
            let mut text = format!("{phrase} 详情私聊 {i}");
            if o.spam_chars > text.chars().count() {
                text.push_str(&"广告".repeat((o.spam_chars - text.chars().count()) / 2));
            }
            text
        } else {
            format!("{} {}", CLEAN[((r >> 40) % CLEAN.len() as u64) as usize], i % 97)
        };
        json!({
            "post_type": "message", "message_type": "group", "sub_type": "normal",
            "time": now, "self_id": SELF_ID, "group_id": group, "user_id": user,
            "message_id": 1_000_000 + i as i64, "message": text, "raw_message": text, "font": 0,
            "sender": {"user_id": user, "nickname": name(user), "card": "", "role": "member"},
        })
    };
    let body = serde_json::to_vec(&body).expect("json");
    let sig = signature::sign(SECRET.as_bytes(), &body);
    (body, sig)
}

/// A dictionary of `n` phrases of 4 random CJK characters (seeded), plus the spam phrases.
fn word_list(n: usize) -> String {
    let mut out: String = PHRASES.iter().map(|p| format!("{p}\n")).collect();
    for i in 0..n as u64 {
        let r = mix(i ^ 0xd1c7);
        for k in 0..4 {
            let c = 0x4E00 + ((r >> (k * 16)) % 0x51A5) as u32;
            out.push(char::from_u32(c).unwrap_or('字'));
        }
        out.push('\n');
    }
    out
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The daemon's resident KiB by mapping: `[heap]`, other anonymous mappings, and the program
/// file (the mappings of `/proc/<pid>/exe`).
fn rss_by_mapping(pid: u32) -> (u64, u64, u64) {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    let exe = exe.to_string_lossy();
    let (mut heap, mut anon, mut program) = (0, 0, 0);
    let mut kind = 0;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            // A mapping's header: address range, perms, offset, device, inode, [path].
            let path = fields.nth(4).unwrap_or("");
            kind = match path {
                "[heap]" => 1,
                "" => 2,
                p if p == exe => 3,
                _ => 0,
            };
        } else if first == "Rss:" {
            let kib: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            match kind {
                1 => heap += kib,
                2 => anon += kib,
                3 => program += kib,
                _ => {}
            }
        }
    }
    (heap, anon, program)
}

/// Bytes allocated on disk under `dir` (what `du` counts).
fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        total += if meta.is_dir() {
            disk_bytes(&entry.path())
        } else {
            meta.blocks() * 512
        };
    }
    total
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The do-nothing gateway: every action answers ok (a fresh message id for sends).
async fn gateway(calls: Arc<AtomicU64>) -> SocketAddr {
    async fn action(
        State(calls): State<Arc<AtomicU64>>,
        UrlPath(_action): UrlPath<String>,
    ) -> axum::Json<serde_json::Value> {
        let n = calls.fetch_add(1, Ordering::Relaxed);
        axum::Json(
            json!({"status": "ok", "retcode": 0, "data": {"message_id": n as i64 + 1, "member_count": 300, "group_name": "soak"}, "echo": null}),
        )
    }
    let app = Router::new().route("/{action}", post(action)).with_state(calls);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("gateway") });
    addr
}

struct Daemon {
    child: Child,
    listen: SocketAddr,
    admin: SocketAddr,
    data: PathBuf,
}

fn start_daemon(o: &Options, root: &Path, gateway: SocketAddr) -> Daemon {
    let bin = std::env::var("QUNGUAN_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_qunguan").to_owned());
    let rules = root.join("rules");
    std::fs::create_dir_all(&rules).expect("rules dir");
    std::fs::write(rules.join("soak.txt"), word_list(o.phrases)).expect("word list");
    std::fs::write(rules.join("group-rules.md"), "欢迎！请遵守群规。\n").expect("group rules");
    let data = root.join("data");
    let listen = free_port();
    let admin = free_port();
    let mut command = Command::new(&bin);
    command
        .arg("run")
        .env("QUNGUAN__SERVER__LISTEN", listen.to_string())
        .env("QUNGUAN__SERVER__ADMIN_LISTEN", admin.to_string())
        .env("QUNGUAN__GATEWAY__ONEBOT__API_ROOT", format!("http://{gateway}"))
        .env("QUNGUAN__GATEWAY__ONEBOT__ACCESS_TOKEN", TOKEN)
        .env("QUNGUAN__GATEWAY__ONEBOT__SECRET", SECRET)
        .env("QUNGUAN__STORAGE__PATH", &data)
        .env("QUNGUAN__RULES__DIR", &rules)
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in &o.env {
        command.env(k, v);
    }
    let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    println!("daemon: {bin} (pid {})", child.id());
    Daemon {
        child,
        listen,
        admin,
        data,
    }
}

async fn wait_ready(http: &reqwest::Client, daemon: &mut Daemon) {
    let url = format!("http://{}/healthz", daemon.listen);
    for _ in 0..300 {
        if let Some(status) = daemon.child.try_wait().expect("child") {
            panic!("the daemon exited: {status}");
        }
        if http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the daemon did not answer /healthz within 30 s");
}

/// The in-memory structures' entries and capacity per `structure`, from `/metrics` (`None`
/// when it does not answer).
async fn bounds(http: &reqwest::Client, daemon: &Daemon) -> Option<std::collections::BTreeMap<String, [String; 2]>> {
    let url = format!("http://{}/metrics", daemon.admin);
    let text = async { http.get(&url).send().await?.text().await }.await.ok()?;
    let mut rows: std::collections::BTreeMap<String, [String; 2]> = std::collections::BTreeMap::new();
    for line in text.lines() {
        for (i, metric) in ["qunguan_memory_entries{", "qunguan_memory_capacity{"]
            .iter()
            .enumerate()
        {
            let Some(rest) = line.strip_prefix(metric) else {
                continue;
            };
            let Some((labels, value)) = rest.split_once("} ") else {
                continue;
            };
            let name = labels.trim_start_matches("structure=\"").trim_end_matches('"');
            rows.entry(name.to_owned()).or_default()[i] = value.to_owned();
        }
    }
    Some(rows)
}

/// The in-memory structures' sizes at the end of the stream: entries and capacity per
/// `structure`.
async fn print_bounds(http: &reqwest::Client, daemon: &Daemon) {
    let Some(rows) = bounds(http, daemon).await else {
        println!("(no /metrics)");
        return;
    };
    let line: Vec<String> = rows.iter().map(|(k, [n, cap])| format!("{k} {n}/{cap}")).collect();
    println!("bounds (entries/capacity): {}", line.join(", "));
}

/// The entries of the structures that are not empty, as one line under a row of the table
/// (so a step in the RSS can be matched with the structure that grew).
async fn print_entries(http: &reqwest::Client, daemon: &Daemon) {
    let Some(rows) = bounds(http, daemon).await else {
        return;
    };
    let line: Vec<String> = rows
        .iter()
        .filter(|(_, [n, _])| n != "0" && !n.is_empty())
        .map(|(k, [n, _])| format!("{k}={n}"))
        .collect();
    println!("{:>9} entries: {}", "", line.join(" "));
}

fn stop(daemon: &mut Daemon) {
    let pid = daemon.child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    for _ in 0..300 {
        if daemon.child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = daemon.child.kill();
    let _ = daemon.child.wait();
}

fn main() {
    let o = Arc::new(options());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(o));
}

async fn run(o: Arc<Options>) {
    let temp = tempfile::tempdir().expect("tempdir");
    let root = o.root.clone().unwrap_or_else(|| temp.path().to_owned());
    let calls = Arc::new(AtomicU64::new(0));
    let gateway = gateway(Arc::clone(&calls)).await;
    let mut daemon = start_daemon(&o, &root, gateway);
    let pid = daemon.child.id();
    let http = reqwest::Client::new();
    wait_ready(&http, &mut daemon).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "soak: {} events, {} connections, {GROUPS} groups x {MEMBERS} members, 8% spam, 2% joins; dictionary {} phrases{}",
        o.events,
        o.concurrency,
        o.phrases + PHRASES.len(),
        if o.name_chars > 0 {
            format!("; nicknames of {} characters", o.name_chars)
        } else {
            String::new()
        },
    );
    println!(
        "idle after start: RSS {:.1} MiB (peak {:.1} MiB), disk {:.2} MiB",
        proc_kib(pid, "VmRSS:") as f64 / 1024.0,
        proc_kib(pid, "VmHWM:") as f64 / 1024.0,
        mib(disk_bytes(&daemon.data)),
    );
    println!(
        "{:>9} {:>9} {:>8} {:>9} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "events",
        "elapsed_s",
        "ev/s",
        "rss_MiB",
        "peak_MiB",
        "disk_MiB",
        "disk_B/ev",
        "actions",
        "heap_MiB",
        "anon_MiB",
        "prog_MiB"
    );
    let url = Arc::new(format!("http://{}/onebot/v11", daemon.listen));
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..o.concurrency {
        let (o, url, next, done, failed) = (
            Arc::clone(&o),
            Arc::clone(&url),
            Arc::clone(&next),
            Arc::clone(&done),
            Arc::clone(&failed),
        );
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= o.events {
                    break;
                }
                let now = jiff::Timestamp::now().as_second();
                let (body, sig) = event(i, &o, now);
                let answered = http
                    .post(url.as_str())
                    .header("content-type", "application/json")
                    .header("x-self-id", SELF_ID.to_string())
                    .header("x-signature", sig)
                    .body(body)
                    .send()
                    .await;
                match answered {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => {
                        if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("event {i}: HTTP {}", r.status());
                        }
                    }
                    Err(e) => {
                        if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("event {i}: {e}");
                        }
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut reported = 0;
    let mut last = (Instant::now(), 0u64);
    while reported < o.events {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let n = done.load(Ordering::Relaxed);
        if n < reported + o.every && n < o.events {
            continue;
        }
        reported = n - n % o.every.min(n.max(1));
        if n >= o.events {
            reported = o.events;
        }
        let disk = disk_bytes(&daemon.data);
        let rate = (n - last.1) as f64 / last.0.elapsed().as_secs_f64();
        last = (Instant::now(), n);
        let (heap, anon, program) = rss_by_mapping(pid);
        println!(
            "{:>9} {:>9.1} {:>8.0} {:>9.1} {:>9.1} {:>9.1} {:>10.0} {:>9} {:>9.1} {:>9.1} {:>9.1}",
            n,
            started.elapsed().as_secs_f64(),
            rate,
            proc_kib(pid, "VmRSS:") as f64 / 1024.0,
            proc_kib(pid, "VmHWM:") as f64 / 1024.0,
            mib(disk),
            disk as f64 / n.max(1) as f64,
            calls.load(Ordering::Relaxed),
            heap as f64 / 1024.0,
            anon as f64 / 1024.0,
            program as f64 / 1024.0,
        );
        if o.entries {
            print_entries(&http, &daemon).await;
        }
    }
    for worker in workers {
        worker.await.expect("worker");
    }
    print_bounds(&http, &daemon).await;
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        println!("{failed} events were not answered 2xx");
    }
    tokio::time::sleep(Duration::from_secs(o.idle_secs)).await;
    let (heap, anon, program) = rss_by_mapping(pid);
    println!(
        "after {} s idle: RSS {:.1} MiB (peak {:.1} MiB; heap {:.1}, anon {:.1}, prog {:.1}), disk {:.1} MiB, {} actions delivered",
        o.idle_secs,
        proc_kib(pid, "VmRSS:") as f64 / 1024.0,
        proc_kib(pid, "VmHWM:") as f64 / 1024.0,
        heap as f64 / 1024.0,
        anon as f64 / 1024.0,
        program as f64 / 1024.0,
        mib(disk_bytes(&daemon.data)),
        calls.load(Ordering::Relaxed),
    );
    stop(&mut daemon);
    let disk = disk_bytes(&daemon.data);
    println!(
        "after shutdown: disk {:.1} MiB = {:.0} B per event",
        mib(disk),
        disk as f64 / o.events.max(1) as f64
    );
}
