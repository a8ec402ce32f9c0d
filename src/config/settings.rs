//! `restore-drill.yaml`: settings shared by every policy in a configuration directory.
//! Raw (as written) and resolved (paths absolute, defaults filled in) are separate types.

use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use serde::Deserialize;

use super::mail::{self, MailSettings, RawMail, RawTeam, Team};
use super::units::ByteSize;
use crate::secret::ConfigValue;

/// Objects restored at once when the settings do not say.
pub const DEFAULT_RESTORES: usize = 4;
/// Decompressed bytes allowed per object when the settings do not say: 64 GiB.
pub const DEFAULT_MAX_RESTORED_BYTES: u64 = 64 << 30;
/// The largest zstd window a frame may ask for when the settings do not say: 128 MiB, the
/// zstd CLI's own default limit (frames made with `--long` fit; `--long=31` needs more).
pub const DEFAULT_MAX_ZSTD_WINDOW: u64 = 128 << 20;
/// zstd's largest window: 2 GiB.
const MAX_ZSTD_WINDOW: u64 = 2 << 30;
/// More parallel restores than this would only thrash a host.
const MAX_RESTORES: usize = 256;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSettings {
    scratch_dir: Option<PathBuf>,
    scratch_direct_io: Option<bool>,
    state_dir: Option<PathBuf>,
    #[serde(default)]
    concurrency: RawConcurrency,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    storage: RawStorageTuning,
    #[serde(default)]
    teams: BTreeMap<String, RawTeam>,
    #[serde(default)]
    mail: Option<RawMail>,
    #[serde(default)]
    controls: BTreeMap<String, Control>,
    #[serde(default)]
    signing: Option<RawSigning>,
    #[serde(default)]
    heartbeat: Option<RawHeartbeat>,
    #[serde(default)]
    report: super::report::RawReport,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeartbeat {
    /// The check's ping URL (healthchecks.io, Uptime Kuma push), or a reference to it.
    url: String,
    #[serde(default = "default_heartbeat_timeout")]
    timeout: super::units::HumanDuration,
}

fn default_heartbeat_timeout() -> super::units::HumanDuration {
    super::units::HumanDuration(std::time::Duration::from_secs(10))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigning {
    /// A reference to the ed25519 private key: 64 hex digits (the 32-byte seed).
    key: String,
}

/// A compliance control (a SOC 2, HIPAA or CMMC id) and the policies whose runs are its
/// evidence, for the period report's control-mapping table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    #[serde(default)]
    pub description: String,
    pub policies: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConcurrency {
    restores: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorageTuning {
    timeout: Option<super::units::HumanDuration>,
    stall_timeout: Option<super::units::HumanDuration>,
    retries: Option<usize>,
    min_rate: Option<ByteSize>,
    policy_timeout: Option<super::units::HumanDuration>,
    max_listed_keys: Option<u64>,
    max_list_pages: Option<u64>,
}

/// How the runner talks to every storage: per-request limits and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageTuning {
    /// A request (stat, list page, read call) taking longer has failed.
    pub timeout: std::time::Duration,
    /// Waiting longer than this for the next bytes of a body: the transfer stalled.
    pub stall_timeout: std::time::Duration,
    /// Retries of a failed request (temporary errors only), with backoff and jitter.
    pub retries: usize,
    /// The slowest transfer allowed, in bytes per second: an object's read is given up
    /// after `timeout` plus its listed size at this rate.
    pub min_rate: u64,
    /// A policy's listing, and then its restores, are given up after this long; `None`:
    /// twice the policy's `targets.rto`, at least an hour ([`StorageTuning::policy_time`]).
    pub policy_timeout: Option<std::time::Duration>,
    /// Keys one policy's listings may bring, its two listings together.
    pub max_listed_keys: u64,
    /// List requests (pages, retries included) one policy's listings may make.
    pub max_list_pages: u64,
}

impl Default for StorageTuning {
    fn default() -> Self {
        StorageTuning {
            timeout: std::time::Duration::from_secs(60),
            stall_timeout: std::time::Duration::from_secs(30),
            retries: 4,
            min_rate: 64 << 10,
            policy_timeout: None,
            max_listed_keys: 1_000_000,
            max_list_pages: 10_000,
        }
    }
}

impl StorageTuning {
    /// How long a policy's listing, and then its restores, may take: `policy_timeout`, or
    /// twice its RTO and at least an hour. A run that reaches it would break the RTO anyway.
    pub fn policy_time(&self, rto: std::time::Duration) -> std::time::Duration {
        self.policy_timeout.unwrap_or_else(|| {
            rto.saturating_mul(2)
                .max(std::time::Duration::from_secs(3600))
        })
    }

    /// How long the read of an object listed at `size` bytes may take: `timeout` plus its
    /// size at `min_rate`.
    pub fn read_time(&self, size: u64) -> std::time::Duration {
        let rate = self.min_rate.max(1) as f64;
        self.timeout.saturating_add(
            std::time::Duration::try_from_secs_f64(size as f64 / rate)
                .unwrap_or(std::time::Duration::MAX),
        )
    }
}

/// More retries than this would only turn an outage into a storm.
const MAX_RETRIES: usize = 10;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_restored_bytes: Option<ByteSize>,
    max_zstd_window: Option<ByteSize>,
}

/// Validated settings: every path absolute, every default applied.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where restores land (`state_dir/scratch` by default); each run works in a folder of
    /// its own below it. Must be the runner's user's alone (see `unattended::private_scratch`).
    pub scratch_dir: PathBuf,
    /// Write restored files' whole buffers with direct I/O (past the page cache) where the
    /// scratch file system supports it.
    pub scratch_direct_io: bool,
    /// Where durable state (history, spool) lives.
    pub state_dir: PathBuf,
    /// Objects restored at once, across all policies.
    pub restores: usize,
    /// Decompressed bytes allowed per object.
    pub max_restored_bytes: u64,
    /// The largest window a zstd frame may ask for (memory the decoder allocates up front).
    pub max_zstd_window: u64,
    /// Who receives results: the MSP's team and the clients' internal teams.
    pub teams: Vec<Team>,
    pub mail: MailSettings,
    /// Control id → the policies that evidence it.
    pub controls: BTreeMap<String, Control>,
    /// The ed25519 key that signs run records and reports, as a secret reference.
    pub signing_key: Option<ConfigValue>,
    /// Where the runner reports that it ran.
    pub heartbeat: Option<crate::heartbeat::Heartbeat>,
    pub storage: StorageTuning,
    /// How the period report is presented: zone, branding, paper.
    pub report: super::report::ReportSettings,
}

