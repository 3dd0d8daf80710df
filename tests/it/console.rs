//! The operators' console and its JSON API on the admin listener, over real HTTP: login, the
//! rate limit, sessions, CSRF, the bearer token, Undo (seen by `/strikes` in the group
//! afterwards), explain and reload; the listener's address rule; and a person's walk through
//! the pages in headless Chromium, with screenshots of every page.

use std::sync::OnceLock;
use std::time::Duration;

use qunguan::config::Secret;
use qunguan::domain::audit::{Actor, Measure};
use qunguan::domain::duration::HumanDuration;
use qunguan::domain::locale::Locale;
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::support::browser::{Browser, chromium};
use crate::support::fake_onebot::GROUP_NAME;
use crate::support::*;

const PASSWORD: &str = "correct horse battery";
const API_TOKEN: &str = "test-api-token-0123456789";
const ADMIN: i64 = 10;
const SPAMMER: i64 = 20_001;

/// The argon2id hash of [`PASSWORD`], computed once (hashing is slow on purpose).
fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| qunguan::runtime::console::auth::hash_password(PASSWORD).expect("hash"))
        .clone()
}

/// Options with the console on: password, API token, a small login limit; no file watching
/// (the reload test reloads by hand).
fn console_options(tweak: impl Fn(&mut qunguan::config::Settings) + Send + Sync + 'static) -> Options {
    let hash = password_hash();
    Options {
        tweak: Box::new(move |s| {
            s.console.password_hash = Secret::new(hash.clone());
            s.console.api_token = Secret::new(API_TOKEN);
            s.console.login_failures = 3;
            s.console.login_window = HumanDuration::from_secs(600);
            s.rules.watch = false;
            tweak(s);
        }),
        ..Options::default()
    }
}

/// An HTTP client that does not follow redirects (the tests look at them).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(PATIENCE)
        .build()
        .expect("client")
}

fn admin(app: &TestApp) -> String {
    app.admin.clone().expect("the admin listener is on")
}

/// Logs in and returns the session cookie (`qunguan_session=…`).
async fn login(app: &TestApp) -> String {
    let response = client()
        .post(format!("{}/console/login", admin(app)))
        .form(&[("password", PASSWORD), ("name", "小王")])
        .send()
        .await
        .expect("login answers");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/console/");
    let cookie = response.headers()[SET_COOKIE].to_str().expect("ascii").to_owned();
    cookie.split(';').next().expect("name=value").to_owned()
}

/// GETs a console path with the session cookie.
async fn get_with(app: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path}", admin(app)))
        .header("cookie", cookie)
        .answers()
        .await
}

/// The page's CSRF token (from any of its forms).
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf_token\" value=\"")
        .expect("a form with the CSRF token");
    let rest = &html[at + "name=\"csrf_token\" value=\"".len()..];
    rest[..rest.find('"').expect("closing quote")].to_owned()
}

/// A member posts spam: the filter warns them (case #1, one strike).
async fn spam_case(app: &TestApp) {
    let before = app.gateway.delivered().len();
    let spam = group_message(501, SPAMMER, "member", "加微信领取福利");
    assert_eq!(app.post_event(&spam).await, StatusCode::NO_CONTENT);
    app.gateway.wait_delivered(before + 2, PATIENCE).await;
    let cases = app.cases().await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    assert_eq!((cases[0].case, cases[0].strikes_after), (1, 1));
}

/// An admin writes `text` (a command) in the group; returns the bot's answer.
async fn admin_reply(app: &TestApp, message_id: i64, text: &str) -> String {
    let before = app.gateway.delivered().len();
    let ask = command(message_id, ADMIN, "admin", text);
    assert_eq!(app.post_event(&ask).await, StatusCode::NO_CONTENT);
    let calls = app.gateway.wait_delivered(before + 1, PATIENCE).await;
    let reply = calls[before..]
        .iter()
        .find(|c| c.action == "send_group_msg")
        .unwrap_or_else(|| panic!("the bot answers {text}"));
    sent_text(reply)
}

/// An admin asks `/strikes @spammer` in the group; returns the bot's answer.
async fn strikes_reply(app: &TestApp, message_id: i64) -> String {
    admin_reply(app, message_id, &format!("/strikes {{@{SPAMMER}}}")).await
}

/// A request the admin listener must answer (any status).
trait Answers {
    async fn answers(self) -> reqwest::Response;
}

impl Answers for reqwest::RequestBuilder {
    async fn answers(self) -> reqwest::Response {
        self.send().await.expect("answers")
    }
}

