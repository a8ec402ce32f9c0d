//! The `policy` stage: a configuration directory → validated [`Settings`] and [`Policy`]s.
//! Every file is read and every error collected, so `check` reports them all at once, each
//! pointing at file, line, column and field. A run loads leniently ([`load`]): an
//! invalid policy file is kept as an [`InvalidPolicy`] beside the valid ones, so one broken
//! file never silences the others. Nothing here touches storage, and secret references are
//! only checked for their form; [`load_checked`] resolves them all, for `check`.

mod invalid;
pub mod locate;
pub mod mail;
mod overlap;
mod policy;
pub mod report;
mod restic;
mod sample;
pub mod scaffold;
mod secrets;
mod settings;
pub mod units;
mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use invalid::InvalidPolicy;
pub use mail::{MailSettings, Notify, Team, TeamScope};
pub use policy::{
    Backups, Checksums, DateSource, Policy, Responsibility, SERVICES, SetLayout, StorageSpec,
    Targets, Validation,
};
pub use restic::{BackupFormat, DataSubset, Restic};
pub use sample::{ObjectsPerSet, Sample};
pub use settings::{
    Control, DEFAULT_MAX_RESTORED_BYTES, DEFAULT_RESTORES, MailOnly, Settings, StorageTuning,
};

/// The settings file's name inside the configuration directory.
pub const SETTINGS_FILE: &str = "restore-drill.yaml";
/// Configuration files larger than this are refused before parsing.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// Folder nesting deeper than this under the configuration directory is not followed.
const MAX_DEPTH: usize = 16;

/// `base/rel` with `.` and `..` resolved lexically (an absolute `rel` stands alone), so
/// messages show `/etc/restore-drill/state`, not `/etc/restore-drill/policies/../state`.
pub fn resolve_path(base: &Path, rel: impl AsRef<Path>) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in base.join(rel).components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// One problem in one configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is the file as a whole.
    pub line: usize,
    pub column: usize,
    /// Dotted path of the field, empty for the document.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a configuration directory.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "invalid configuration ({n} error{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, error) in self.0.iter().enumerate() {
            if i + 1 < n {
                writeln!(f, "  {error}")?;
            } else {
                write!(f, "  {error}")?;
            }
        }
        Ok(())
    }
}

/// A configuration directory, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub dir: PathBuf,
    pub settings: Settings,
    pub policies: Vec<Policy>,
    /// Policy files that did not validate ([`load`]; [`load_checked`] refuses them).
    pub invalid: Vec<InvalidPolicy>,
}

/// Reads `dir/restore-drill.yaml` and every other `*.yaml`/`*.yml` below `dir` as a policy.
/// An invalid policy file does not refuse the others: it is returned in [`Config::invalid`]
/// with whatever of its identity could be read, for a run to report it as a failed entry
/// (and for commands that only read the record to ignore). Errors in the settings (or a
/// directory with no policy) refuse it all, with every policy's errors too.
pub fn load(dir: &Path) -> Result<Config, ConfigErrors> {
    load_with(dir, false)
}

/// As [`load`], but any error in any file refuses the whole directory, and every secret
/// reference is resolved now (a variable not set is an error at its file and line): what
/// `check` needs; policies of different clients whose storage overlaps are refused too
/// ([`overlap`]). Other commands resolve only the references they use, where they use them.
pub fn load_checked(dir: &Path) -> Result<Config, ConfigErrors> {
    let config = load_with(dir, true)?;
    let overlaps = overlap::overlapping_storage(&config.policies);
    if config.invalid.is_empty() && overlaps.is_empty() {
        return Ok(config);
    }
    Err(ConfigErrors(
        config
            .invalid
            .into_iter()
            .flat_map(|p| p.errors)
            .chain(overlaps)
            .collect(),
    ))
}