impl RawSettings {
    /// Resolves relative paths against the configuration directory and applies defaults.
    /// Returns the field and message of the first invalid value.
    pub(super) fn resolve(self, dir: &Path) -> Result<Settings, (String, String)> {
        let restores = self.concurrency.restores.unwrap_or(DEFAULT_RESTORES);
        if restores == 0 || restores > MAX_RESTORES {
            return Err((
                "concurrency.restores".into(),
                format!("must be between 1 and {MAX_RESTORES}, got {restores}"),
            ));
        }
        let max_restored_bytes = self
            .limits
            .max_restored_bytes
            .map_or(DEFAULT_MAX_RESTORED_BYTES, |b| b.0);
        if max_restored_bytes == 0 {
            return Err((
                "limits.max_restored_bytes".into(),
                "must be greater than zero".into(),
            ));
        }
        let max_zstd_window = self
            .limits
            .max_zstd_window
            .map_or(DEFAULT_MAX_ZSTD_WINDOW, |b| b.0);
        if !(1 << 20..=MAX_ZSTD_WINDOW).contains(&max_zstd_window) {
            return Err((
                "limits.max_zstd_window".into(),
                "must be between 1MiB and 2GiB".into(),
            ));
        }
        let defaults = StorageTuning::default();
        let storage = StorageTuning {
            timeout: self.storage.timeout.map_or(defaults.timeout, |d| d.0),
            stall_timeout: self
                .storage
                .stall_timeout
                .map_or(defaults.stall_timeout, |d| d.0),
            retries: self.storage.retries.unwrap_or(defaults.retries),
            min_rate: self.storage.min_rate.map_or(defaults.min_rate, |b| b.0),
            policy_timeout: self.storage.policy_timeout.map(|d| d.0),
            max_listed_keys: self
                .storage
                .max_listed_keys
                .unwrap_or(defaults.max_listed_keys),
            max_list_pages: self
                .storage
                .max_list_pages
                .unwrap_or(defaults.max_list_pages),
        };
        for (field, value) in [
            ("storage.timeout", storage.timeout),
            ("storage.stall_timeout", storage.stall_timeout),
            (
                "storage.policy_timeout",
                storage.policy_timeout.unwrap_or(storage.timeout),
            ),
        ] {
            if value.is_zero() {
                return Err((field.into(), "must be greater than zero".into()));
            }
        }
        for (field, value) in [
            ("storage.min_rate", storage.min_rate),
            ("storage.max_listed_keys", storage.max_listed_keys),
            ("storage.max_list_pages", storage.max_list_pages),
        ] {
            if value == 0 {
                return Err((field.into(), "must be greater than zero".into()));
            }
        }
        if storage.retries > MAX_RETRIES {
            return Err((
                "storage.retries".into(),
                format!("must be at most {MAX_RETRIES}, got {}", storage.retries),
            ));
        }
        let teams = mail::resolve_teams(self.teams)?;
        let mail = mail::resolve_mail(self.mail, dir)?;
        let state_dir = self
            .state_dir
            .map_or_else(default_state_dir, |p| super::resolve_path(dir, p));
        Ok(Settings {
            // In the state folder by default, not the world-writable temp folder.
            scratch_dir: self.scratch_dir.map_or_else(
                || state_dir.join("scratch"),
                |p| super::resolve_path(dir, p),
            ),
            scratch_direct_io: self.scratch_direct_io.unwrap_or(false),
            state_dir,
            restores,
            max_restored_bytes,
            teams,
            mail,
            controls: self.controls,
            signing_key: resolve_signing(self.signing, dir)?,
            heartbeat: resolve_heartbeat(self.heartbeat, dir)?,
            storage,
            max_zstd_window,
            report: self.report.resolve(dir)?,
        })
    }
}