fn bearer(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request.header("authorization", format!("Bearer {API_TOKEN}"))
}

#[tokio::test]
async fn login_sessions_logout_and_the_rate_limit() {
    let app = TestApp::spawn_with(console_options(|_| {})).await;
    let base = admin(&app);
    let http = client();
    // Not logged in: every console page sends the browser to the login form.
    for path in ["/console/", "/console/audit", "/console/g/qq:1", "/console/nope"] {
        let r = http.get(format!("{base}{path}")).answers().await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.headers()[LOCATION], "/console/login", "{path}");
    }
    let form = http.get(format!("{base}/console/login")).answers().await;
    assert_eq!(form.status(), StatusCode::OK);
    assert!(form.text().await.expect("body").contains("name=\"password\""));

    // A wrong password: 401, no cookie.
    let wrong = http
        .post(format!("{base}/console/login"))
        .form(&[("password", "not it")])
        .answers()
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    assert!(wrong.text().await.expect("body").contains("密码错误"));

    // The right one: 303 to the console with an HttpOnly, SameSite=Strict cookie.
    let ok = http
        .post(format!("{base}/console/login"))
        .form(&[("password", PASSWORD)])
        .answers()
        .await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(ok.headers()[LOCATION], "/console/");
    let set = ok.headers()[SET_COOKIE].to_str().expect("ascii").to_owned();
    assert!(set.starts_with("qunguan_session="), "{set}");
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
    assert!(!set.contains("Secure"), "secure_cookie is off: {set}");
    let cookie = set.split(';').next().expect("pair").to_owned();
    let page = get_with(&app, &cookie, "/console/").await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let html = page.text().await.expect("body");
    assert!(html.contains("群组"), "Chinese by default");

    // Three wrong passwords from this address (the count began again at the login) reach the
    // limit of 3; then even the right password is refused with 429, without a cookie.
    for _ in 0..3 {
        let r = http
            .post(format!("{base}/console/login"))
            .form(&[("password", "still not it")])
            .answers()
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = http
        .post(format!("{base}/console/login"))
        .form(&[("password", PASSWORD)])
        .answers()
        .await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().get(SET_COOKIE).is_none());
    assert!(limited.headers().get("retry-after").is_some());
    // The existing session is not affected, and the window passes on the daemon's clock.
    assert_eq!(get_with(&app, &cookie, "/console/").await.status(), StatusCode::OK);
    app.advance(Duration::from_secs(601));
    let second = login(&app).await;
    let metrics = app.admin_get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("qunguan_console_logins_total{result=\"limited\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("qunguan_console_logins_total{result=\"failed\"} 4"),
        "{metrics}"
    );
    assert!(metrics.contains("qunguan_console_sessions 2"), "{metrics}");

    // Logout needs the CSRF token, and ends that session only.
    let csrf = csrf_of(&get_with(&app, &second, "/console/").await.text().await.expect("body"));
    let refused = http
        .post(format!("{base}/console/logout"))
        .header("cookie", &second)
        .form(&[("csrf_token", "wrong")])
        .answers()
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(get_with(&app, &second, "/console/").await.status(), StatusCode::OK);
    let out = http
        .post(format!("{base}/console/logout"))
        .header("cookie", &second)
        .form(&[("csrf_token", csrf.as_str())])
        .answers()
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(out.headers()[SET_COOKIE].to_str().expect("ascii").contains("Max-Age=0"));
    assert_eq!(
        get_with(&app, &second, "/console/").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(get_with(&app, &cookie, "/console/").await.status(), StatusCode::OK);

    // Sessions expire after session_ttl (12 h).
    app.advance(Duration::from_secs(12 * 3600 + 1));
    assert_eq!(
        get_with(&app, &cookie, "/console/").await.status(),
        StatusCode::SEE_OTHER
    );
    app.stop().await;
}

#[tokio::test]
async fn secure_cookies_and_english_pages_when_configured() {
    let app = TestApp::spawn_with(console_options(|s| {
        s.console.secure_cookie = true;
        s.messages.locale = Locale::En;
    }))
    .await;
    let ok = client()
        .post(format!("{}/console/login", admin(&app)))
        .form(&[("password", PASSWORD)])
        .answers()
        .await;
    let set = ok.headers()[SET_COOKIE].to_str().expect("ascii").to_owned();
    assert!(set.contains("; Secure"), "{set}");
    let cookie = set.split(';').next().expect("pair").to_owned();
    let html = get_with(&app, &cookie, "/console/rules")
        .await
        .text()
        .await
        .expect("body");
    assert!(
        html.contains("Reload the rules") && html.contains("lang=\"en\""),
        "{html}"
    );
    app.stop().await;
}

