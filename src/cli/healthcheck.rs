//! `qunguan healthcheck`: ask the admin listener's /healthz (container healthchecks).

use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::config::Settings;

pub(crate) fn healthcheck(config: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let Some(addr) = settings.server.admin_listen else {
        bail!("server.admin_listen is off (\"\"); the healthcheck asks the admin listener's /healthz");
    };
    // A wildcard bind is reached on loopback.
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let url = format!("http://{}/healthz", std::net::SocketAddr::new(ip, addr.port()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(3))
            .no_proxy()
            .build()
            .context("cannot build the HTTP client")?;
        let response = client
            .get(&url)
            .send()
            .await
            .with_context(|| format!("{url} did not answer"))?;
        let status = response.status();
        if !status.is_success() {
            bail!("{url} answered {status}");
        }
        println!("ok: {url}");
        Ok(())
    })
}
