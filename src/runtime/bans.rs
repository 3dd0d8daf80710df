//! Wiring of the instance-wide ban list: loading it at start, reading the subscribed shared
//! lists periodically (a supervised task), and asking CAS over HTTP.
//!
//! These are the ban list's only outside reads, and none of them is a chat gateway, so they
//! live here rather than in `gateway`: the service ([`crate::service::bans`]) gets the lists'
//! text and a [`CasLookup`], and decides everything itself.
//!
//! Every read is bounded: a shared list by [`MAX_LIST_BYTES`] and the HTTP timeout, a CAS
//! answer by [`MAX_CAS_BYTES`] and `[bans] cas_timeout`. A list that cannot be read, or
//! holds a bad line, leaves the previous version in force; the log names the list and line.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{Settings, Subscription};
use crate::domain::metrics::Metrics;
use crate::runtime::supervise::{Ended, Run};
use crate::service::bans::{Bans, CasAnswer, CasLookup};
use crate::store::{Store, StoreError};

/// The largest shared list read (bytes).
pub const MAX_LIST_BYTES: usize = 64 << 20;
/// The largest CAS answer read (bytes).
const MAX_CAS_BYTES: usize = 64 << 10;
/// How long fetching one shared list over HTTP may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(60);

/// Loads the ban list from `store` (off the async threads) and, with `[bans] cas`, gives it
/// the HTTP CAS lookup.
pub(crate) async fn load(
    settings: &Arc<Settings>,
    store: Store,
    metrics: Arc<Metrics>,
) -> Result<Arc<Bans>, StoreError> {
    let settings_for_load = Arc::clone(settings);
    let bans = tokio::task::spawn_blocking(move || Bans::load(settings_for_load, store, metrics))
        .await
        .map_err(|e| StoreError::Join(e.to_string()))??;
    if !settings.bans.cas {
        return Ok(Arc::new(bans));
    }
    let http = reqwest::Client::builder()
        .timeout(settings.bans.cas_timeout.get())
        .user_agent(concat!("qunguan/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| StoreError::Unavailable(format!("cannot build the CAS HTTP client: {e}")))?;
    let cas = HttpCas {
        http,
        api: settings.bans.cas_api.trim_end_matches('/').to_owned(),
    };
    Ok(Arc::new(bans.with_cas(Arc::new(cas))))
}

/// CAS over HTTP: `GET <cas_api>/check?user_id=<id>` answers `{"ok": true, …}` for a listed
/// user and `{"ok": false, …}` for one it does not know.
struct HttpCas {
    http: reqwest::Client,
    api: String,
}

#[derive(serde::Deserialize)]
struct CasReply {
    ok: bool,
}

impl CasLookup for HttpCas {
    fn listed(&self, user_id: i64) -> Pin<Box<dyn Future<Output = CasAnswer> + Send + '_>> {
        Box::pin(async move {
            let url = format!("{}/check?user_id={user_id}", self.api);
            let response = self
                .http
                .get(&url)
                .send()
                .await
                .map_err(|e| e.without_url().to_string())?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("CAS answered HTTP {status}"));
            }
            let body = read_capped(response, MAX_CAS_BYTES).await?;
            let reply: CasReply = serde_json::from_slice(&body)
                .map_err(|e| format!("CAS answered something that is not its JSON: {e}"))?;
            Ok(reply.ok)
        })
    }
}

/// The body of `response`, refused when longer than `cap`.
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.without_url().to_string())? {
        if body.len() + chunk.len() > cap {
            return Err(format!("the answer is longer than {cap} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads one shared list's text.
async fn fetch(http: &reqwest::Client, source: &Subscription) -> Result<String, String> {
    let bytes = match source {
        Subscription::File(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                let len = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
                if len > MAX_LIST_BYTES as u64 {
                    return Err(format!("the file is longer than {MAX_LIST_BYTES} bytes"));
                }
                std::fs::read(&path).map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())??
        }
        Subscription::Url(url) => {
            let response = http.get(url).send().await.map_err(|e| e.without_url().to_string())?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("HTTP {status}"));
            }
            read_capped(response, MAX_LIST_BYTES).await?
        }
    };
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))
}

/// How a shared list is named in the log: a file by its path; a URL as
/// `scheme://host[:port]/path`, without the user info or the query (either may hold a
/// token).
pub(crate) fn redacted(source: &Subscription) -> String {
    match source {
        Subscription::File(path) => path.display().to_string(),
        Subscription::Url(url) => match reqwest::Url::parse(url) {
            Ok(url) => {
                let host = url.host_str().unwrap_or_default();
                match url.port() {
                    Some(port) => format!("{}://{host}:{port}{}", url.scheme(), url.path()),
                    None => format!("{}://{host}{}", url.scheme(), url.path()),
                }
            }
            Err(_) => "(a URL that does not parse)".to_owned(),
        },
    }
}

/// Reads every shared list once; each that cannot be read or parsed keeps its previous
/// version.
async fn refresh_all(bans: &Bans, http: &reqwest::Client, sources: &[Subscription]) {
    for (index, source) in sources.iter().enumerate() {
        let source_name = redacted(source);
        match fetch(http, source).await {
            Ok(text) => match bans.set_shared(index, &text) {
                Ok(count) => tracing::info!(list = %source_name, bans = count, "shared ban list read"),
                Err(e) => {
                    tracing::error!(list = %source_name, error = %e, "shared ban list refused; its previous version stays in force")
                }
            },
            Err(e) => {
                bans.refresh_failed();
                tracing::warn!(list = %source_name, error = %e, "shared ban list not read; its previous version stays in force");
            }
        }
    }
}

/// The supervised task that reads the subscribed lists at start, then every `[bans]
/// refresh`, or at once when `now` is notified.
pub(crate) fn refresher(bans: Arc<Bans>, settings: &Settings) -> impl Fn(CancellationToken) -> Run + Send + 'static {
    let sources = settings.bans.subscriptions();
    let now = bans.refresh_bell();
    let every = settings.bans.refresh.get();
    move |cancel| {
        let (bans, sources, now) = (Arc::clone(&bans), sources.clone(), Arc::clone(&now));
        Box::pin(async move {
            let http = match reqwest::Client::builder()
                .timeout(LIST_TIMEOUT)
                .user_agent(concat!("qunguan/", env!("CARGO_PKG_VERSION")))
                .build()
            {
                Ok(http) => http,
                Err(e) => return Ended::Failed(format!("cannot build the HTTP client: {e}")),
            };
            loop {
                refresh_all(&bans, &http, &sources).await;
                tokio::select! {
                    () = cancel.cancelled() => return Ended::Done,
                    () = tokio::time::sleep(every) => {}
                    () = now.notified() => {}
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_url_is_logged_without_its_user_info_or_query() {
        let url = |u: &str| redacted(&Subscription::Url(u.to_owned()));
        assert_eq!(
            url("https://alice:s3cret@lists.example.org/shared/bans.csv?token=abc&x=1#top"),
            "https://lists.example.org/shared/bans.csv"
        );
        assert_eq!(
            url("http://127.0.0.1:8099/bans.csv?key=k"),
            "http://127.0.0.1:8099/bans.csv"
        );
        assert_eq!(url("https://[::1]:9/b?t=1"), "https://[::1]:9/b");
        assert_eq!(url("not a url ?token=x"), "(a URL that does not parse)");
        let file = redacted(&Subscription::File("/etc/qunguan/friends.csv".into()));
        assert_eq!(file, "/etc/qunguan/friends.csv");
    }
}
