//! Heartbeat for the runner itself, so a run that never happens is noticed: the settings'
//! `heartbeat.url` is pinged at the start (`/start`), on success (the plain URL) and on
//! failure (`/fail`), as healthchecks.io and Uptime Kuma expect. A ping that fails is logged
//! and otherwise ignored: monitoring must never break the run it monitors. The URL may be a
//! secret reference (it often is one in effect) and is never printed.

use std::time::Duration;

use crate::secret::ConfigValue;

/// What to tell the monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    Start,
    Success,
    Fail,
}

#[derive(Debug, Clone)]
pub struct Heartbeat {
    pub url: ConfigValue,
    pub timeout: Duration,
}

impl Heartbeat {
    /// The address for a ping: `<url>/start`, `<url>`, `<url>/fail`.
    pub fn address(base: &str, ping: Ping) -> String {
        let base = base.trim_end_matches('/');
        match ping {
            Ping::Start => format!("{base}/start"),
            Ping::Success => base.to_string(),
            Ping::Fail => format!("{base}/fail"),
        }
    }

    /// Sends one ping; failures are logged as warnings, never returned.
    pub async fn ping(&self, ping: Ping) {
        let base = match self.url.resolve() {
            Ok(url) => url,
            Err(e) => {
                tracing::warn!(error = %e, "heartbeat not sent");
                return;
            }
        };
        let client = match reqwest::Client::builder().timeout(self.timeout).build() {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(error = %e.without_url(), "heartbeat not sent");
                return;
            }
        };
        match client.get(Self::address(&base, ping)).send().await {
            Ok(response) if response.status().is_success() => {
                tracing::debug!(?ping, "heartbeat sent");
            }
            Ok(response) => {
                tracing::warn!(?ping, status = %response.status(), "heartbeat refused by the monitor")
            }
            Err(e) => tracing::warn!(?ping, error = %e.without_url(), "heartbeat not sent"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_the_monitors_convention() {
        let base = "https://hc-ping.example/abc/";
        assert_eq!(
            Heartbeat::address(base, Ping::Start),
            "https://hc-ping.example/abc/start"
        );
        assert_eq!(
            Heartbeat::address(base, Ping::Success),
            "https://hc-ping.example/abc"
        );
        assert_eq!(
            Heartbeat::address(base, Ping::Fail),
            "https://hc-ping.example/abc/fail"
        );
    }
}
