//! The JSON API under `/api/v1/` (documented in `docs/api.md`): the data of the console's
//! pages, for scripts.
//!
//! Every call needs `Authorization: Bearer <[console] api_token>` or the console's session
//! cookie; without either the answer is 401. A state-changing call (`POST`) made with the
//! cookie must carry the session's CSRF token in `X-CSRF-Token`, else 403 and nothing
//! changes. Errors are `{"error": "…"}` with the status that fits: 400 for a bad
//! parameter, 401/403 as above, 404 for an unknown group, case or path, 409 when a case
//! cannot be undone, 422 when a reload finds a broken rules file, 500 when the store fails.

use std::net::IpAddr;

use axum::Extension;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{Auth, CSRF_HEADER, Caller};
use super::data::{self, CaseQuery, CaseView, DayView};
use super::{Client, ConsoleState};
use crate::domain::audit::Actor;
use crate::domain::event::GroupId;
use crate::domain::metrics::ReloadTrigger;
use crate::policy::filter::report;
use crate::policy::ladder::Policy;
use crate::service::commands::ReloadError;
use crate::service::undo::{UndoError, Undone};

/// The longest message `explain` takes, in characters.
pub const MAX_EXPLAIN_CHARS: usize = 4000;
/// Cases `GET /api/v1/cases` returns unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 50;

/// An error answer: `{"error": message}` with `status`.
pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Lets an API request through with its [`Caller`]: 401 without a valid token or session,
/// 403 for a cookie `POST` without the session's CSRF token.
pub(super) async fn require_caller(State(state): State<ConsoleState>, mut request: Request, next: Next) -> Response {
    let caller = match state.auth.api_caller(request.headers()) {
        Ok(c) => c,
        Err(why) => return error(StatusCode::UNAUTHORIZED, why),
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let given = request.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if !Auth::csrf_ok(&caller, given) {
            tracing::warn!(name = caller.name(), path = %request.uri().path(), "api: a cookie request without a valid CSRF token was refused");
            return error(
                StatusCode::FORBIDDEN,
                "a request made with the session cookie must send the page's CSRF token in X-CSRF-Token",
            );
        }
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// Any other `/api/v1/…` path.
pub(super) async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such API endpoint; see docs/api.md")
}

fn internal(e: &impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "api: a read failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}; see the daemon's log"))
}

/// `GET /api/v1/groups`.
pub(super) async fn groups(State(state): State<ConsoleState>) -> Response {
    match data::groups(&state).await {
        Ok(groups) => Json(json!({ "groups": groups })).into_response(),
        Err(e) => internal(&e),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct GroupQuery {
    days: Option<i64>,
}

/// `GET /api/v1/groups/<group>`.
pub(super) async fn group(
    State(state): State<ConsoleState>,
    Path(group): Path<String>,
    Query(query): Query<GroupQuery>,
) -> Response {
    let group: GroupId = match group.parse() {
        Ok(g) => g,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let days = query.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return error(StatusCode::BAD_REQUEST, "days must be between 1 and 366");
    }
    let store = state.store.clone();
    let known = tokio::task::spawn_blocking(move || store.known_groups()).await;
    match known {
        Ok(Ok(known)) if known.contains(&group) || state.settings.groups.contains_key(&group.to_string()) => {}
        Ok(Ok(_)) => return error(StatusCode::NOT_FOUND, format!("this instance keeps nothing of {group}")),
        Ok(Err(e)) => return internal(&e),
        Err(e) => return internal(&e),
    }
    let l = state.settings.messages.locale;
    let d = match data::group(&state, group, days).await {
        Ok(d) => d,
        Err(e) => return internal(&e),
    };
    let last = d.days.len().saturating_sub(1);
    let days: Vec<DayView> = d
        .days
        .iter()
        .enumerate()
        .map(|(i, (date, s))| DayView {
            date: date.to_string(),
            messages: s.messages,
            active_members: s.active_members.max(s.members.len() as u64),
            joins: s.joins,
            leaves: s.leaves,
            violations: s.violations.clone(),
            measures: s.actions.clone(),
            partial: i == last,
        })
        .collect();
    let violations: Vec<CaseView> = {
        let rules = state.rules.load();
        d.violations.iter().map(|e| CaseView::of(e, l, &rules.filter)).collect()
    };
    Json(json!({
        "group": group.to_string(),
        "name": d.name,
        "summary": &d.summary,
        "days": days,
        "violations": violations,
        "strikes": d.strikes,
        "quiet": { "after_secs": d.quiet_after.as_secs(), "total": d.quiet_total, "members": d.quiet },
        "scheduled": d.posts,
    }))
    .into_response()
}

/// A time filter: `2026-11-21` (the start of that day in `[stats] timezone`, or with `end`
/// the start of the next), an RFC 3339 time, or unix milliseconds.
pub(super) fn parse_time(state: &ConsoleState, text: &str, end: bool) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(t.as_millisecond());
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        let date = if end { date.tomorrow().unwrap_or(date) } else { date };
        let tz = jiff::tz::TimeZone::get(&state.settings.stats.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
        return date
            .to_zoned(tz)
            .map(|z| z.timestamp().as_millisecond())
            .map_err(|e| format!("{text:?}: {e}"));
    }
    Err(format!(
        "{text:?} is not a date like 2026-11-21, a time like 2026-11-21T08:00:00Z, or unix milliseconds"
    ))
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct CasesQuery {
    group: Option<String>,
    member: Option<String>,
    rule: Option<String>,
    actor: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
}

/// `GET /api/v1/cases?group=&member=&rule=&actor=&since=&until=&limit=`.
pub(super) async fn cases(State(state): State<ConsoleState>, Query(query): Query<CasesQuery>) -> Response {
    let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let mut q = CaseQuery {
        limit: DEFAULT_LIMIT,
        ..CaseQuery::default()
    };
    if let Some(g) = given(&query.group) {
        match g.parse() {
            Ok(g) => q.group = Some(g),
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("group: {e}")),
        }
    }
    if let Some(m) = given(&query.member) {
        match m.parse() {
            Ok(m) => q.member = Some(m),
            Err(_) => return error(StatusCode::BAD_REQUEST, format!("member: {m:?} is not a user id")),
        }
    }
    q.rule = given(&query.rule);
    if let Some(a) = given(&query.actor) {
        match data::ActorKind::parse(&a) {
            Some(a) => q.actor = Some(a),
            None => return error(StatusCode::BAD_REQUEST, "actor must be auto, admin or console"),
        }
    }
    for (value, end, slot) in [
        (&query.since, false, &mut q.since_ms),
        (&query.until, true, &mut q.until_ms),
    ] {
        if let Some(v) = given(value) {
            match parse_time(&state, &v, end) {
                Ok(ms) => *slot = Some(ms),
                Err(e) => return error(StatusCode::BAD_REQUEST, e),
            }
        }
    }
    if let Some(l) = given(&query.limit) {
        match l.parse::<usize>() {
            Ok(n) if (1..=data::MAX_CASES).contains(&n) => q.limit = n,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("limit must be between 1 and {}", data::MAX_CASES),
                );
            }
        }
    }
    let l = state.settings.messages.locale;
    match data::cases(&state, q).await {
        Ok(cases) => {
            let cases: Vec<CaseView> = {
                let rules = state.rules.load();
                cases.iter().map(|e| CaseView::of(e, l, &rules.filter)).collect()
            };
            Json(json!({ "cases": cases })).into_response()
        }
        Err(e) => internal(&e),
    }
}