/// The parts of the settings needed to mail a notice, read leniently: whatever else in the
/// file is wrong, a run that cannot start can still tell the MSP's team.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawMailOnly {
    #[serde(default)]
    state_dir: Option<PathBuf>,
    #[serde(default)]
    teams: BTreeMap<String, RawTeam>,
    #[serde(default)]
    mail: Option<RawMail>,
}

/// Teams, mail and state folder: enough to send and spool a notice.
#[derive(Debug, Clone)]
pub struct MailOnly {
    pub teams: Vec<Team>,
    pub mail: MailSettings,
    pub state_dir: PathBuf,
}

impl RawMailOnly {
    pub(super) fn resolve(self, dir: &Path) -> Option<MailOnly> {
        Some(MailOnly {
            teams: mail::resolve_teams(self.teams).ok()?,
            mail: mail::resolve_mail(self.mail, dir).ok()?,
            state_dir: self
                .state_dir
                .map_or_else(default_state_dir, |p| super::resolve_path(dir, p)),
        })
    }
}

/// The heartbeat settings alone, read leniently (see [`RawMailOnly`]): a run that cannot
/// start still tells the monitor, whatever else in the file is wrong.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawHeartbeatOnly {
    #[serde(default)]
    heartbeat: Option<RawHeartbeat>,
}

impl RawHeartbeatOnly {
    pub(super) fn resolve(self, dir: &Path) -> Option<crate::heartbeat::Heartbeat> {
        resolve_heartbeat(self.heartbeat, dir).ok().flatten()
    }
}

fn resolve_heartbeat(
    raw: Option<RawHeartbeat>,
    dir: &Path,
) -> Result<Option<crate::heartbeat::Heartbeat>, (String, String)> {
    let Some(raw) = raw else { return Ok(None) };
    let field = || "heartbeat.url".to_string();
    let url = ConfigValue::parse(&raw.url, |p| super::resolve_path(dir, p))
        .map_err(|e| (field(), e.to_string()))?;
    // A reference is resolved when the ping is sent (and by `check`, which also checks its
    // scheme): commands that send none need not see the secret.
    if !url.is_reference() {
        check_heartbeat_url(&raw.url).map_err(|message| (field(), message))?;
    }
    Ok(Some(crate::heartbeat::Heartbeat {
        url,
        timeout: raw.timeout.0,
    }))
}

/// A heartbeat URL is http:// or https://.
pub(super) fn check_heartbeat_url(url: &str) -> Result<(), String> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err("expected an http:// or https:// URL".into())
    }
}