#[tokio::test]
async fn csrf_refusal_changes_nothing() {
    let app = TestApp::spawn_with(console_options(|_| {})).await;
    spam_case(&app).await;
    let cookie = login(&app).await;
    let base = admin(&app);
    let http = client();
    let undo = format!("{base}/api/v1/cases/qq:{GROUP}:1/undo");
    // The API with the cookie but without, or with a wrong, X-CSRF-Token.
    for token in [None, Some("0123")] {
        let mut request = http.post(&undo).header("cookie", &cookie);
        if let Some(t) = token {
            request = request.header("x-csrf-token", t);
        }
        let r = request.answers().await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let body: Value = r.json().await.expect("JSON error");
        assert!(body["error"].as_str().expect("error").contains("CSRF"), "{body}");
    }
    // The page's Undo form without the token field.
    let form = http
        .post(format!("{base}/console/undo"))
        .header("cookie", &cookie)
        .form(&[("group", format!("qq:{GROUP}")), ("case", "1".into())])
        .answers()
        .await;
    assert_eq!(form.status(), StatusCode::FORBIDDEN);
    // And the Reload button without it.
    let reload = http
        .post(format!("{base}/console/rules/reload"))
        .header("cookie", &cookie)
        .answers()
        .await;
    assert_eq!(reload.status(), StatusCode::FORBIDDEN);
    // Nothing changed: one case, not undone; the strike still counts; no reload happened.
    let cases = app.cases().await;
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].undone_by, None);
    assert!(strikes_reply(&app, 601).await.contains("当前有效警告 1/3 次"));
    let metrics = app.admin_get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("qunguan_rules_reloads_total{result=\"ok\"} 0"),
        "{metrics}"
    );

    // With the page's token the same request works.
    let csrf = csrf_of(
        &get_with(&app, &cookie, "/console/audit")
            .await
            .text()
            .await
            .expect("body"),
    );
    let r = http
        .post(&undo)
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .answers()
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let done: Value = r.json().await.expect("JSON");
    assert_eq!(done["undone"], format!("qq:{GROUP}:1"));
    app.stop().await;
}

