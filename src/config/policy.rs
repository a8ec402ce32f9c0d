//! One policy file: one protected system of one client. Deserialized into raw types that
//! mirror the YAML (unknown fields rejected by name), then resolved once into [`Policy`],
//! which cannot hold an invalid value. No I/O: secret references are checked for their form
//! here and resolved only where they are used (and by `check`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use super::mail::{Team, TeamScope};
use super::restic::{BackupFormat, Restic};
use super::sample::{RawSample, Sample};
use super::units::HumanDuration;
use crate::secret::{ConfigValue, is_secret_key};

/// Storage services compiled in.
pub const SERVICES: &[&str] = &["fs", "s3", "azblob", "gcs"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    name: PolicyName,
    client: String,
    #[serde(default)]
    description: Option<String>,
    storage: RawStorage,
    backups: RawBackups,
    #[serde(default)]
    checksums: RawChecksums,
    #[serde(default)]
    sample: RawSample,
    targets: RawTargets,
    #[serde(default)]
    validate: Vec<RawValidate>,
    #[serde(default)]
    responsibility: RawResponsibility,
    #[serde(default)]
    schedule: Option<String>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    restic: Option<super::restic::RawRestic>,
}

/// Who acts on what (RACI): team ids from the settings' `teams`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResponsibility {
    responsible: Option<String>,
    accountable: Option<String>,
    informed: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
struct PolicyName(String);

impl TryFrom<String> for PolicyName {
    type Error = String;
    fn try_from(name: String) -> Result<Self, String> {
        let valid = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-');
        if valid {
            Ok(PolicyName(name))
        } else {
            Err(format!(
                "invalid policy name `{name}`: expected 1 to 63 characters of a-z, 0-9 and `-`"
            ))
        }
    }
}

#[derive(Debug, Deserialize)]
struct RawStorage {
    service: ServiceName,
    /// Everything else is handed to the service's opendal configuration.
    #[serde(flatten)]
    options: BTreeMap<String, Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
struct ServiceName(String);

impl TryFrom<String> for ServiceName {
    type Error = String;
    fn try_from(name: String) -> Result<Self, String> {
        if SERVICES.contains(&name.as_str()) {
            Ok(ServiceName(name))
        } else {
            Err(format!(
                "unknown storage service `{name}`: expected one of {}",
                SERVICES.join(", ")
            ))
        }
    }
}

/// A YAML scalar taken as text (`port: 9000` and `port: "9000"` mean the same).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn into_text(self) -> String {
        match self {
            Scalar::Text(t) => t,
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackups {
    #[serde(default)]
    format: BackupFormat,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    sets: SetLayout,
    #[serde(default)]
    date_format: Option<DateFormat>,
    #[serde(default)]
    dated_by: Option<DateSource>,
    #[serde(default)]
    include: Vec<String>,
}

/// Where a set's date comes from (`backups.dated_by`): the RPO is judged on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DateSource {
    /// The set's name, read with `backups.date_format`; a name that does not match is a
    /// finding (`undated_backup`), never a fallback to upload time.
    Name,
    /// The newest upload (last-modified) time of the set's objects, which a sync, a copy
    /// or a re-upload resets.
    Modified,
    /// A restic snapshot's own time, written by restic when it made the snapshot
    /// (`backups.format: restic`; never set by hand).
    Snapshot,
}

impl DateSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DateSource::Name => "name",
            DateSource::Modified => "modified",
            DateSource::Snapshot => "snapshot",
        }
    }
}

/// How objects under the prefix group into backup sets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SetLayout {
    /// Each folder directly under the prefix is one backup set.
    #[default]
    ByFolder,
    /// Each object is a backup set of its own.
    ByObject,
}

/// A strftime-style format (`%Y-%m-%d`) checked by formatting a sample date with it.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct DateFormat(pub String);