/// A case id: `qq:726300112:5` (group and number), or a bare number with `?group=`.
fn parse_case(id: &str, group: Option<&str>) -> Result<(GroupId, u64), String> {
    let (group, number) = match (id.rsplit_once(':'), group) {
        (_, Some(g)) => (g.to_owned(), id),
        (Some((g, n)), None) => (g.to_owned(), n),
        (None, None) => {
            return Err(format!(
                "{id:?}: name the case with its group, like qq:726300112:5, or pass ?group="
            ));
        }
    };
    let group: GroupId = group
        .parse()
        .map_err(|e: crate::domain::event::IdError| e.to_string())?;
    let number = number
        .parse::<u64>()
        .map_err(|_| format!("{number:?} is not a case number"))?;
    Ok((group, number))
}

/// Undoes a case for `caller` (see [`crate::service::undo`]).
pub(super) async fn undo_as(
    state: &ConsoleState,
    caller: &Caller,
    ip: IpAddr,
    group: GroupId,
    case: u64,
) -> Result<Undone, UndoError> {
    let actor = Actor::Console {
        name: caller.name().to_owned(),
        address: ip.to_string(),
    };
    crate::service::undo::undo_case(
        &state.store,
        state.pipeline.policies(),
        group,
        case,
        actor,
        state.clock.now(),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct UndoQuery {
    group: Option<String>,
}

/// The answer to an undo.
#[derive(Debug, Serialize)]
struct UndoAnswer {
    /// The undone case's id.
    undone: String,
    /// The id of the case that records the undo.
    id: String,
    /// Its number.
    case: u64,
    /// Strikes taken back.
    removed: u32,
    /// The member's active strikes afterwards.
    strikes_after: u32,
}

/// `POST /api/v1/cases/<case>/undo`.
pub(super) async fn undo(
    State(state): State<ConsoleState>,
    Extension(caller): Extension<Caller>,
    Extension(Client(ip)): Extension<Client>,
    Path(id): Path<String>,
    Query(query): Query<UndoQuery>,
) -> Response {
    let (group, case) = match parse_case(&id, query.group.as_deref()) {
        Ok(x) => x,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match undo_as(&state, &caller, ip, group, case).await {
        Ok(done) => Json(UndoAnswer {
            undone: format!("{group}:{case}"),
            id: format!("{group}:{}", done.case),
            case: done.case,
            removed: done.removed,
            strikes_after: done.strikes_after,
        })
        .into_response(),
        Err(e @ UndoError::NoSuchCase { .. }) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ (UndoError::AlreadyUndone { .. } | UndoError::NothingToUndo { .. })) => {
            error(StatusCode::CONFLICT, e.to_string())
        }
        Err(e @ UndoError::Store(_)) => internal(&e),
    }
}

/// One hit of an explanation.
#[derive(Clone, Debug, Serialize)]
pub struct ExplainedHit {
    /// The rule.
    pub rule: String,
    /// `hard`, `cue` or `regex`.
    pub kind: crate::policy::filter::HitKind,
    /// The phrase or pattern.
    pub pattern: String,
    /// Byte span in the text.
    pub start: usize,
    /// End of the span.
    pub end: usize,
    /// The text of the span.
    pub matched: String,
}

/// What `explain` found.
#[derive(Clone, Debug, Serialize)]
pub struct Explained {
    /// The message.
    pub text: String,
    /// The group whose rules applied, if one was given.
    pub group: Option<String>,
    /// The normalized text the phrases are matched against.
    pub normalized: String,
    /// Every hit, in text order.
    pub hits: Vec<ExplainedHit>,
    /// The violated rule, when it is a violation.
    pub violation: Option<String>,
    /// `qunguan filter explain`'s report.
    pub explanation: String,
}

/// Runs `text` through the live filter, as `qunguan filter explain` does.
pub(super) fn explain_text(state: &ConsoleState, text: &str, group: Option<&str>) -> Result<Explained, String> {
    if text.trim().is_empty() {
        return Err("text is empty".into());
    }
    if text.chars().count() > MAX_EXPLAIN_CHARS {
        return Err(format!("text is longer than {MAX_EXPLAIN_CHARS} characters"));
    }
    let group: Option<GroupId> = match group {
        Some(g) => Some(
            g.parse()
                .map_err(|e: crate::domain::event::IdError| format!("group: {e}"))?,
        ),
        None => None,
    };
    let rules = state.rules.load();
    let policy = match group {
        Some(g) => state.pipeline.policies().group(g),
        None => state.pipeline.policies().group(GroupId::qq(0)),
    };
    let ladder = Policy {
        ladder: &policy.ladder,
        strike_ttl: policy.strike_ttl,
    };
    let report = rules.filter.inspect(text, group);
    // What the daemon learned from its admins, as the pipeline judges with it.
    let lessons = state.pipeline.learning().as_ref();
    let learned = report::Lessons::matched(lessons, &rules.filter, text);
    let hits = report
        .hits
        .iter()
        .map(|h| ExplainedHit {
            rule: h.rule.to_string(),
            kind: h.kind,
            pattern: h.pattern.to_string(),
            start: h.start,
            end: h.end,
            matched: text.get(h.start..h.end).unwrap_or_default().to_owned(),
        })
        .collect();
    Ok(Explained {
        text: text.to_owned(),
        group: group.map(|g| g.to_string()),
        normalized: report.normalized.clone(),
        hits,
        violation: match learned {
            Some(_) => Some("learned".to_owned()),
            None => report.violation.as_ref().map(|(v, _)| v.rule.to_string()),
        },
        explanation: report::explain(
            &rules.filter,
            text,
            group,
            ladder,
            crate::policy::filter::Trust::New,
            lessons,
            state.settings.messages.locale,
            // The console speaks the configured language throughout, its explanation too.
            state.settings.messages.locale,
        ),
    })
}

#[derive(Debug, Deserialize)]
pub(super) struct ExplainBody {
    text: String,
    #[serde(default)]
    group: Option<String>,
}

/// `POST /api/v1/explain` with `{"text": …, "group": …}`.
pub(super) async fn explain(
    State(state): State<ConsoleState>,
    body: Result<Json<ExplainBody>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return error(e.status(), e.body_text()),
    };
    let group = body.group.as_deref().map(str::trim).filter(|g| !g.is_empty());
    match explain_text(&state, &body.text, group) {
        Ok(x) => Json(x).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

/// Reloads the rules folder (the same reload as a file change, SIGHUP and `/reload`) and
/// records the outcome for the Rules page.
pub(super) async fn reload_as(state: &ConsoleState) -> Result<String, ReloadError> {
    let dir = &state.settings.rules.dir;
    crate::service::commands::reload(&state.rules, dir, ReloadTrigger::Console, &state.metrics).await
}

/// `POST /api/v1/reload`.
pub(super) async fn reload(State(state): State<ConsoleState>) -> Response {
    match reload_as(&state).await {
        Ok(summary) => Json(json!({ "ok": true, "summary": summary })).into_response(),
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids_name_their_group() {
        assert_eq!(parse_case("qq:726300112:5", None), Ok((GroupId::qq(726_300_112), 5)));
        assert_eq!(
            parse_case("tg:-1001234567890:12", None),
            Ok((GroupId::telegram(-1_001_234_567_890), 12))
        );
        assert_eq!(parse_case("5", Some("qq:7")), Ok((GroupId::qq(7), 5)));
        assert!(parse_case("5", None).is_err());
        assert!(parse_case("qq:7:x", None).is_err());
        assert!(parse_case("xx:7:1", None).is_err());
    }
}