#[tokio::test]
async fn bearer_access_and_json_errors() {
    let app = TestApp::spawn_with(console_options(|_| {})).await;
    spam_case(&app).await;
    let base = admin(&app);
    let http = client();
    // Scrapers' endpoints stay open; the rest needs a login or the token.
    assert_eq!(app.admin_get("/metrics").await.status(), StatusCode::OK);
    assert_eq!(app.admin_get("/healthz").await.status(), StatusCode::OK);
    let stats = http.get(format!("{base}/stats/qq:{GROUP}")).answers().await;
    assert_eq!(stats.status(), StatusCode::SEE_OTHER);
    let stats = bearer(http.get(format!("{base}/stats/qq:{GROUP}"))).answers().await;
    assert_eq!(stats.status(), StatusCode::OK);

    for auth in [None, Some("Bearer wrong-token-0123456789"), Some("Basic abc")] {
        let mut request = http.get(format!("{base}/api/v1/groups"));
        if let Some(a) = auth {
            request = request.header("authorization", a);
        }
        let r = request.answers().await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        let body: Value = r.json().await.expect("JSON error");
        assert!(body["error"].is_string(), "{body}");
    }
    let groups: Value = bearer(http.get(format!("{base}/api/v1/groups")))
        .answers()
        .await
        .json()
        .await
        .expect("JSON");
    let row = &groups["groups"][0];
    assert_eq!(row["group"], format!("qq:{GROUP}"));
    assert_eq!(row["platform"], "qq");
    assert_eq!(row["name"], GROUP_NAME);
    assert_eq!(row["account"], SELF_ID);
    assert_eq!(
        (row["messages_7d"].as_u64(), row["violations_7d"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(row["daily_messages"].as_array().expect("trend").len(), 14);

    let group: Value = bearer(http.get(format!("{base}/api/v1/groups/qq:{GROUP}?days=7")))
        .answers()
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(group["days"].as_array().expect("days").len(), 7);
    assert_eq!(group["days"][6]["partial"], true);
    assert_eq!(group["violations"][0]["id"], format!("qq:{GROUP}:1"));
    assert_eq!(group["violations"][0]["excerpt"], "加微信领取福利");
    assert_eq!(group["violations"][0]["undoable"], true);
    assert_eq!(group["strikes"][0]["user_id"], SPAMMER);

    let cases: Value = bearer(http.get(format!("{base}/api/v1/cases?group=qq:{GROUP}&member={SPAMMER}&limit=5")))
        .answers()
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(cases["cases"].as_array().expect("cases").len(), 1);
    let none: Value = bearer(http.get(format!("{base}/api/v1/cases?member=42")))
        .answers()
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(none["cases"], json!([]));

    for (path, status) in [
        ("/api/v1/groups/qq:abc", StatusCode::BAD_REQUEST),
        ("/api/v1/groups/qq:5", StatusCode::NOT_FOUND),
        ("/api/v1/cases?limit=0", StatusCode::BAD_REQUEST),
        ("/api/v1/cases?since=yesterday", StatusCode::BAD_REQUEST),
        ("/api/v1/cases?actor=robot", StatusCode::BAD_REQUEST),
        ("/api/v1/bans", StatusCode::NOT_FOUND),
    ] {
        let r = bearer(http.get(format!("{base}{path}"))).answers().await;
        assert_eq!(r.status(), status, "{path}");
        let body: Value = r.json().await.expect("JSON error");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    // A bearer POST needs no CSRF token; a case that does not exist is 404, a bad id 400.
    let missing = bearer(http.post(format!("{base}/api/v1/cases/qq:{GROUP}:99/undo")))
        .answers()
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let bad = bearer(http.post(format!("{base}/api/v1/cases/99/undo")))
        .answers()
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

#[tokio::test]
async fn undo_through_the_api_is_seen_by_strikes_in_the_group() {
    let app = TestApp::spawn_with(console_options(|_| {})).await;
    spam_case(&app).await;
    assert!(strikes_reply(&app, 601).await.contains("当前有效警告 1/3 次"));
    let http = client();
    let undo = format!("{}/api/v1/cases/qq:{GROUP}:1/undo", admin(&app));
    let r = bearer(http.post(&undo)).answers().await;
    assert_eq!(r.status(), StatusCode::OK);
    let done: Value = r.json().await.expect("JSON");
    assert_eq!(done["case"], 2);
    assert_eq!(done["id"], format!("qq:{GROUP}:2"));
    assert_eq!(
        (done["removed"].as_u64(), done["strikes_after"].as_u64()),
        (Some(1), Some(0))
    );

    // The group sees it: /strikes now finds none.
    let reply = strikes_reply(&app, 602).await;
    assert!(reply.contains("没有有效的警告记录"), "{reply}");
    // The audit log says who undid what.
    let cases = app.cases().await;
    assert_eq!(cases[0].undone_by, Some(2));
    let undo_case = &cases[1];
    assert_eq!(undo_case.measure, Measure::Pardon { removed: 1 });
    assert_eq!(undo_case.undoes, Some(1));
    assert_eq!((undo_case.strikes_before, undo_case.strikes_after), (1, 0));
    assert!(
        matches!(&undo_case.actor, Actor::Console { name, address } if name == "api" && address == "127.0.0.1"),
        "{:?}",
        undo_case.actor
    );
    // Undone once only.
    let again = bearer(http.post(&undo)).answers().await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let body: Value = again.json().await.expect("JSON");
    assert!(
        body["error"]
            .as_str()
            .expect("error")
            .contains("already undone by case #2"),
        "{body}"
    );
    // An undo case itself cannot be undone.
    let undo_of_undo = bearer(http.post(format!("{}/api/v1/cases/qq:{GROUP}:2/undo", admin(&app))))
        .answers()
        .await;
    assert_eq!(undo_of_undo.status(), StatusCode::CONFLICT);
    app.stop().await;
}

#[tokio::test]
async fn explain_and_reload_through_the_api_and_the_rules_page() {
    let app = TestApp::spawn_with(console_options(|_| {})).await;
    let base = admin(&app);
    let http = client();
    let explain = |text: &str| {
        bearer(http.post(format!("{base}/api/v1/explain")))
            .json(&json!({"text": text, "group": format!("qq:{GROUP}")}))
            .send()
    };
    let r = explain("加微信领取福利").await.expect("answers");
    assert_eq!(r.status(), StatusCode::OK);
    let x: Value = r.json().await.expect("JSON");
    assert_eq!(x["violation"], "ads");
    assert_eq!(x["hits"][0]["matched"], "加微信");
    assert!(
        x["explanation"]
            .as_str()
            .expect("text")
            .contains("决定：        违反规则 ads（命中硬性词）"),
        "{x}"
    );
    let clean: Value = explain("刷单返利找我")
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(clean["violation"], Value::Null);
    for (body, status) in [
        (json!({"text": ""}), StatusCode::BAD_REQUEST),
        (json!({"text": "x", "group": "xx:1"}), StatusCode::BAD_REQUEST),
        (json!({"nope": 1}), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let r = bearer(http.post(format!("{base}/api/v1/explain")))
            .json(&body)
            .answers()
            .await;
        assert_eq!(r.status(), status, "{body}");
        assert!(r.json::<Value>().await.expect("JSON")["error"].is_string());
    }
    let not_json = bearer(http.post(format!("{base}/api/v1/explain")))
        .header("content-type", "application/json")
        .body("{")
        .answers()
        .await;
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    assert!(not_json.json::<Value>().await.expect("JSON")["error"].is_string());

    // A new list, reloaded through the API, is live at once.
    let rules = app.root.path().join("rules");
    std::fs::write(rules.join("scam.txt"), "刷单返利\n").expect("write");
    let r = bearer(http.post(format!("{base}/api/v1/reload"))).answers().await;
    assert_eq!(r.status(), StatusCode::OK);
    let ok: Value = r.json().await.expect("JSON");
    assert!(ok["summary"].as_str().expect("summary").contains("scam"), "{ok}");
    let now: Value = explain("刷单返利找我")
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(now["violation"], "scam");

    // A broken file: 422 naming file and line; the previous rules stay live.
    std::fs::write(rules.join("rules.toml"), "# settings\n[rules.nosuch]\nmode = \"cue\"\n").expect("write");
    let r = bearer(http.post(format!("{base}/api/v1/reload"))).answers().await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = r.json().await.expect("JSON");
    let message = err["error"].as_str().expect("error").to_owned();
    assert!(message.contains("rules.toml:2:"), "{message}");
    let still: Value = explain("刷单返利找我")
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(still["violation"], "scam");

    // The Rules page shows the lists with counts and that failed reload with file:line, and
    // its own explain box works with the CSRF token.
    let cookie = login(&app).await;
    let html = get_with(&app, &cookie, "/console/rules")
        .await
        .text()
        .await
        .expect("body");
    assert!(html.contains("rules.toml:2:"), "{html}");
    // A list without a display name is shown under the generic one, its file stem beside it.
    assert!(
        html.contains("<td>违规内容 <code>scam</code></td><td class=\"n\">1</td>"),
        "{html}"
    );
    let csrf = csrf_of(&html);
    let explained = http
        .post(format!("{base}/console/rules/explain"))
        .header("cookie", &cookie)
        .form(&[("csrf_token", csrf.as_str()), ("text", "加微信"), ("group", "")])
        .answers()
        .await;
    assert_eq!(explained.status(), StatusCode::OK);
    let page = explained.text().await.expect("body");
    assert!(page.contains("决定：        违反规则 ads（命中硬性词）"), "{page}");
    // The page's Reload button: fix the file, reload, and the page reports success.
    std::fs::remove_file(rules.join("rules.toml")).expect("remove");
    let reload = http
        .post(format!("{base}/console/rules/reload"))
        .header("cookie", &cookie)
        .form(&[("csrf_token", csrf.as_str())])
        .answers()
        .await;
    assert_eq!(reload.status(), StatusCode::SEE_OTHER);
    let html = get_with(&app, &cookie, "/console/rules")
        .await
        .text()
        .await
        .expect("body");
    assert!(html.contains("重载成功"), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn every_page_renders_for_a_logged_in_operator() {
    let app = TestApp::spawn_with(console_options(|_| {})).await;
    spam_case(&app).await;
    let cookie = login(&app).await;
    for (path, needle) in [
        ("/console/", "id=\"groups\""),
        (&*format!("/console/g/qq:{GROUP}"), "id=\"chart-actions\""),
        // The spammer spoke today: one active member in the tiers.
        (&*format!("/console/g/qq:{GROUP}"), "data-tier=\"active\""),
        ("/console/audit", "id=\"cases\""),
        (
            &*format!("/console/audit?group=qq:{GROUP}&actor=auto&from=2020-01-01"),
            "加微信领取福利",
        ),
        ("/console/review", "加微信领取福利"),
        ("/console/rules", "id=\"lists\""),
        ("/console/health", "id=\"gateways\""),
    ] {
        let r = get_with(&app, &cookie, path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let html = r.text().await.expect("body");
        assert!(html.contains(needle), "{path}: {needle}\n{html}");
        assert!(!html.contains(GROUP_NAME), "{path}: the group name is escaped");
    }
    // Operators read a rule by the name members see; its id (the word list's file stem) is
    // only the tooltip, and the rules page, which is about the files, shows it beside.
    for path in [&*format!("/console/g/qq:{GROUP}"), "/console/audit"] {
        let html = get_with(&app, &cookie, path).await.text().await.expect("body");
        assert!(html.contains("<span title=\"ads\">广告</span>"), "{path}: {html}");
        assert!(!html.contains(">ads<"), "{path}: never the bare id: {html}");
    }
    let rules = get_with(&app, &cookie, "/console/rules")
        .await
        .text()
        .await
        .expect("body");
    assert!(rules.contains("广告 <code>ads</code>"), "{rules}");
    let health = get_with(&app, &cookie, "/console/health")
        .await
        .text()
        .await
        .expect("body");
    assert!(health.contains("✓ 可连接"), "the fake gateway answers: {health}");
    assert!(health.contains(env!("CARGO_PKG_VERSION")));
    let audit = get_with(&app, &cookie, "/console/audit?group=qq:x").await;
    assert_eq!(audit.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        get_with(&app, &cookie, "/console/nope").await.status(),
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[test]
fn an_admin_listener_off_loopback_needs_a_password_or_a_token() {
    let mut settings = qunguan::config::Settings::default();
    settings.server.admin_listen = Some("0.0.0.0:9090".parse().expect("addr"));
    let issues = settings.validate().expect_err("refused");
    assert!(
        issues
            .iter()
            .any(|i| i.key == "server.admin_listen" && i.reason.contains("console.password_hash")),
        "{issues:?}"
    );
    settings.console.api_token = Secret::new(API_TOKEN);
    assert_eq!(settings.validate(), Ok(()));
    settings.console.api_token = Secret::new("short");
    let issues = settings.validate().expect_err("refused");
    assert!(issues.iter().any(|i| i.key == "console.api_token"), "{issues:?}");
    settings.console.api_token = Secret::default();
    settings.console.password_hash = Secret::new("$2b$12$notargon");
    let issues = settings.validate().expect_err("refused");
    assert!(issues.iter().any(|i| i.key == "console.password_hash"), "{issues:?}");
    assert!(!format!("{issues:?}").contains("notargon"), "secrets are not echoed");
}

#[tokio::test]
async fn the_daemon_refuses_to_start_with_an_open_admin_listener_and_says_why() {
    let root = tempfile::tempdir().expect("tempdir");
    write_default_rules(&root.path().join("rules"));
    let output = tokio::process::Command::new(BIN)
        .arg("run")
        .env("QUNGUAN__STORAGE__PATH", root.path().join("data"))
        .env("QUNGUAN__RULES__DIR", root.path().join("rules"))
        .env("QUNGUAN__SERVER__LISTEN", "127.0.0.1:0")
        // Validation refuses it before anything is bound.
        .env("QUNGUAN__SERVER__ADMIN_LISTEN", "0.0.0.0:0")
        .env("QUNGUAN__GATEWAY__ONEBOT__SECRET", SECRET)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(PATIENCE, output)
        .await
        .expect("exits")
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("server.admin_listen"), "{stderr}");
    assert!(stderr.contains("console.password_hash"), "{stderr}");
}

#[tokio::test]
async fn a_person_logs_in_opens_a_group_and_undoes_a_case_in_headless_chromium() {
    let Some(binary) = chromium() else {
        assert!(
            std::env::var("QUNGUAN_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "QUNGUAN_REQUIRE_BROWSER=1 but no chromium is installed (apt-get install chromium)"
        );
        eprintln!("SKIPPED the console browser test: no chromium (apt-get install chromium)");
        return;
    };
    let app = TestApp::spawn_with(console_options(|_| {})).await;
    spam_case(&app).await;
    // A second member and some talk, so the pages have more than one row to show.
    for (id, user, text) in [
        (502, 20_002, "大家早上好"),
        (503, 20_003, "今晚的分享几点开始？"),
        (504, 20_002, "八点"),
    ] {
        assert_eq!(
            app.post_event(&group_message(id, user, "member", text)).await,
            StatusCode::NO_CONTENT
        );
    }
    let base = admin(&app);
    let browser = Browser::start(&binary).await;

    // The groups page first: not logged in, so the login form.
    browser.goto(&format!("{base}/console/")).await;
    assert!(
        browser.url().await.ends_with("/console/login"),
        "{}",
        browser.url().await
    );
    let shots = tempfile::tempdir().expect("screenshot dir");
    let shoot = |name: &'static str| {
        let dir = shots.path().to_owned();
        let browser = &browser;
        async move {
            for (width, suffix) in [(1280, "desktop"), (390, "phone")] {
                browser
                    .screenshot(width, &dir.join(format!("{name}-{suffix}.png")))
                    .await;
            }
        }
    };
    shoot("login").await;
    browser.type_into("#password", PASSWORD).await;
    browser.type_into("#name", "小王").await;
    browser.click_and_wait("form.login button").await;
    assert!(browser.url().await.ends_with("/console/"), "{}", browser.url().await);
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#groups tbody tr').length")
            .await,
        json!(1)
    );
    // The filter box narrows the table as one types (the inline script).
    browser.type_into("#q", "zzz").await;
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#groups tbody tr:not([hidden])').length")
            .await,
        json!(0)
    );
    browser
        .eval("var q=document.getElementById('q'); q.value=''; q.dispatchEvent(new Event('input')); 0")
        .await;
    shoot("groups").await;

    // Open the group.
    browser.click_and_wait("#groups tbody a").await;
    assert!(browser.url().await.ends_with(&format!("/console/g/qq:{GROUP}")));
    assert!(
        browser.text("#group").await.contains("Rust <b>学习</b>群"),
        "the name is text"
    );
    assert_eq!(
        browser
            .eval("document.querySelectorAll('svg[id^=chart-]').length")
            .await,
        json!(6)
    );
    shoot("group").await;

    // Click Undo on case #1 and confirm.
    let undo = format!("button.undo[data-case='qq:{GROUP}:1']");
    browser.click_and_wait(&undo).await;
    assert_eq!(
        browser.dialogs.lock().expect("lock").as_slice(),
        ["撤销这个案件给的警告？"]
    );
    assert!(browser.url().await.ends_with(&format!("/console/g/qq:{GROUP}")));
    let flash = browser.text("#flash").await;
    assert!(flash.contains(&format!("已撤销：qq:{GROUP} #1 → #2")), "{flash}");
    let row = browser.text(&format!("tr[data-case='qq:{GROUP}:1']")).await;
    assert!(row.contains("已撤销，见案件 #2"), "{row}");
    assert_eq!(
        browser
            .eval(&format!("document.querySelectorAll(\"{undo}\").length"))
            .await,
        json!(0)
    );
    assert_eq!(browser.text("#strikes").await, "", "no member has strikes left");

    // The resulting state, seen from outside the browser.
    let cases = app.cases().await;
    assert_eq!(cases[0].undone_by, Some(2));
    assert!(
        matches!(&cases[1].actor, Actor::Console { name, .. } if name == "小王"),
        "{:?}",
        cases[1].actor
    );
    assert!(strikes_reply(&app, 700).await.contains("没有有效的警告记录"));

    // The other pages, for the record.
    for (path, name) in [
        ("/console/audit", "audit"),
        ("/console/review", "review"),
        ("/console/rules", "rules"),
        ("/console/health", "health"),
    ] {
        browser.goto(&format!("{base}{path}")).await;
        shoot(name).await;
    }
    browser.goto(&format!("{base}/console/rules")).await;
    browser
        .type_into("textarea[name=text]", "加微信领取福利，兼职日结")
        .await;
    browser
        .click_and_wait("form[action='/console/rules/explain'] button")
        .await;
    assert!(browser.text("#explanation").await.contains("违反规则 ads"));
    shoot("rules-explain").await;
    // Kept when asked (QUNGUAN_SCREENSHOTS=<dir>), e.g. to refresh docs/screenshots/.
    if let Ok(keep) = std::env::var("QUNGUAN_SCREENSHOTS") {
        std::fs::create_dir_all(&keep).expect("screenshot dir");
        for entry in std::fs::read_dir(shots.path()).expect("shots") {
            let path = entry.expect("entry").path();
            std::fs::copy(&path, std::path::Path::new(&keep).join(path.file_name().expect("name"))).expect("copy");
        }
    }
    let count = std::fs::read_dir(shots.path()).expect("shots").count();
    assert_eq!(count, 8 * 2, "every page at both widths");
    app.stop().await;
}

#[tokio::test]
async fn explain_through_the_api_judges_with_the_learned_samples() {
    let app = TestApp::spawn_with(console_options(|_| {})).await;
    let data = app.root.path().join("data");
    // The CLI reads the rules (to normalize imports) from <data>/rules in these tests.
    write_default_rules(&data.join("rules"));
    let file = app.root.path().join("import.jsonl");
    let ad = "本群福利：扫码关注公众号领取五十元话费，名额有限先到先得";
    std::fs::write(&file, format!("{}\n", json!({"label": "spam", "text": ad}))).expect("write");
    let out = cli(&data, &["samples", "import", file.to_str().expect("utf-8")]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let explain = |text: &str| {
        bearer(client().post(format!("{}/api/v1/explain", admin(&app))))
            .json(&json!({ "text": text }))
            .send()
    };
    // Another price, the same template: learned spam, as the pipeline would judge it.
    let r = explain("本群福利 扫码关注公众号领取一百元话费，名额有限先到先得！")
        .await
        .expect("answers");
    assert_eq!(r.status(), StatusCode::OK);
    let x: Value = r.json().await.expect("JSON");
    assert_eq!(x["violation"], "learned", "{x}");
    let text = x["explanation"].as_str().expect("text");
    for want in [
        "已学习：      与管理员标记的广告样本 #1 相似（相似度 ",
        "决定：        违反规则 learned",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // An ordinary message matches nothing.
    let x: Value = explain("今天天气不错，一起去公园散步吧")
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert!(x["violation"].is_null(), "{x}");
    assert!(!x["explanation"].as_str().expect("text").contains("已学习："), "{x}");
    app.stop().await;
}

/// The audit archive through the real daemon: with `[audit] hot_cases = 2`, the mover takes
/// a group's older cases out of the database into day files; `/why` of an archived case,
/// Undo of one, and the operators' listing (`qunguan audit`) still find them, across a
/// restart.
#[tokio::test]
async fn archived_cases_answer_why_undo_and_the_audit_listing_across_a_restart() {
    let options = || console_options(|s| s.audit.hot_cases = 2);
    let app = TestApp::spawn_with(options()).await;
    for i in 0..6 {
        let before = app.gateway.delivered().len();
        let spam = group_message(700 + i, SPAMMER + 1 + i, "member", "加微信领取福利");
        assert_eq!(app.post_event(&spam).await, StatusCode::NO_CONTENT);
        app.gateway.wait_delivered(before + 2, PATIENCE).await;
    }
    app.wait_metrics(&[
        ("qunguan_audit_cases_archived_total", "4"),
        ("qunguan_audit_hot_cases", "2"),
        ("qunguan_audit_archive_files", "1"),
    ])
    .await;
    let archive = app.root.path().join("data").join("archive");
    let files: Vec<_> = std::fs::read_dir(&archive).expect("the archive folder").collect();
    assert_eq!(files.len(), 1, "one day file");

    // /why of an archived case.
    let why = admin_reply(&app, 800, "/why 1").await;
    assert!(why.starts_with("案件 #1（"), "{why}");
    assert!(why.contains(&format!("对象：user{0} ({0})", SPAMMER + 1)), "{why}");

    // Undo of an archived case: the undone case goes back into the database with its mark.
    let undo = format!("{}/api/v1/cases/qq:{GROUP}:2/undo", admin(&app));
    let r = bearer(client().post(&undo)).answers().await;
    assert_eq!(r.status(), StatusCode::OK);
    let done: Value = r.json().await.expect("JSON");
    assert_eq!(done["case"], 7);
    let r = bearer(client().post(&undo)).answers().await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "undone once only");

    // The listing holds every case, the undone one marked.
    let cases = app.cases().await;
    assert_eq!(
        cases.iter().map(|c| c.case).collect::<Vec<_>>(),
        (1..=7).collect::<Vec<_>>()
    );
    assert_eq!(cases[1].undone_by, Some(7));
    assert_eq!(cases[6].undoes, Some(2));

    // After a restart (and the mover's next passes), the same.
    let app = app.restart(options()).await;
    app.wait_metrics(&[("qunguan_audit_hot_cases", "2")]).await;
    let after = app.cases().await;
    assert_eq!(after, cases);
    let why = admin_reply(&app, 801, "/why 2").await;
    assert!(why.starts_with("案件 #2（"), "{why}");
    app.stop().await;
}