fn load_with(dir: &Path, resolve_secrets: bool) -> Result<Config, ConfigErrors> {
    let whole = |message: String| ConfigErrors(vec![file_error(dir, message)]);
    let meta = std::fs::metadata(dir).map_err(|e| {
        whole(format!(
            "cannot open the configuration directory: {e} (pass --config-dir, set RESTORE_DRILL_DIR, or create one with `restore-drill init`)"
        ))
    })?;
    if !meta.is_dir() {
        return Err(whole("is not a directory (pass --config-dir DIR)".into()));
    }
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut errors = Vec::new();

    let settings_path = dir.join(SETTINGS_FILE);
    let mut settings_valid = true;
    let settings = if settings_path.exists() {
        load_settings(&settings_path, &dir).unwrap_or_else(|e| {
            errors.push(e);
            settings_valid = false;
            Settings::defaults(&dir)
        })
    } else {
        Settings::defaults(&dir)
    };

    let mut files = Vec::new();
    if let Err(e) = find_policy_files(&dir, &dir, 0, &mut files) {
        errors.push(e);
    }
    files.sort();

    // With invalid settings, the teams a policy names are not checked against the defaults:
    // "no team `noc` (known: )" would only repeat the settings' error.
    let teams = settings_valid.then_some(settings.teams.as_slice());
    let mut policies: Vec<(Policy, usize)> = Vec::new();
    let mut invalid = Vec::new();
    for file in &files {
        match load_policy(file, teams) {
            Ok(loaded) => policies.push(loaded),
            Err(broken) => invalid.push(*broken),
        }
    }
    if files.is_empty() && errors.is_empty() {
        errors.push(file_error(
            &dir,
            "no policies found: add one `*.yaml` file per protected system (`restore-drill init --policy NAME --client C --storage fs|s3|azblob|gcs …` writes one)".into(),
        ));
    }
    invalid.extend(duplicate_names(&mut policies));
    if resolve_secrets {
        if settings_valid {
            errors.extend(secrets::settings_secrets(&dir, &settings));
        }
        errors.extend(
            policies
                .iter()
                .flat_map(|(p, _)| secrets::policy_secrets(p)),
        );
    }
    invalid::unique_names(
        &mut invalid,
        policies.iter().map(|(p, _)| p.name.as_str()),
        &dir,
    );
    let controls = unknown_control_policies(&settings, &policies, &invalid, &settings_path);
    if !errors.is_empty() {
        errors.extend(invalid.into_iter().flat_map(|p| p.errors));
        errors.extend(controls);
        return Err(ConfigErrors(errors));
    }
    if !controls.is_empty() {
        return Err(ConfigErrors(controls));
    }
    Ok(Config {
        dir,
        settings,
        policies: policies.into_iter().map(|(p, _)| p).collect(),
        invalid,
    })
}

fn file_error(file: &Path, message: String) -> ConfigError {
    ConfigError {
        file: file.to_path_buf(),
        line: 0,
        column: 0,
        field: String::new(),
        message,
    }
}