fn resolve_signing(
    raw: Option<RawSigning>,
    dir: &Path,
) -> Result<Option<ConfigValue>, (String, String)> {
    let Some(raw) = raw else { return Ok(None) };
    let field = || "signing.key".to_string();
    let key = ConfigValue::parse(&raw.key, |p| super::resolve_path(dir, p))
        .map_err(|e| (field(), e.to_string()))?;
    if !key.is_reference() {
        return Err((field(), "the signing key must be a reference, ${file:PATH} or ${env:NAME}, not written in the settings".into()));
    }
    let value = key.resolve().map_err(|e| (field(), e.to_string()))?;
    if crate::signing::parse_key(&value).is_none() {
        return Err((field(), "expected 64 hex digits, the 32-byte ed25519 seed (make one with `openssl rand -hex 32`)".into()));
    }
    Ok(Some(key))
}

impl Settings {
    /// Settings used when the directory has no `restore-drill.yaml`.
    pub fn defaults(dir: &Path) -> Settings {
        RawSettings::default()
            .resolve(dir)
            .expect("defaults are valid")
    }
}

/// `/var/lib/restore-drill` for root (a system service), else the XDG state directory.
fn default_state_dir() -> PathBuf {
    if rustix::process::geteuid().is_root() {
        return PathBuf::from("/var/lib/restore-drill");
    }
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(state).join("restore-drill");
    }
    match std::env::var_os("HOME").filter(|s| !s.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/state/restore-drill"),
        None => std::env::temp_dir().join("restore-drill-state"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_against_the_config_dir() {
        let raw = RawSettings {
            scratch_dir: Some("scratch".into()),
            ..Default::default()
        };
        let s = raw.resolve(Path::new("/etc/rd")).unwrap();
        assert_eq!(s.scratch_dir, Path::new("/etc/rd/scratch"));
        assert_eq!(s.restores, DEFAULT_RESTORES);
        assert_eq!(s.max_restored_bytes, 64 << 30);
    }

    #[test]
    fn zero_restores_is_rejected() {
        let raw = RawSettings {
            concurrency: RawConcurrency { restores: Some(0) },
            ..Default::default()
        };
        assert_eq!(
            raw.resolve(Path::new("/")).unwrap_err().0,
            "concurrency.restores"
        );
    }

    #[test]
    fn reads_and_policies_have_bounded_time() {
        let tuning = StorageTuning::default();
        let hour = std::time::Duration::from_secs(3600);
        // 64 KiB/s: a GiB has 16384 s beyond the request timeout.
        assert_eq!(
            tuning.read_time(1 << 30),
            tuning.timeout + std::time::Duration::from_secs(16384)
        );
        assert_eq!(tuning.read_time(0), tuning.timeout);
        assert_eq!(tuning.policy_time(hour / 4), hour);
        assert_eq!(tuning.policy_time(5 * hour), 10 * hour);
        let set = StorageTuning {
            policy_timeout: Some(hour / 2),
            ..tuning
        };
        assert_eq!(set.policy_time(5 * hour), hour / 2);
        for field in [
            "storage.min_rate",
            "storage.max_listed_keys",
            "storage.max_list_pages",
            "storage.policy_timeout",
        ] {
            let mut raw = RawStorageTuning::default();
            match field {
                "storage.min_rate" => raw.min_rate = Some(ByteSize(0)),
                "storage.max_listed_keys" => raw.max_listed_keys = Some(0),
                "storage.max_list_pages" => raw.max_list_pages = Some(0),
                _ => {
                    raw.policy_timeout = Some(crate::config::units::HumanDuration(
                        std::time::Duration::ZERO,
                    ))
                }
            }
            let raw = RawSettings {
                storage: raw,
                ..Default::default()
            };
            assert_eq!(raw.resolve(Path::new("/")).unwrap_err().0, field);
        }
    }

    #[test]
    fn storage_tuning_has_defaults_and_bounds() {
        let s = RawSettings::default().resolve(Path::new("/")).unwrap();
        assert_eq!(s.storage, StorageTuning::default());
        let raw = RawSettings {
            storage: RawStorageTuning {
                retries: Some(11),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            raw.resolve(Path::new("/")).unwrap_err().0,
            "storage.retries"
        );
        let raw = RawSettings {
            storage: RawStorageTuning {
                stall_timeout: Some(crate::config::units::HumanDuration(
                    std::time::Duration::ZERO,
                )),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            raw.resolve(Path::new("/")).unwrap_err().0,
            "storage.stall_timeout"
        );
    }
}