impl TryFrom<String> for DateFormat {
    type Error = String;
    fn try_from(format: String) -> Result<Self, String> {
        let sample = jiff::civil::date(2026, 1, 2).at(3, 4, 5, 0);
        let formatted = jiff::fmt::strtime::format(&format, sample)
            .map_err(|e| format!("invalid date_format `{format}`: {e}"))?;
        if !format.contains('%') || formatted == format {
            return Err(format!(
                "invalid date_format `{format}`: expected strftime fields such as `%Y-%m-%d`"
            ));
        }
        Ok(DateFormat(format))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChecksums {
    #[serde(default = "yes")]
    required: bool,
    #[serde(default)]
    in_archive: Option<String>,
}

impl Default for RawChecksums {
    fn default() -> Self {
        RawChecksums {
            required: true,
            in_archive: None,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTargets {
    rpo: HumanDuration,
    rto: HumanDuration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawValidate {
    name: String,
    run: Vec<String>,
    #[serde(default = "default_validate_timeout")]
    timeout: HumanDuration,
}

fn default_validate_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(300))
}

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub client: String,
    pub description: Option<String>,
    /// The file it came from, for messages.
    pub file: PathBuf,
    pub storage: StorageSpec,
    pub backups: Backups,
    pub checksums: Checksums,
    pub sample: Sample,
    pub targets: Targets,
    pub validate: Vec<Validation>,
    pub responsibility: Responsibility,
    /// When `run --due` runs it.
    pub schedule: Option<crate::schedule::Schedule>,
    /// Which snapshots count, with `backups.format: restic`; none for objects.
    pub restic: Option<Restic>,
}

/// The policy's responsibility matrix, resolved to team ids that exist and may see this
/// client's results.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Responsibility {
    /// Acts on a failure.
    pub responsible: Option<String>,
    /// Owns the system and its data.
    pub accountable: Option<String>,
    /// Receives the results.
    pub informed: Vec<String>,
}

/// Where a policy's backups live. Option values may be secret references.
#[derive(Debug, Clone)]
pub struct StorageSpec {
    pub service: String,
    pub options: BTreeMap<String, ConfigValue>,
}

#[derive(Debug, Clone)]
pub struct Backups {
    /// What the storage holds: objects, or a restic repository at the prefix.
    pub format: BackupFormat,
    /// Under the storage root; empty or ending in `/`.
    pub prefix: String,
    pub sets: SetLayout,
    pub date_format: Option<String>,
    /// `name` (the default with a `date_format`) or `modified` (the default without).
    pub dated_by: DateSource,
    /// Matched against the key below the prefix; `*` crosses folders. Empty: everything.
    pub include: Option<GlobSet>,
}

#[derive(Debug, Clone)]
pub struct Checksums {
    pub required: bool,
    pub in_archive: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct Targets {
    pub rpo: Duration,
    pub rto: Duration,
}

#[derive(Debug, Clone)]
pub struct Validation {
    pub name: String,
    pub run: Vec<String>,
    pub timeout: Duration,
}

impl RawPolicy {
    /// Resolves into a [`Policy`]. Errors name the field path; the caller adds file and line.
    /// `teams` is `None` when the settings are invalid: the teams named are then not checked,
    /// as every check against them would be a misleading follow-up error.
    pub(super) fn resolve(
        self,
        file: &Path,
        teams: Option<&[Team]>,
    ) -> Result<Policy, (String, String)> {
        let base = file.parent().unwrap_or(Path::new("."));
        let responsibility = resolve_responsibility(self.responsibility, &self.client, teams)?;
        let schedule = match (&self.schedule, &self.timezone) {
            (Some(expression), timezone) => Some(crate::schedule::Schedule::parse(
                expression,
                timezone.as_deref(),
            )?),
            (None, Some(_)) => {
                return Err((
                    "timezone".into(),
                    "a time zone needs a `schedule` to apply to".into(),
                ));
            }
            (None, None) => None,
        };
        let storage = resolve_storage(self.storage, base)?;
        let restic = resolve_restic(&self.backups, self.restic, base)?;
        let include = build_globs(&self.backups.include)?;
        let dated_by = match (self.backups.dated_by, &self.backups.date_format) {
            (Some(DateSource::Name), None) => {
                return Err((
                    "backups.dated_by".into(),
                    "`name` needs backups.date_format, the format of the dates in the set names (e.g. `%Y-%m-%d`); or use `modified` to date sets by upload time".into(),
                ));
            }
            (Some(source), _) => source,
            (None, Some(_)) => DateSource::Name,
            (None, None) if self.backups.format == BackupFormat::Restic => DateSource::Snapshot,
            (None, None) => DateSource::Modified,
        };
        let mut prefix = self.backups.prefix.trim_start_matches('/').to_string();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        if prefix.split('/').any(|c| c == "..") {
            return Err(("backups.prefix".into(), "must not contain `..`".into()));
        }
        if let Some(name) = &self.checksums.in_archive
            && (name.is_empty() || name.starts_with('/') || name.split('/').any(|c| c == ".."))
        {
            return Err((
                "checksums.in_archive".into(),
                format!("`{name}` must be a relative path inside the archive"),
            ));
        }
        let validate = self
            .validate
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                if v.run.is_empty() || v.run[0].trim().is_empty() {
                    return Err((
                        format!("validate[{i}].run"),
                        "must name a program and its arguments, e.g. [\"sqlite3\", \"{dir}/app.db\", \"PRAGMA integrity_check\"]".into(),
                    ));
                }
                Ok(Validation { name: v.name, run: v.run, timeout: v.timeout.0 })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy {
            name: self.name.0,
            client: self.client,
            description: self.description,
            file: file.to_path_buf(),
            storage,
            backups: Backups {
                format: self.backups.format,
                prefix,
                sets: self.backups.sets,
                date_format: self.backups.date_format.map(|f| f.0),
                dated_by,
                include,
            },
            checksums: Checksums {
                required: self.checksums.required,
                in_archive: self.checksums.in_archive,
            },
            sample: self.sample.resolve(),
            targets: Targets {
                rpo: self.targets.rpo.0,
                rto: self.targets.rto.0,
            },
            validate,
            responsibility,
            schedule,
            restic,
        })
    }
}

/// The `restic:` block against `backups.format`, refusing the `backups` fields only objects
/// use when the format is restic.
fn resolve_restic(
    backups: &RawBackups,
    raw: Option<super::restic::RawRestic>,
    base: &Path,
) -> Result<Option<Restic>, (String, String)> {
    let objects_fields: Vec<&str> = [
        ("sets", backups.sets != SetLayout::ByFolder),
        ("date_format", backups.date_format.is_some()),
        ("dated_by", backups.dated_by.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, set)| set.then_some(field))
    .collect();
    super::restic::resolve(
        backups.format,
        raw,
        |p| super::resolve_path(base, p),
        &objects_fields,
    )
}

/// Applies the defaults (the MSP's team responsible, the client's team accountable, both
/// informed) and checks that every team named exists and may see this client's results.
fn resolve_responsibility(
    raw: RawResponsibility,
    client: &str,
    teams: Option<&[Team]>,
) -> Result<Responsibility, (String, String)> {
    let checked = teams.is_some();
    let teams = teams.unwrap_or_default();
    let msp = teams
        .iter()
        .find(|t| t.scope == TeamScope::Msp)
        .map(|t| t.id.clone());
    let own = teams
        .iter()
        .find(|t| t.scope == TeamScope::Client(client.to_string()))
        .map(|t| t.id.clone());
    let responsible = raw.responsible.or_else(|| msp.clone());
    let accountable = raw.accountable.or_else(|| own.clone());
    let informed = raw.informed.unwrap_or_else(|| {
        let mut both: Vec<String> = accountable
            .iter()
            .chain(responsible.iter())
            .cloned()
            .collect();
        both.dedup();
        both
    });
    let check = |field: String, id: &str| -> Result<(), (String, String)> {
        if !checked {
            return Ok(());
        }
        let Some(team) = teams.iter().find(|t| t.id == id) else {
            let known: Vec<&str> = teams.iter().map(|t| t.id.as_str()).collect();
            return Err((
                field,
                format!(
                    "no team `{id}` in the settings' teams (known: {})",
                    known.join(", ")
                ),
            ));
        };
        if !team.may_see(client) {
            return Err((
                field,
                format!(
                    "team `{id}` belongs to another client and must never receive `{client}`'s results"
                ),
            ));
        }
        Ok(())
    };
    if let Some(id) = &responsible {
        check("responsibility.responsible".into(), id)?;
    }
    if let Some(id) = &accountable {
        check("responsibility.accountable".into(), id)?;
    }
    for (i, id) in informed.iter().enumerate() {
        check(format!("responsibility.informed[{i}]"), id)?;
    }
    Ok(Responsibility {
        responsible,
        accountable,
        informed,
    })
}

fn resolve_storage(raw: RawStorage, base: &Path) -> Result<StorageSpec, (String, String)> {
    let service = raw.service.0;
    let mut options = BTreeMap::new();
    for (key, value) in raw.options {
        let field = format!("storage.{key}");
        let text = value.into_text();
        let value = ConfigValue::parse(&text, |p| super::resolve_path(base, p))
            .map_err(|e| (field.clone(), e.to_string()))?;
        if let ConfigValue::Plain(text) = &value
            && crate::secret::url_has_credentials(text)
        {
            return Err((field, crate::secret::CREDENTIALS_IN_URL.into()));
        }
        if is_secret_key(&key) && !value.is_reference() {
            return Err((
                field,
                "credentials must be a reference, ${env:NAME} or ${file:PATH}, not written in the policy".into(),
            ));
        }
        // Resolved when the storage is used (and by `check`), so commands that never touch
        // storage need none of its secrets.
        options.insert(key, value);
    }
    if service == "fs" {
        match options.get_mut("root") {
            Some(ConfigValue::Plain(root)) => {
                *root = super::resolve_path(base, &*root)
                    .to_string_lossy()
                    .into_owned();
            }
            Some(_) => {}
            None => {
                return Err((
                    "storage.root".into(),
                    "the fs service needs `root`, the folder holding the backups".into(),
                ));
            }
        }
    }
    Ok(StorageSpec { service, options })
}

fn build_globs(patterns: &[String]) -> Result<Option<GlobSet>, (String, String)> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for (i, pattern) in patterns.iter().enumerate() {
        let glob = Glob::new(pattern).map_err(|e| {
            (
                format!("backups.include[{i}]"),
                format!("invalid glob: {e}"),
            )
        })?;
        builder.add(glob);
    }
    builder
        .build()
        .map(Some)
        .map_err(|e| ("backups.include".into(), e.to_string()))
}

#[cfg(test)]
mod tests;