fn find_policy_files(
    root: &Path,
    dir: &Path,
    depth: usize,
    out: &mut Vec<PathBuf>,
) -> Result<(), ConfigError> {
    if depth > MAX_DEPTH {
        return Err(file_error(
            dir,
            format!("folders nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let entries =
        std::fs::read_dir(dir).map_err(|e| file_error(dir, format!("cannot list folder: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| file_error(dir, format!("cannot list folder: {e}")))?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry
            .file_type()
            .map_err(|e| file_error(&path, format!("cannot read: {e}")))?;
        if kind.is_dir() {
            find_policy_files(root, &path, depth + 1, out)?;
        } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml")
            && !(dir == root && name == SETTINGS_FILE)
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads a configuration file as UTF-8 text, refusing huge or binary files up front.
fn read_text(file: &Path) -> Result<String, ConfigError> {
    let bytes = crate::fsx::read_regular(file, MAX_FILE_BYTES).map_err(|e| {
        if e.kind() == std::io::ErrorKind::FileTooLarge {
            let size = std::fs::metadata(file).map_or(0, |m| m.len());
            let why = format!("file is {size} bytes; configuration files are limited to 1 MiB");
            return file_error(file, why);
        }
        file_error(file, format!("cannot read: {e}"))
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let bad = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..bad];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = bad
            - before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1)
            + 1;
        ConfigError {
            file: file.to_path_buf(),
            line,
            column,
            field: String::new(),
            message: "not valid UTF-8 text".into(),
        }
    })
}

fn is_blank(text: &str) -> bool {
    text.lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---")
}

/// Teams and mail settings alone, read leniently, when they are valid: enough to mail an
/// error notice about a run that could not start, whatever else is wrong.
pub fn load_mail_only(dir: &Path) -> Option<MailOnly> {
    let dir = std::path::absolute(dir).ok()?;
    let text = read_text(&dir.join(SETTINGS_FILE)).ok()?;
    let raw: settings::RawMailOnly = yaml::parse(&dir.join(SETTINGS_FILE), &text).ok()?;
    raw.resolve(&dir)
}

/// The heartbeat settings alone, read leniently, when they are valid: enough to tell the
/// monitor that a run could not start, whatever else is wrong.
pub fn load_heartbeat_only(dir: &Path) -> Option<crate::heartbeat::Heartbeat> {
    let dir = std::path::absolute(dir).ok()?;
    let text = read_text(&dir.join(SETTINGS_FILE)).ok()?;
    let raw: settings::RawHeartbeatOnly = yaml::parse(&dir.join(SETTINGS_FILE), &text).ok()?;
    raw.resolve(&dir)
}

fn load_settings(file: &Path, dir: &Path) -> Result<Settings, ConfigError> {
    let text = read_text(file)?;
    let raw: settings::RawSettings = if is_blank(&text) {
        settings::RawSettings::default()
    } else {
        yaml::parse(file, &text)?
    };
    raw.resolve(dir).map_err(|(field, message)| ConfigError {
        file: file.to_path_buf(),
        line: locate(&text, &field),
        column: 1,
        field,
        message,
    })
}

fn load_policy(file: &Path, teams: Option<&[Team]>) -> Result<(Policy, usize), Box<InvalidPolicy>> {
    let text = read_text(file).map_err(|e| Box::new(InvalidPolicy::unread(file, e)))?;
    match parse_policy_with(file, &text, teams) {
        Ok(policy) => Ok((policy, yaml::line_of_top_level_key(&text, "name"))),
        Err(e) => Err(Box::new(InvalidPolicy::read(file, &text, e))),
    }
}

/// Parses and validates one policy's text; `file` names it in errors and anchors relative
/// paths.
pub fn parse_policy(file: &Path, text: &str, teams: &[Team]) -> Result<Policy, ConfigError> {
    parse_policy_with(file, text, Some(teams))
}

fn parse_policy_with(
    file: &Path,
    text: &str,
    teams: Option<&[Team]>,
) -> Result<Policy, ConfigError> {
    if is_blank(text) {
        return Err(file_error(file, "empty policy file".into()));
    }
    let raw: policy::RawPolicy = yaml::parse(file, text)?;
    raw.resolve(file, teams)
        .map_err(|(field, message)| ConfigError {
            file: file.to_path_buf(),
            line: locate(text, &field),
            column: 1,
            field,
            message,
        })
}

/// The line of the last component of a dotted field path, best effort, for errors found
/// after parsing.
fn locate(text: &str, field: &str) -> usize {
    let key = field
        .rsplit('.')
        .next()
        .unwrap_or(field)
        .split('[')
        .next()
        .unwrap_or_default();
    text.lines()
        .position(|line| {
            line.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map_or(0, |i| i + 1)
}

/// Controls naming a policy that does not exist. A policy whose file is invalid but whose
/// name could be read exists: its own errors say what is wrong, once.
fn unknown_control_policies(
    settings: &Settings,
    policies: &[(Policy, usize)],
    invalid: &[InvalidPolicy],
    file: &Path,
) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let text = std::fs::read_to_string(file).unwrap_or_default();
    for (id, control) in &settings.controls {
        for (i, name) in control.policies.iter().enumerate() {
            let known = policies.iter().any(|(p, _)| &p.name == name)
                || invalid.iter().any(|p| p.read_name.as_deref() == Some(name));
            if !known {
                errors.push(ConfigError {
                    file: file.to_path_buf(),
                    line: yaml::line_of_item(&text, id, name),
                    column: 1,
                    field: format!("controls.{id}.policies[{i}]"),
                    message: format!("no policy named `{name}`"),
                });
            }
        }
    }
    errors
}

/// Policies whose name another file also uses: taken out of `policies`, each an invalid
/// policy of its own. Neither is run: which file the name means is for a person to decide,
/// and a PASS under that name from the wrong file would be false evidence.
fn duplicate_names(policies: &mut Vec<(Policy, usize)>) -> Vec<InvalidPolicy> {
    let mut files: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for (policy, _) in policies.iter() {
        files
            .entry(policy.name.clone())
            .or_default()
            .push(policy.file.clone());
    }
    let mut duplicates = Vec::new();
    policies.retain(|(policy, line)| {
        let same = &files[&policy.name];
        if same.len() < 2 {
            return true;
        }
        let others: Vec<String> = same
            .iter()
            .filter(|f| **f != policy.file)
            .map(|f| f.display().to_string())
            .collect();
        let error = ConfigError {
            file: policy.file.clone(),
            line: *line,
            column: 1,
            field: "name".into(),
            message: format!(
                "policy name `{}` is also used by {}: names must be unique, and neither is run until they are",
                policy.name,
                others.join(", ")
            ),
        };
        duplicates.push(InvalidPolicy::duplicate(policy, error));
        false
    });
    duplicates
}

impl StorageSpec {
    /// The `root` of an `fs` storage when it is not a folder now (absent, a file, a mount
    /// that is down): opendal would list it as empty, which is a wrong path, not "no backups".
    pub fn missing_fs_root(&self) -> Option<&str> {
        match self.options.get("root") {
            Some(crate::secret::ConfigValue::Plain(root))
                if self.service == "fs" && !std::path::Path::new(root).is_dir() =>
            {
                Some(root)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "name: NAME\nclient: Acme\nstorage:\n  service: fs\n  root: b\nbackups:\n  prefix: files/\ntargets:\n  rpo: 26h\n  rto: 4h\n";

    #[test]
    fn every_error_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), POLICY.replace("NAME", "one")).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b.yml"), POLICY.replace("NAME", "one")).unwrap();
        std::fs::write(
            dir.path().join("c.yaml"),
            POLICY
                .replace("NAME", "three")
                .replace("rto: 4h", "rto: 4h\n  colour: red"),
        )
        .unwrap();
        let errors = load_checked(dir.path()).unwrap_err().0;
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.message.contains("unknown field `colour`") && e.line == 11)
        );
        assert!(
            errors
                .iter()
                .filter(|e| e.message.contains("also used by") && e.line == 1)
                .count()
                == 2
        );
    }

    #[test]
    fn settings_file_is_not_a_policy() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(SETTINGS_FILE),
            "concurrency:\n  restores: 2\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("a.yaml"), POLICY.replace("NAME", "one")).unwrap();
        let config = load(dir.path()).unwrap();
        assert_eq!(config.policies.len(), 1);
        assert_eq!(config.settings.restores, 2);
    }

    #[test]
    fn paths_resolve_lexically() {
        assert_eq!(
            resolve_path(Path::new("/etc/rd/policies"), "../state"),
            Path::new("/etc/rd/state")
        );
        assert_eq!(
            resolve_path(Path::new("/etc/rd"), "./a/./b"),
            Path::new("/etc/rd/a/b")
        );
        assert_eq!(
            resolve_path(Path::new("/etc/rd"), "/var/x"),
            Path::new("/var/x")
        );
    }

    #[test]
    fn empty_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let errors = load(dir.path()).unwrap_err().0;
        assert!(errors[0].message.contains("no policies found"));
    }

    #[test]
    fn invalid_utf8_points_at_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), b"name: x\nclient: \xff\n").unwrap();
        let errors = load_checked(dir.path()).unwrap_err().0;
        assert_eq!((errors[0].line, errors[0].column), (2, 9));
    }
}
