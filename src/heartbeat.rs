//! Heartbeat for the runner itself, so a run that never happens, or ends for any reason, is
//! noticed: the settings' `heartbeat.url` is pinged at the start (`/start`) and at the end
//! with the process's exit code (`/<code>`, 0 for success), as healthchecks.io and Uptime
//! Kuma expect, the end's ping carrying the summary's last lines as its body (a POST,
//! which healthchecks.io shows). A ping that fails is logged and otherwise ignored:
//! monitoring must never break the run it monitors. The URL may be a secret reference (it
//! often is one in effect) and is never printed, nor sent in a body.

use std::time::Duration;

use crate::secret::ConfigValue;

/// What to tell the monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    Start,
    Success,
    Fail,
    /// The run ended with this exit code (0: success).
    Exit(u8),
}

/// The most of a body a ping carries: the end of the text is kept (healthchecks.io keeps
/// 100 kB; the summary's last lines are what a person reads there).
const MAX_BODY_LINES: usize = 30;
const MAX_BODY_BYTES: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Heartbeat {
    pub url: ConfigValue,
    pub timeout: Duration,
}

impl Heartbeat {
    /// The address for a ping: `<url>/start`, `<url>`, `<url>/fail`, `<url>/<code>`.
    pub fn address(base: &str, ping: Ping) -> String {
        let base = base.trim_end_matches('/');
        match ping {
            Ping::Start => format!("{base}/start"),
            Ping::Success => base.to_string(),
            Ping::Fail => format!("{base}/fail"),
            Ping::Exit(code) => format!("{base}/{code}"),
        }
    }

    /// Sends one ping; failures are logged as warnings, never returned.
    pub async fn ping(&self, ping: Ping) {
        self.send(ping, None).await
    }

    /// Tells the monitor how the run ended: `<url>/<code>`, with the last lines of `text`
    /// (the summary, or the error that ended the run) as the body.
    pub async fn finish(&self, code: u8, text: &str) {
        self.send(Ping::Exit(code), Some(text)).await
    }

    async fn send(&self, ping: Ping, text: Option<&str>) {
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
        let address = Self::address(&base, ping);
        let request = match text {
            Some(text) => client.post(address).body(body(text, &base)),
            None => client.get(address),
        };
        match request.send().await {
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

/// The last lines of `text`, within the size limit, with the ping URL (a secret) blotted
/// out should any message quote it.
fn body(text: &str, url: &str) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let mut body = lines[lines.len().saturating_sub(MAX_BODY_LINES)..].join("\n");
    let url = url.trim_end_matches('/');
    if !url.is_empty() {
        body = body.replace(url, "<heartbeat url>");
    }
    if body.len() > MAX_BODY_BYTES {
        let mut cut = body.len() - MAX_BODY_BYTES;
        while !body.is_char_boundary(cut) {
            cut += 1;
        }
        body = body[cut..].to_string();
    }
    body.push('\n');
    body
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
        assert_eq!(
            Heartbeat::address(base, Ping::Exit(0)),
            "https://hc-ping.example/abc/0"
        );
        assert_eq!(
            Heartbeat::address(base, Ping::Exit(143)),
            "https://hc-ping.example/abc/143"
        );
    }

    #[test]
    fn a_body_keeps_the_last_lines_without_the_url() {
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let body = body(
            &format!("{text}see https://hc.example/k/ now"),
            "https://hc.example/k",
        );
        assert!(body.starts_with("line 71\n"), "{body}");
        assert!(body.ends_with("see <heartbeat url>/ now\n"), "{body}");
        let long = "é".repeat(MAX_BODY_BYTES);
        assert!(super::body(&long, "x").len() <= MAX_BODY_BYTES + 1);
    }
}
