//! Teams and mail settings from `restore-drill.yaml`: who receives a run's results and how
//! mail leaves the host. Validation only; sending is the `notify` stage's.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::units::HumanDuration;
use crate::secret::ConfigValue;

/// When a team is mailed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notify {
    /// After every run.
    #[default]
    Always,
    /// Only when one of its policies failed (or the run could not start).
    Failures,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTeam {
    name: String,
    email: Vec<String>,
    #[serde(default)]
    msp: bool,
    #[serde(default)]
    client: Option<String>,
    #[serde(default)]
    notify: Notify,
}

/// Whose team it is: the MSP's sees every client; a client's internal team sees its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamScope {
    Msp,
    Client(String),
}

#[derive(Debug, Clone)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub emails: Vec<String>,
    pub scope: TeamScope,
    pub notify: Notify,
}

impl Team {
    /// True when this team may see results of `client`.
    pub fn may_see(&self, client: &str) -> bool {
        match &self.scope {
            TeamScope::Msp => true,
            TeamScope::Client(own) => own == client,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailTransport {
    /// SMTP submission.
    Smtp,
    /// `.eml` files in `state_dir/outbox/`.
    File,
    /// No mail.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS (required, never skipped).
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
    /// No encryption: loopback relays only, unless `allow_insecure` says otherwise.
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMail {
    from: String,
    transport: MailTransport,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    tls: Option<TlsMode>,
    #[serde(default)]
    allow_insecure: bool,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    ca_file: Option<PathBuf>,
    #[serde(default = "default_timeout")]
    timeout: HumanDuration,
    #[serde(default = "default_attempts")]
    attempts: u32,
    #[serde(default = "default_retry_delay")]
    retry_delay: HumanDuration,
    #[serde(default = "default_spool_warn_after")]
    spool_warn_after: HumanDuration,
}

fn default_spool_warn_after() -> HumanDuration {
    HumanDuration(Duration::from_secs(7 * 24 * 3600))
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

fn default_attempts() -> u32 {
    3
}

fn default_retry_delay() -> HumanDuration {
    HumanDuration(Duration::from_secs(2))
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<ConfigValue>,
    pub password: Option<ConfigValue>,
    /// Extra CA certificates (PEM) trusted besides the system's.
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub enum Transport {
    Smtp(SmtpSettings),
    File,
    None,
}

/// Validated mail settings.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub from: String,
    pub transport: Transport,
    /// Delivery attempts per message within a run before it is spooled.
    pub attempts: u32,
    /// Wait before the second attempt; doubled for each one after.
    pub retry_delay: Duration,
    /// A message waiting in the spool longer than this is warned about at every run.
    pub spool_warn_after: Duration,
}

impl MailSettings {
    pub fn disabled() -> Self {
        MailSettings {
            from: String::new(),
            transport: Transport::None,
            attempts: 1,
            retry_delay: Duration::ZERO,
            spool_warn_after: default_spool_warn_after().0,
        }
    }

    pub fn enabled(&self) -> bool {
        !matches!(self.transport, Transport::None)
    }
}

type Invalid = (String, String);

fn check_address(field: &str, address: &str) -> Result<(), Invalid> {
    address
        .parse::<lettre::message::Mailbox>()
        .map(drop)
        .map_err(|e| {
            (
                field.to_string(),
                format!("`{address}` is not a valid email address: {e}"),
            )
        })
}

pub(super) fn resolve_teams(raw: BTreeMap<String, RawTeam>) -> Result<Vec<Team>, Invalid> {
    let mut teams = Vec::new();
    for (id, team) in raw {
        let field = format!("teams.{id}");
        let valid_id = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_id {
            return Err((
                field,
                format!("invalid team id `{id}`: expected a-z, 0-9 and `-`"),
            ));
        }
        if team.email.is_empty() {
            return Err((format!("{field}.email"), "list at least one address".into()));
        }
        for (i, address) in team.email.iter().enumerate() {
            check_address(&format!("{field}.email[{i}]"), address)?;
        }
        let scope = match (team.msp, team.client) {
            (true, None) => TeamScope::Msp,
            (false, Some(client)) => TeamScope::Client(client),
            (true, Some(_)) => {
                return Err((field, "a team is either the MSP's (`msp: true`) or one client's (`client:`), not both".into()));
            }
            (false, None) => {
                return Err((field, "say whose team it is: `msp: true` for the MSP's team, or `client: <client name>` for a client's internal team".into()));
            }
        };
        teams.push(Team {
            id,
            name: team.name,
            emails: team.email,
            scope,
            notify: team.notify,
        });
    }
    Ok(teams)
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub(super) fn resolve_mail(raw: Option<RawMail>, dir: &Path) -> Result<MailSettings, Invalid> {
    let Some(raw) = raw else {
        return Ok(MailSettings::disabled());
    };
    check_address("mail.from", &raw.from)?;
    if raw.attempts == 0 {
        return Err(("mail.attempts".into(), "must be at least 1".into()));
    }
    if raw.spool_warn_after.0.is_zero() {
        return Err((
            "mail.spool_warn_after".into(),
            "must be longer than zero, e.g. `7d`".into(),
        ));
    }
    let transport = match raw.transport {
        MailTransport::None => Transport::None,
        MailTransport::File => Transport::File,
        MailTransport::Smtp => {
            let host = raw.host.filter(|h| !h.trim().is_empty()).ok_or_else(|| {
                (
                    "mail.host".to_string(),
                    "smtp needs `host`, the mail server".to_string(),
                )
            })?;
            let tls = raw.tls.unwrap_or(TlsMode::Starttls);
            if tls == TlsMode::None && !is_loopback(&host) && !raw.allow_insecure {
                return Err((
                    "mail.tls".into(),
                    format!(
                        "`none` sends mail and passwords in clear text; it is allowed for loopback relays only, not `{host}` (set allow_insecure: true to insist)"
                    ),
                ));
            }
            let port = raw.port.unwrap_or(match tls {
                TlsMode::Starttls => 587,
                TlsMode::Tls => 465,
                TlsMode::None => 25,
            });
            let reference = |field: &str,
                             value: Option<String>,
                             secret: bool|
             -> Result<Option<ConfigValue>, Invalid> {
                let Some(text) = value else { return Ok(None) };
                let value = ConfigValue::parse(&text, |p| super::resolve_path(dir, p))
                    .map_err(|e| (field.to_string(), e.to_string()))?;
                if secret && !value.is_reference() {
                    return Err((field.to_string(), "the password must be a reference, ${env:NAME} or ${file:PATH}, not written in the settings".into()));
                }
                // Resolved when the mail server is used (and by `check`).
                Ok(Some(value))
            };
            let username = reference("mail.username", raw.username, false)?;
            let password = reference("mail.password", raw.password, true)?;
            if username.is_some() != password.is_some() {
                return Err((
                    "mail.username".into(),
                    "give both `username` and `password`, or neither".into(),
                ));
            }
            let ca_file = raw.ca_file.map(|p| super::resolve_path(dir, p));
            if let Some(path) = &ca_file {
                let pem = crate::fsx::read_regular(path, super::MAX_FILE_BYTES)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .map_err(|e| {
                        (
                            "mail.ca_file".to_string(),
                            format!("cannot read `{}`: {e}", path.display()),
                        )
                    })?;
                if !pem.contains("-----BEGIN CERTIFICATE-----") {
                    return Err((
                        "mail.ca_file".into(),
                        format!(
                            "`{}` holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                            path.display()
                        ),
                    ));
                }
            }
            Transport::Smtp(SmtpSettings {
                host,
                port,
                tls,
                username,
                password,
                ca_file,
                timeout: raw.timeout.0,
            })
        }
    };
    Ok(MailSettings {
        from: raw.from,
        transport,
        attempts: raw.attempts,
        retry_delay: raw.retry_delay.0,
        spool_warn_after: raw.spool_warn_after.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]"));
        assert!(!is_loopback("smtp.example.com"));
        assert!(!is_loopback("10.0.0.1"));
    }
}
