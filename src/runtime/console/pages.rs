//! The console's HTML pages, rendered on the server with maud (every value from outside —
//! group and member names, message text, rule names — is escaped by the template).
//!
//! Each page is sent with a Content-Security-Policy that forbids every fetch and allows only
//! its own inline script (by a fresh nonce), `no-store` caching, and `X-Frame-Options: DENY`.
//! Every state change is a `POST` form carrying the session's CSRF token; after it the page
//! redirects (303) back, with the outcome shown once on the next page.

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;

use super::auth::{Auth, CSRF_FIELD, CSRF_HEADER, Caller, Login};
use super::data::{self, CaseQuery, CaseView, GroupDetail, GroupRow};
use super::text::{Texts, texts};
use super::{Client, ConsoleState, api};
use crate::domain::audit::{Actor, AuditEntry};
use crate::domain::event::GroupId;
use crate::domain::locale::Locale;
use crate::domain::metrics::Reloaded;
use crate::policy::i18n;
use crate::service::stats::page as charts;

/// Days the group page charts.
const GROUP_DAYS: i64 = 30;
/// Cases the audit and review pages list unless asked for fewer.
const LIST_LIMIT: usize = 200;

/// The only script of the console, sent inline with a nonce. It makes the pages quicker,
/// never necessary: each form and link works without it.
const SCRIPT: &str = r#"
document.querySelectorAll('form[data-confirm]').forEach(function (f) {
  f.addEventListener('submit', function (e) { if (!window.confirm(f.dataset.confirm)) { e.preventDefault(); } });
});
var q = document.getElementById('q'), table = document.getElementById('groups');
if (q && table) {
  var body = table.tBodies[0];
  q.addEventListener('input', function () {
    var v = q.value.trim().toLowerCase();
    Array.prototype.forEach.call(body.rows, function (r) { r.hidden = v !== '' && r.dataset.search.indexOf(v) < 0; });
  });
  table.querySelectorAll('th[data-key] a').forEach(function (a) {
    a.addEventListener('click', function (e) {
      e.preventDefault();
      var th = a.parentNode, key = th.dataset.key, num = th.dataset.num === '1';
      var dir = th.dataset.dir === 'desc' ? 'asc' : 'desc';
      table.querySelectorAll('th[data-key]').forEach(function (h) { delete h.dataset.dir; });
      th.dataset.dir = dir;
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (x, y) {
        var a1 = x.dataset[key] || '', b1 = y.dataset[key] || '';
        var c = num ? (parseFloat(a1 || '-1e18') - parseFloat(b1 || '-1e18')) : a1.localeCompare(b1);
        return dir === 'asc' ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
}
"#;

const STYLE: &str = "\
*{box-sizing:border-box}\
body{font-family:system-ui,-apple-system,'PingFang SC','Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:0;color:#1f2328;background:#f6f7f9;font-size:15px}\
header{background:#1f3b5c;color:#fff;padding:.5em 1em;display:flex;flex-wrap:wrap;align-items:center;gap:.4em 1.2em}\
header .brand{font-weight:600;margin-right:.5em}\
header nav{display:flex;flex-wrap:wrap;gap:.2em .9em;flex:1}\
header a{color:#dfe9f5;text-decoration:none;padding:.2em 0}header a.on{color:#fff;border-bottom:2px solid #fff}\
header form{margin:0}header button{background:none;border:1px solid #9db3cc;color:#dfe9f5;border-radius:4px;padding:.15em .6em;cursor:pointer}\
main{max-width:1100px;margin:0 auto;padding:1em}\
h1{font-size:1.35em;margin:.3em 0 .6em;overflow-wrap:anywhere}h2{font-size:1.08em;margin:1.6em 0 .5em}\
section.card{background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:.6em .9em;margin:.8em 0}\
.card h2{margin-top:.3em}.card section{margin:0}\
.scroll{overflow-x:auto}\
table{border-collapse:collapse;width:100%;background:#fff}\
td,th{padding:.35em .6em;border-bottom:1px solid #eaecef;text-align:left;vertical-align:top}\
th{font-weight:600;white-space:nowrap;background:#fafbfc}th a{color:inherit}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
td.msg{max-width:28em;overflow-wrap:anywhere}\
.muted{color:#6a737d}.small{font-size:.85em}\
code{font-size:.85em;color:#57606a;background:#f3f4f6;padding:0 .25em;border-radius:3px}\
.flash{background:#e6f4ea;border:1px solid #a6d8b5;padding:.5em .8em;border-radius:4px;margin:.6em 0}\
.error{background:#fdecea;border:1px solid #f3b5ae;padding:.5em .8em;border-radius:4px;margin:.6em 0}\
.ok{color:#1a7f37}.bad{color:#cf222e}.up{color:#1a7f37}.down{color:#cf222e}\
button,input,select,textarea{font:inherit}\
button.undo{background:#fff;border:1px solid #cf222e;color:#cf222e;border-radius:4px;padding:.1em .6em;cursor:pointer}\
button.primary{background:#1f6feb;border:1px solid #1f6feb;color:#fff;border-radius:4px;padding:.35em 1em;cursor:pointer}\
form.filters{display:flex;flex-wrap:wrap;gap:.5em .8em;align-items:end;margin-bottom:.8em}\
form.filters label{display:flex;flex-direction:column;font-size:.85em;color:#57606a}\
form.filters input,form.filters select{padding:.25em .4em;border:1px solid #c9d1d9;border-radius:4px;min-width:8em}\
input[type=search]{padding:.35em .5em;border:1px solid #c9d1d9;border-radius:4px;width:100%;max-width:24em}\
textarea{width:100%;min-height:5em;padding:.4em;border:1px solid #c9d1d9;border-radius:4px}\
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f8fa;padding:.6em;border-radius:4px;font-size:.9em}\
svg{width:100%;height:auto;display:block}svg text{font-size:15px;fill:#57606a}\
svg.spark{width:100px;height:24px;display:inline-block;vertical-align:middle}\
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:.2em 1.2em}\
.charts h3{font-size:.95em;margin:.8em 0 .2em}\
.login{max-width:24em;margin:4em auto;background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:1.2em 1.4em}\
.login label{display:block;margin:.7em 0 .2em}.login input{width:100%;padding:.4em;border:1px solid #c9d1d9;border-radius:4px}\
.login button{margin-top:1em;width:100%}\
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:.3em 1em;margin:0}dl.kv dt{color:#57606a}dl.kv dd{margin:0;overflow-wrap:anywhere}\
@media (max-width:600px){\
table.cases thead{display:none}table.cases,table.cases tbody,table.cases tr,table.cases td{display:block;width:100%}\
table.cases tr{border-bottom:2px solid #d0d7de;padding:.3em 0}table.cases td{border:none;padding:.15em .4em;text-align:left}\
table.cases td[data-label]::before{content:attr(data-label) '：';color:#6a737d;font-size:.85em}\
main{padding:.5em}.charts{grid-template-columns:1fr}svg.spark{width:48px}#groups td:nth-child(2){min-width:6em}svg text{font-size:21px}td,th{padding:.3em .4em}body{font-size:14px}.hide-s{display:none}}\
";

/// Which page the navigation marks as current.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Nav {
    Groups,
    Audit,
    Review,
    Rules,
    Health,
    None,
}

fn locale(state: &ConsoleState) -> Locale {
    state.settings.messages.locale
}

/// A fresh nonce for the page's script.
fn nonce() -> String {
    let mut bytes = [0u8; 16];
    // Without randomness the nonce is fixed; the policy still allows only inline script the
    // page itself carries, so nothing from outside can run either way.
    let _ = getrandom::fill(&mut bytes);
    hex::encode(bytes)
}

/// Sends `body` as an HTML page with the console's security headers.
fn send(status: StatusCode, nonce: &str, markup: Markup) -> Response {
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'nonce-{nonce}'; \
         form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    );
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response
}

/// The page frame: header with navigation (when logged in), flash message, body, script.
fn layout(
    t: &Texts,
    title: &str,
    nav: Nav,
    caller: Option<&Caller>,
    flash: Option<&str>,
    body: Markup,
) -> (String, Markup) {
    let nonce = nonce();
    let link = |href: &str, label: &str, this: Nav| {
        html! { a href=(href) class=[(nav == this).then_some("on")] { (label) } }
    };
    let markup = html! {
        (DOCTYPE)
        html lang=(t.lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (t.title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    span.brand { (t.title) }
                    @if let Some(Caller::Session { csrf, name, .. }) = caller {
                        nav {
                            (link("/console/", t.nav_groups, Nav::Groups))
                            (link("/console/audit", t.nav_audit, Nav::Audit))
                            (link("/console/review", t.nav_review, Nav::Review))
                            (link("/console/rules", t.nav_rules, Nav::Rules))
                            (link("/console/health", t.nav_health, Nav::Health))
                        }
                        form method="post" action="/console/logout" {
                            input type="hidden" name=(CSRF_FIELD) value=(csrf);
                            span.small { (name) " " }
                            button type="submit" { (t.logout) }
                        }
                    }
                }
                main {
                    @if let Some(message) = flash {
                        p.flash #flash { (message) }
                    }
                    (body)
                }
                script nonce=(nonce) { (PreEscaped(SCRIPT)) }
            }
        }
    };
    (nonce, markup)
}

/// Renders a logged-in page.
fn page(state: &ConsoleState, caller: &Caller, title: &str, nav: Nav, status: StatusCode, body: Markup) -> Response {
    let t = texts(locale(state));
    let flash = state.auth.take_flash(caller);
    let (nonce, markup) = layout(t, title, nav, Some(caller), flash.as_deref(), body);
    send(status, &nonce, markup)
}

/// Lets a request through to a page only with a session; otherwise 303 to the login page
/// (404 while the console is off).
pub(super) async fn require_session(State(state): State<ConsoleState>, mut request: Request, next: Next) -> Response {
    let t = texts(locale(&state));
    if !state.auth.console_on() {
        let (nonce, markup) = layout(t, t.title, Nav::None, None, None, html! { p.error { (t.console_off) } });
        return send(StatusCode::NOT_FOUND, &nonce, markup);
    }
    match state.auth.session(request.headers()) {
        Some(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        None => Redirect::to("/console/login").into_response(),
    }
}

/// `/console` → `/console/`.
pub(super) async fn to_console() -> Redirect {
    Redirect::to("/console/")
}

fn login_page(state: &ConsoleState, status: StatusCode, error: Option<&str>) -> Response {
    let t = texts(locale(state));
    let body = html! {
        form.login method="post" action="/console/login" {
            h1 { (t.login_title) }
            @if let Some(e) = error { p.error #login-error { (e) } }
            label for="password" { (t.password) }
            input #password type="password" name="password" autocomplete="current-password" required autofocus;
            label for="name" { (t.your_name) }
            input #name type="text" name="name" maxlength="40" autocomplete="username" placeholder=(t.your_name_hint);
            button.primary type="submit" { (t.login) }
        }
    };
    let (nonce, markup) = layout(t, t.login_title, Nav::None, None, None, body);
    send(status, &nonce, markup)
}

/// `GET /console/login`.
pub(super) async fn login_form(State(state): State<ConsoleState>, headers: HeaderMap) -> Response {
    let t = texts(locale(&state));
    if !state.auth.console_on() {
        return login_page(&state, StatusCode::NOT_FOUND, Some(t.console_off));
    }
    if state.auth.session(&headers).is_some() {
        return Redirect::to("/console/").into_response();
    }
    login_page(&state, StatusCode::OK, None)
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    name: String,
}

/// `POST /console/login`: 303 to `/console/` with the session cookie, 401 for a wrong
/// password (no cookie), 429 when the address failed too often.
pub(super) async fn login(
    State(state): State<ConsoleState>,
    Extension(Client(ip)): Extension<Client>,
    Form(form): Form<LoginForm>,
) -> Response {
    let t = texts(locale(&state));
    match state.auth.login(ip, &form.password, &form.name).await {
        Login::Ok(token) => {
            let mut response = Redirect::to("/console/").into_response();
            if let Ok(v) = HeaderValue::from_str(&state.auth.session_cookie(&token)) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            response
        }
        Login::Wrong => login_page(&state, StatusCode::UNAUTHORIZED, Some(t.wrong_password)),
        Login::Limited(wait) => {
            let mut response = login_page(&state, StatusCode::TOO_MANY_REQUESTS, Some(t.too_many));
            if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            response
        }
        Login::Off => login_page(&state, StatusCode::NOT_FOUND, Some(t.console_off)),
    }
}

/// A form that only carries the CSRF token.
#[derive(Debug, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf_token: Option<String>,
}

/// The CSRF token of a form post: its field, else the header.
fn csrf_given<'a>(field: Option<&'a str>, headers: &'a HeaderMap) -> Option<&'a str> {
    field.or_else(|| headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()))
}

/// A posted form, checked for the CSRF token before anything else: a post without the token
/// (even one without a body) is 403; a post with it but a malformed form is 400.
fn checked_form<T: CsrfField>(
    state: &ConsoleState,
    caller: &Caller,
    headers: &HeaderMap,
    form: Result<Form<T>, FormRejection>,
) -> Result<T, Box<Response>> {
    let field = form.as_ref().ok().and_then(|f| f.0.csrf());
    if !Auth::csrf_ok(caller, csrf_given(field, headers)) {
        return Err(Box::new(csrf_refused(state, caller)));
    }
    match form {
        Ok(Form(form)) => Ok(form),
        Err(e) => Err(Box::new(error_page(
            state,
            caller,
            StatusCode::BAD_REQUEST,
            &e.body_text(),
        ))),
    }
}

/// A form that carries the CSRF token.
trait CsrfField {
    fn csrf(&self) -> Option<&str>;
}

macro_rules! csrf_field {
    ($($t:ty),*) => {$(
        impl CsrfField for $t {
            fn csrf(&self) -> Option<&str> {
                self.csrf_token.as_deref()
            }
        }
    )*};
}
csrf_field!(CsrfForm, UndoForm, ExplainForm);

/// 403 for a state-changing request without the right CSRF token; nothing is changed.
fn csrf_refused(state: &ConsoleState, caller: &Caller) -> Response {
    let t = texts(locale(state));
    tracing::warn!(
        name = caller.name(),
        "console: a form post without a valid CSRF token was refused"
    );
    page(
        state,
        caller,
        t.title,
        Nav::None,
        StatusCode::FORBIDDEN,
        html! { p.error #csrf { (t.csrf_refused) } },
    )
}

/// `POST /console/logout`.
pub(super) async fn logout(
    State(state): State<ConsoleState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    if let Err(refused) = checked_form(&state, &caller, &headers, form) {
        return *refused;
    }
    state.auth.logout(&caller);
    let mut response = Redirect::to("/console/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&state.auth.clear_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// Any other `/console/…` path.
pub(super) async fn not_found(State(state): State<ConsoleState>, Extension(caller): Extension<Caller>) -> Response {
    let t = texts(locale(&state));
    page(
        &state,
        &caller,
        t.not_found,
        Nav::None,
        StatusCode::NOT_FOUND,
        html! { p.error { (t.not_found) } },
    )
}

fn error_page(state: &ConsoleState, caller: &Caller, status: StatusCode, message: &str) -> Response {
    page(
        state,
        caller,
        message,
        Nav::None,
        status,
        html! { p.error #error { (message) } },
    )
}

fn tz(state: &ConsoleState) -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(&state.settings.stats.timezone).unwrap_or(jiff::tz::TimeZone::UTC)
}

/// `2026-11-21 14:05` in the statistics' time zone.
fn time(state: &ConsoleState, ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(
        |_| ms.to_string(),
        |t| t.to_zoned(tz(state)).strftime("%Y-%m-%d %H:%M").to_string(),
    )
}

fn member(name: &str, id: i64) -> Markup {
    html! {
        @if name.is_empty() { (id) } @else { (name) " " span.muted.small { "(" (id) ")" } }
    }
}

fn actor(t: &Texts, a: &Actor) -> Markup {
    match a {
        Actor::Auto => html! { span.muted { (t.actor_auto) } },
        Actor::Admin { user_id, name } => member(name, *user_id),
        Actor::Console { name, .. } => html! { (name) " " span.muted.small { "(" (t.actor_console) ")" } },
    }
}

/// A rule under the name members see, its id (what `rules.toml` calls it) as the tooltip.
fn rule(state: &ConsoleState, l: Locale, rule: &str) -> Markup {
    let name = state.rules.load().filter.display_name(rule, l);
    PreEscaped(charts::rule_cell(&name, rule, true))
}

/// A word list or detector on the rules page: its display name with its id beside it, since
/// that page is about the files the ids name.
fn rule_with_id(state: &ConsoleState, l: Locale, rule: &str) -> Markup {
    let name = state.rules.load().filter.display_name(rule, l);
    html! { (name) " " code { (rule) } }
}

fn ago(t: &Texts, l: Locale, secs: Option<u64>) -> String {
    match secs {
        Some(s) => match l {
            Locale::ZhCn => format!("{}{}", i18n::duration(l, s), t.ago),
            Locale::En => format!("{}{}", i18n::duration(l, s), t.ago),
        },
        None => t.never.to_owned(),
    }
}

fn percent(x: Option<f64>) -> Markup {
    match x {
        Some(p) if p > 0.5 => html! { span.up { (format!("{p:+.0}%")) } },
        Some(p) if p < -0.5 => html! { span.down { (format!("{p:+.0}%")) } },
        Some(p) => html! { (format!("{p:+.0}%")) },
        None => html! { span.muted { "—" } },
    }
}

/// A tiny line of daily counts.
#[allow(clippy::cast_precision_loss)] // chart coordinates
fn sparkline(values: &[u64]) -> Markup {
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = 100.0 / (values.len().max(2) - 1) as f64;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", i as f64 * step, 22.0 - 20.0 * (*v as f64) / max))
        .collect();
    html! {
        svg.spark viewBox="0 0 100 24" role="img" aria-hidden="true" xmlns="http://www.w3.org/2000/svg" {
            polyline points=(points.join(" ")) fill="none" stroke="#1f6feb" stroke-width="1.5";
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct GroupsQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    dir: String,
}

/// `GET /console/`: every group, sortable, with a filter box.
pub(super) async fn groups(
    State(state): State<ConsoleState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<GroupsQuery>,
) -> Response {
    let (l, t) = (locale(&state), texts(locale(&state)));
    let mut rows = match data::groups(&state).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "console: cannot list the groups");
            return error_page(&state, &caller, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
        }
    };
    let needle = query.q.trim().to_lowercase();
    if !needle.is_empty() {
        rows.retain(|r| search_text(r).contains(&needle));
    }
    let key = |r: &GroupRow| -> (f64, String) {
        match query.sort.as_str() {
            "messages" => (r.messages_7d as f64, String::new()),
            "violations" => (r.violations_7d as f64, String::new()),
            "members" => (r.members.map_or(-1.0, |m| m as f64), String::new()),
            "trend" => (r.trend_percent.unwrap_or(f64::MIN), String::new()),
            "name" => (0.0, r.name.clone().unwrap_or_default()),
            _ => (0.0, r.group.clone()),
        }
    };
    rows.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        let order = ka.0.total_cmp(&kb.0).then_with(|| ka.1.cmp(&kb.1));
        if query.dir == "desc" { order.reverse() } else { order }
    });
    let header = |key_name: &str, label: &str, num: bool| {
        let dir = if query.sort == key_name && query.dir != "desc" {
            "desc"
        } else {
            "asc"
        };
        let href = format!("?sort={key_name}&dir={dir}&q={}", urlencode(&query.q));
        html! {
            th class=[num.then_some("n")] data-key=(key_name) data-num=(if num { "1" } else { "0" }) {
                a href=(href) { (label) }
            }
        }
    };
    let body = html! {
        h1 { (t.nav_groups) " " span.muted.small { "(" (rows.len()) ")" } }
        form method="get" action="/console/" {
            input #q type="search" name="q" value=(query.q) placeholder=(t.search) aria-label=(t.search);
            " " noscript { button type="submit" { (t.search_button) } }
        }
        @if rows.is_empty() {
            p.muted { (t.no_groups) }
        } @else {
            div.scroll {
                table #groups {
                    thead { tr {
                        (header("group", t.group, false))
                        (header("name", t.name, false))
                        th.hide-s { (t.platform) }
                        th.hide-s { (t.account) }
                        (header("members", t.members, true))
                        (header("messages", t.messages_7d, true))
                        (header("violations", t.violations_7d, true))
                        (header("trend", t.trend, true))
                    } }
                    tbody {
                        @for r in &rows {
                            tr data-search=(search_text(r)) data-group=(r.group) data-name=(r.name.as_deref().unwrap_or(""))
                                data-members=(r.members.map_or(String::new(), |m| m.to_string()))
                                data-messages=(r.messages_7d) data-violations=(r.violations_7d)
                                data-trend=(r.trend_percent.map_or(String::new(), |p| format!("{p:.1}"))) {
                                td { a href=(format!("/console/g/{}", r.group)) { code { (r.group) } } }
                                td { @if let Some(n) = &r.name { a href=(format!("/console/g/{}", r.group)) { (n) } } @else { span.muted { "—" } } }
                                td.hide-s { (if r.platform == "qq" { "QQ" } else { "Telegram" }) }
                                td.hide-s { @if let Some(a) = r.account { (a) } @else { span.muted { "—" } } }
                                td.n { @if let Some(m) = r.members { (m) } @else { span.muted { "—" } } }
                                td.n { (r.messages_7d) }
                                td.n { (r.violations_7d) }
                                td.n { (sparkline(&r.daily_messages)) " " (percent(r.trend_percent)) }
                            }
                        }
                    }
                }
            }
        }
    };
    let _ = l;
    page(&state, &caller, t.nav_groups, Nav::Groups, StatusCode::OK, body)
}

fn search_text(r: &GroupRow) -> String {
    format!("{} {} {}", r.group, r.id, r.name.as_deref().unwrap_or("")).to_lowercase()
}

/// Percent-encodes a query value.
fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The Undo button of a case; `back` is where to return.
fn undo_button(t: &Texts, caller: &Caller, e: &AuditEntry, back: &str) -> Markup {
    let csrf = match caller {
        Caller::Session { csrf, .. } => csrf.as_str(),
        Caller::Token => "",
    };
    html! {
        @if let Some(by) = e.undone_by {
            span.muted.small { (t.undone_by) " #" (by) }
        } @else if data::undoable(e) {
            form.inline method="post" action="/console/undo" data-confirm=(t.undo_confirm) {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                input type="hidden" name="group" value=(e.group.to_string());
                input type="hidden" name="case" value=(e.case);
                input type="hidden" name="back" value=(back);
                button.undo type="submit" data-case=(format!("{}:{}", e.group, e.case)) { (t.undo) }
            }
        } @else if let Some(undone) = e.undoes {
            span.muted.small { (t.undoes) " #" (undone) }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct GroupPageQuery {
    days: Option<i64>,
}

/// `GET /console/g/<group>`.
pub(super) async fn group(
    State(state): State<ConsoleState>,
    Extension(caller): Extension<Caller>,
    Path(group): Path<String>,
    Query(query): Query<GroupPageQuery>,
) -> Response {
    let (l, t) = (locale(&state), texts(locale(&state)));
    let group: GroupId = match group.parse() {
        Ok(g) => g,
        Err(e) => return error_page(&state, &caller, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let span = query.days.unwrap_or(GROUP_DAYS).clamp(7, 366);
    let d = match data::group(&state, group, span).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(%group, error = %e, "console: cannot read the group");
            return error_page(&state, &caller, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
        }
    };
    let title = match &d.name {
        Some(n) => format!("{n} ({group})"),
        None => group.to_string(),
    };
    let body = group_body(&state, &caller, l, t, &d);
    page(
        &state,
        &caller,
        &title,
        Nav::Groups,
        StatusCode::OK,
        html! { h1 #group { (title) } (body) },
    )
}

fn group_body(state: &ConsoleState, caller: &Caller, l: Locale, t: &Texts, d: &GroupDetail) -> Markup {
    let s = &d.summary;
    let opt = |x: Option<f64>, f: &dyn Fn(f64) -> String| x.map_or_else(|| "—".to_owned(), f);
    let back = format!("/console/g/{}", d.group);
    let partial = charts::Partial {
        last_is_today: true,
        label: t.today_partial,
    };
    let mut svg = String::new();
    type Value = fn(&crate::domain::stats::DayStats) -> u64;
    let series: [(&str, &str, &str, Value); 5] = [
        ("messages", t.chart_messages, "#2f6fde", |d| d.messages),
        ("active", t.chart_active, "#1d9a6c", |d| {
            d.active_members.max(d.members.len() as u64)
        }),
        ("joins", t.chart_joins, "#7a5bd6", |d| d.joins),
        ("leaves", t.chart_leaves, "#d0782a", |d| d.leaves),
        ("violations", t.chart_violations, "#c8372d", |d| d.violation_count()),
    ];
    for (id, label, color, value) in series {
        let points: Vec<_> = d.days.iter().map(|(date, s)| (*date, value(s))).collect();
        svg.push_str(&format!("<div><h3>{}</h3>", charts::escape(label)));
        charts::bar_chart(&mut svg, id, label, color, &points, partial);
        svg.push_str("</div>");
    }
    let measures = [
        ("warn", t.measure_warn, "#d9a400"),
        ("mute", t.measure_mute, "#d0782a"),
        ("kick", t.measure_kick, "#c8372d"),
        ("other", t.measure_other, "#9a9a9a"),
    ];
    let points: Vec<_> = d
        .days
        .iter()
        .map(|(date, s)| (*date, charts::measures_split(s)))
        .collect();
    svg.push_str(&format!("<div><h3>{}</h3>", charts::escape(t.chart_measures)));
    charts::stacked_chart(&mut svg, "actions", t.chart_measures, &measures, &points, partial);
    svg.push_str("</div>");
    let mut rules_html = String::new();
    let names = |r: &str| state.rules.load().filter.display_name(r, l);
    charts::rules_table(&mut rules_html, &d.days, t.rules_hit, &names, true);
    html! {
        p.small {
            a href=(format!("/console/audit?group={}", d.group)) { (t.audit_of_group) }
            " · " a href=(format!("/stats/{}", d.group)) { (t.stats_page) }
        }
        section.card {
            h2 { (t.summary) }
            dl.kv #summary {
                dt { (t.members) } dd { (s.members.map_or_else(|| "—".to_owned(), |m| m.to_string())) }
                dt { (t.days_counted) } dd { (s.days) }
                dt { (t.messages_per_day) } dd { (format!("{:.1}", s.messages_per_day)) }
                dt { (t.per_100) } dd { (opt(s.per_100_members, &|x| format!("{x:.1}"))) }
                dt { (t.active_per_day) } dd { (format!("{:.1}", s.active_per_day)) }
                dt { (t.active_share) } dd { (opt(s.active_share, &|x| format!("{:.1}%", x * 100.0))) }
                dt { (t.joins_leaves) } dd { (s.joins) " / " (s.leaves) }
                dt { (t.violations) } dd { (s.violations) }
                dt { (t.vs_last_week) } dd { (percent(s.trend_percent)) }
            }
        }
        section.card.charts { (PreEscaped(svg)) }
        section.card { (PreEscaped(rules_html)) }
        section.card {
            h2 { (t.recent_violations) }
            @if d.violations.is_empty() { p.muted { (t.none) } } @else {
                div.scroll { (cases_table(state, caller, l, t, &d.violations, &back, false)) }
            }
        }
        section.card {
            h2 { (t.members_with_strikes) }
            @if d.strikes.is_empty() { p.muted { (t.none) } } @else {
                div.scroll { table #strikes {
                    thead { tr { th { (t.member) } th.n { (t.strikes) } th { (t.rule) } th { (t.time) } } }
                    tbody { @for r in &d.strikes {
                        tr data-user=(r.user_id) {
                            td { (r.user_id) }
                            td.n { (r.strikes) }
                            td { @for (i, x) in r.rules.iter().enumerate() { @if i > 0 { ", " } (rule(state, l, x)) } }
                            td.small { (time(state, r.last_ms)) }
                        }
                    } }
                } }
            }
        }
        section.card {
            h2 { (t.quiet_members) " " span.muted.small { "≥ " (i18n::duration(l, d.quiet_after.as_secs())) } }
            @if d.quiet.is_empty() { p.muted { (t.none) } } @else {
                div.scroll { table #quiet {
                    thead { tr { th { (t.member) } th { (t.silent_for) } } }
                    tbody { @for q in &d.quiet {
                        tr {
                            td { (member(&q.name, q.user_id)) }
                            td { (i18n::duration(l, q.silent_secs)) @if !q.spoke { " " span.muted.small { "(" (t.joined_never_spoke) ")" } } }
                        }
                    } }
                } }
                @if d.quiet_total > d.quiet.len() { p.muted.small { "+" (d.quiet_total - d.quiet.len()) " " (t.more_not_shown) } }
            }
        }
        @if !d.tiers.is_empty() {
            section.card {
                h2 { (t.member_tiers) }
                div.scroll { table #tiers {
                    thead { tr { th {} th.n { (t.member) } th.n { (t.vs_last_week) } } }
                    tbody { @for (tier, n, change) in &d.tiers {
                        tr data-tier=(tier.as_str()) {
                            td { (i18n::tier_name(l, *tier)) }
                            td.n { (n) }
                            td.n { @match change { Some(c) if *c > 0 => { "+" (c) }, Some(c) => { (c) }, None => { "—" } } }
                        }
                    } }
                } }
            }
        }
        section.card {
            h2 { (t.scheduled_posts) }
            @if d.posts.is_empty() { p.muted { (t.none) } } @else {
                div.scroll { table #posts {
                    thead { tr { th { "#" } th { (t.when) } th { (t.text) } th { (t.enabled) } } }
                    tbody { @for p in &d.posts {
                        tr { td { code { (p.label) } } td { (p.when) } td.msg { (p.text) } td { (if p.enabled { "✓" } else { "—" }) } }
                    } }
                } }
            }
        }
    }
}

/// A table of cases with their Undo buttons.
fn cases_table(
    state: &ConsoleState,
    caller: &Caller,
    l: Locale,
    t: &Texts,
    cases: &[AuditEntry],
    back: &str,
    with_group: bool,
) -> Markup {
    html! {
        table.cases #cases {
            thead { tr {
                th { (t.case) } th { (t.time) }
                @if with_group { th { (t.group) } }
                th { (t.member) } th { (t.actor) } th { (t.rule) } th { (t.measure) }
                th.n { (t.strikes) } th { (t.message) } th { (t.status) }
            } }
            tbody { @for e in cases {
                @let v = CaseView::of(e, l, &state.rules.load().filter);
                tr data-case=(v.id) {
                    td data-label=(t.case) { "#" (e.case) }
                    td.small data-label=(t.time) { (time(state, e.at_ms)) }
                    @if with_group { td data-label=(t.group) { a href=(format!("/console/g/{}", e.group)) { code { (e.group) } } } }
                    td data-label=(t.member) { (member(&e.user_name, e.user_id)) }
                    td data-label=(t.actor) { (actor(t, &e.actor)) }
                    td data-label=(t.rule) { (rule(state, l, &e.rule)) }
                    td data-label=(t.measure) { (v.measure_text) @if e.dry_run { " " span.muted.small { "(" (t.dry_run) ")" } } }
                    td.n data-label=(t.strikes) { (e.strikes_before) "→" (e.strikes_after) }
                    td.msg data-label=(t.message) {
                        @if !e.excerpt.is_empty() { (e.excerpt) }
                        @if !e.matched.is_empty() { br; span.small.muted { (t.matched) ": " } @for m in &e.matched { code { (m) } " " } }
                        @if !e.reason.is_empty() { br; span.small.muted { (t.reason) ": " } (e.reason) }
                    }
                    td { (undo_button(t, caller, e, back)) }
                }
            } }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct AuditQuery {
    #[serde(default)]
    group: String,
    #[serde(default)]
    member: String,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// `GET /console/audit`.
pub(super) async fn audit(
    State(state): State<ConsoleState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<AuditQuery>,
) -> Response {
    let (l, t) = (locale(&state), texts(locale(&state)));
    let mut problems = Vec::new();
    let mut q = CaseQuery {
        limit: LIST_LIMIT,
        ..CaseQuery::default()
    };
    let nonempty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    if let Some(g) = nonempty(&query.group) {
        match g.parse::<GroupId>() {
            Ok(g) => q.group = Some(g),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if let Some(m) = nonempty(&query.member) {
        match m.parse::<i64>() {
            Ok(m) => q.member = Some(m),
            Err(_) => problems.push(format!("member {m:?} is not a number")),
        }
    }
    q.rule = nonempty(&query.rule);
    q.actor = data::ActorKind::parse(query.actor.trim());
    if let Some(from) = nonempty(&query.from) {
        match api::parse_time(&state, &from, false) {
            Ok(ms) => q.since_ms = Some(ms),
            Err(e) => problems.push(e),
        }
    }
    if let Some(to) = nonempty(&query.to) {
        match api::parse_time(&state, &to, true) {
            Ok(ms) => q.until_ms = Some(ms),
            Err(e) => problems.push(e),
        }
    }
    let cases = if problems.is_empty() {
        match data::cases(&state, q).await {
            Ok(c) => c,
            Err(e) => return error_page(&state, &caller, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        }
    } else {
        Vec::new()
    };
    let back = format!(
        "/console/audit?group={}&member={}&rule={}&actor={}&from={}&to={}",
        urlencode(&query.group),
        urlencode(&query.member),
        urlencode(&query.rule),
        urlencode(&query.actor),
        urlencode(&query.from),
        urlencode(&query.to)
    );
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let actors = [
        ("", t.any),
        ("auto", t.actor_auto),
        ("admin", t.actor_admin),
        ("console", t.actor_console),
    ];
    let body = html! {
        h1 { (t.nav_audit) }
        form.filters method="get" action="/console/audit" {
            label { (t.group) input type="text" name="group" value=(query.group) placeholder="qq:726300112"; }
            label { (t.member) input type="text" name="member" value=(query.member) inputmode="numeric"; }
            label { (t.rule) input type="text" name="rule" value=(query.rule); }
            label { (t.actor) select name="actor" {
                @for (value, label) in actors { option value=(value) selected[query.actor == value] { (label) } }
            } }
            label { (t.from_date) input type="date" name="from" value=(query.from); }
            label { (t.to_date) input type="date" name="to" value=(query.to); }
            button.primary type="submit" { (t.filter) }
        }
        @for p in &problems { p.error { (p) } }
        @if cases.is_empty() { p.muted { (t.none) } } @else {
            div.scroll { (cases_table(&state, &caller, l, t, &cases, &back, true)) }
        }
    };
    page(&state, &caller, t.nav_audit, Nav::Audit, status, body)
}

#[derive(Debug, Deserialize)]
pub(super) struct UndoForm {
    #[serde(default)]
    csrf_token: Option<String>,
    group: String,
    case: u64,
    #[serde(default)]
    back: String,
}

/// `POST /console/undo`: what `/pardon` does, for the strike of one case; back to where the
/// button was, with the outcome shown there.
pub(super) async fn undo(
    State(state): State<ConsoleState>,
    Extension(caller): Extension<Caller>,
    Extension(Client(ip)): Extension<Client>,
    headers: HeaderMap,
    form: Result<Form<UndoForm>, FormRejection>,
) -> Response {
    let t = texts(locale(&state));
    let form = match checked_form(&state, &caller, &headers, form) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let group: GroupId = match form.group.parse() {
        Ok(g) => g,
        Err(e) => return error_page(&state, &caller, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let message = match api::undo_as(&state, &caller, ip, group, form.case).await {
        Ok(done) => format!(
            "{}{group} #{} → #{} ({})",
            t.undone_flash,
            form.case,
            done.case,
            i18n::measure(
                locale(&state),
                crate::domain::audit::Measure::Pardon { removed: done.removed }
            )
        ),
        Err(e) => e.to_string(),
    };
    state.auth.flash(&caller, message);
    // Only back to a console page: never an open redirect.
    let back = if form.back.starts_with("/console/") && !form.back.starts_with("//") {
        form.back
    } else {
        "/console/audit".to_owned()
    };
    Redirect::to(&back).into_response()
}

/// `GET /console/review`: the latest messages the rules flagged.
pub(super) async fn review(State(state): State<ConsoleState>, Extension(caller): Extension<Caller>) -> Response {
    let (l, t) = (locale(&state), texts(locale(&state)));
    let q = CaseQuery {
        flagged: true,
        limit: LIST_LIMIT,
        ..CaseQuery::default()
    };
    let cases = match data::cases(&state, q).await {
        Ok(c) => c,
        Err(e) => return error_page(&state, &caller, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let body = html! {
        h1 { (t.nav_review) }
        p.muted { (t.review_note) }
        @if cases.is_empty() { p.muted { (t.none) } } @else {
            div.scroll { (cases_table(&state, &caller, l, t, &cases, "/console/review", true)) }
        }
    };
    page(&state, &caller, t.nav_review, Nav::Review, StatusCode::OK, body)
}

/// The Rules page, with an explanation when one was asked for.
fn rules_page(
    state: &ConsoleState,
    caller: &Caller,
    status: StatusCode,
    explained: Option<(&str, &str, Result<api::Explained, String>)>,
) -> Response {
    let (l, t) = (locale(state), texts(locale(state)));
    let rules = state.rules.load();
    let lists = rules.filter.list_sizes();
    let detectors: Vec<&str> = rules.filter.detector_names().collect();
    let csrf = match caller {
        Caller::Session { csrf, .. } => csrf.clone(),
        Caller::Token => String::new(),
    };
    let last = state.metrics.last_reload();
    let body = html! {
        h1 { (t.nav_rules) }
        section.card {
            h2 { (t.rules_lists) }
            div.scroll { table #lists {
                thead { tr { th { (t.list) } th.n { (t.phrases) } } }
                tbody { @for (name, n) in &lists { tr { td { (rule_with_id(state, l, name)) } td.n { (n) } } } }
            } }
            p.small { span.muted { (t.detectors) ": " } @for (i, d) in detectors.iter().enumerate() { @if i > 0 { ", " } (rule_with_id(state, l, d)) } }
        }
        section.card {
            h2 { (t.last_reload) }
            @match &last {
                None => p.muted #last-reload { (t.no_reload_yet) },
                Some(r) => {
                    @let age = ago(t, l, Some(r.at.elapsed().as_secs()));
                    @match &r.result {
                        Reloaded::Live(summary) => p #last-reload { span.ok { "✓ " (t.reload_ok) } " · " (r.trigger) " · " (age) br; span.small { (summary) } },
                        Reloaded::Refused(e) => p #last-reload { span.bad { "✗ " (t.reload_failed) } " · " (r.trigger) " · " (age) br; code.reload-error { (e) } },
                    }
                }
            }
            form method="post" action="/console/rules/reload" {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                button.primary #reload type="submit" { (t.reload) }
            }
        }
        section.card {
            h2 { (t.explain) }
            form method="post" action="/console/rules/explain" {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                label { (t.explain_text) textarea name="text" required maxlength="4000" { (explained.as_ref().map_or("", |e| e.0)) } }
                label { (t.explain_group) " " input type="text" name="group" value=(explained.as_ref().map_or("", |e| e.1)) placeholder="qq:726300112"; }
                " " button.primary type="submit" { (t.explain_button) }
            }
            @if let Some((_, _, result)) = &explained {
                @match result {
                    Ok(x) => pre #explanation { (x.explanation) },
                    Err(e) => p.error #explanation { (e) },
                }
            }
        }
    };
    page(state, caller, t.nav_rules, Nav::Rules, status, body)
}

/// `GET /console/rules`.
pub(super) async fn rules(State(state): State<ConsoleState>, Extension(caller): Extension<Caller>) -> Response {
    rules_page(&state, &caller, StatusCode::OK, None)
}

/// `POST /console/rules/reload`.
pub(super) async fn reload(
    State(state): State<ConsoleState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let t = texts(locale(&state));
    if let Err(refused) = checked_form(&state, &caller, &headers, form) {
        return *refused;
    }
    let message = match api::reload_as(&state).await {
        Ok(summary) => format!("{}: {summary}", t.reload_ok),
        Err(e) => format!("{}: {e}", t.reload_failed),
    };
    state.auth.flash(&caller, message);
    Redirect::to("/console/rules").into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct ExplainForm {
    #[serde(default)]
    csrf_token: Option<String>,
    #[serde(default)]
    text: String,
    #[serde(default)]
    group: String,
}

/// `POST /console/rules/explain`: the Rules page with the explanation.
pub(super) async fn explain(
    State(state): State<ConsoleState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    form: Result<Form<ExplainForm>, FormRejection>,
) -> Response {
    let form = match checked_form(&state, &caller, &headers, form) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let group = form.group.trim();
    let result = api::explain_text(&state, &form.text, (!group.is_empty()).then_some(group));
    let status = if result.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    rules_page(&state, &caller, status, Some((&form.text, group, result)))
}

/// `GET /console/health`.
pub(super) async fn health(State(state): State<ConsoleState>, Extension(caller): Extension<Caller>) -> Response {
    let (l, t) = (locale(&state), texts(locale(&state)));
    let h = match data::health(&state).await {
        Ok(h) => h,
        Err(e) => return error_page(&state, &caller, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let body = html! {
        h1 { (t.nav_health) }
        section.card {
            h2 { (t.gateways) }
            div.scroll { table #gateways {
                thead { tr { th { (t.platform) } th { (t.status) } th { (t.last_delivery) } th { (t.last_error) } } }
                tbody { @for g in &h.gateways {
                    tr data-platform=(g.platform) {
                        td { (if g.platform == "qq" { "QQ (OneBot)" } else { "Telegram" }) }
                        td {
                            @if g.reachable { span.ok { "✓ " (t.reachable) } }
                            @else { span.bad { "✗ " (t.unreachable) } @if let Some(e) = &g.probe_error { br; code { (e) } } }
                        }
                        td { (ago(t, l, g.last_ok_secs_ago)) }
                        td { @if let Some(e) = &g.last_error { (ago(t, l, g.last_error_secs_ago)) br; code { (e) } } @else { span.muted { (t.never) } } }
                    }
                } }
            } }
        }
        section.card {
            dl.kv #health {
                dt { (t.outbox_depth) } dd #outbox-depth { (h.outbox_depth) }
                dt { (t.oldest_pending) } dd { (h.oldest_pending_secs.map_or_else(|| "—".to_owned(), |s| ago(t, l, Some(s)))) }
                dt { (t.worker) } dd { (ago(t, l, h.worker_silent_secs)) }
                dt { (t.version) } dd #version { (h.version) }
                dt { (t.uptime) } dd { (i18n::duration(l, h.uptime_secs)) }
                dt { (t.rules_loaded) } dd.small { (h.rules) }
            }
        }
    };
    page(&state, &caller, t.nav_health, Nav::Health, StatusCode::OK, body)
}
