//! A policy file that did not validate, kept as what a run can still say of it: its file,
//! every error, and the name and client written in it when they can be read. A run reports
//! it as a failed entry (`invalid_policy`) instead of refusing every other policy; the client
//! read here decides which client's team may be told, so it is taken only from a `client:`
//! key of the file itself, never guessed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{ConfigError, Policy, yaml};

/// One invalid policy file.
#[derive(Debug, Clone)]
pub struct InvalidPolicy {
    pub file: PathBuf,
    /// Its entry's name in a run: the name written in the file when it is a valid policy name
    /// used by no other file, else the file's path under the configuration directory.
    pub name: String,
    /// The `name:` written in the file, when it could be read.
    pub read_name: Option<String>,
    /// The `client:` written in the file, when it could be read.
    pub client: Option<String>,
    /// `targets.rpo` and `targets.rto`, when they could be read: the history and reports
    /// keep showing the targets the entry failed to meet.
    pub rpo: Option<Duration>,
    pub rto: Option<Duration>,
    /// Every error found in the file, each with its line and column.
    pub errors: Vec<ConfigError>,
}

impl InvalidPolicy {
    /// A file that could not be read at all: nothing of its identity is known.
    pub(super) fn unread(file: &Path, error: ConfigError) -> InvalidPolicy {
        InvalidPolicy {
            file: file.to_path_buf(),
            name: String::new(),
            read_name: None,
            client: None,
            rpo: None,
            rto: None,
            errors: vec![error],
        }
    }

    /// A file read as `text` that did not validate.
    pub(super) fn read(file: &Path, text: &str, error: ConfigError) -> InvalidPolicy {
        let read_name = yaml::top_level_string(text, "name").filter(|n| valid_name(n));
        let client = yaml::top_level_string(text, "client").filter(|c| !c.trim().is_empty());
        let target = |key| {
            yaml::nested_string(text, &["targets", key])
                .and_then(|t| super::units::parse_duration(&t).ok())
        };
        InvalidPolicy {
            file: file.to_path_buf(),
            name: String::new(),
            read_name,
            client,
            rpo: target("rpo"),
            rto: target("rto"),
            errors: vec![error],
        }
    }

    /// A valid policy whose name an earlier file already uses.
    pub(super) fn duplicate(policy: &Policy, error: ConfigError) -> InvalidPolicy {
        InvalidPolicy {
            file: policy.file.clone(),
            name: String::new(),
            read_name: Some(policy.name.clone()),
            client: Some(policy.client.clone()),
            rpo: Some(policy.targets.rpo),
            rto: Some(policy.targets.rto),
            errors: vec![error],
        }
    }
}

/// Gives every invalid policy its entry's name (see [`InvalidPolicy::name`]): one that no
/// valid policy and no other invalid file has.
pub(super) fn unique_names<'a>(
    invalid: &mut [InvalidPolicy],
    valid: impl Iterator<Item = &'a str>,
    dir: &Path,
) {
    let mut taken: Vec<String> = valid.map(str::to_string).collect();
    let read: Vec<Option<String>> = invalid.iter().map(|p| p.read_name.clone()).collect();
    for policy in invalid {
        let shared = read.iter().filter(|n| **n == policy.read_name).count() > 1;
        let name = match &policy.read_name {
            Some(name) if !taken.contains(name) && !shared => name.clone(),
            _ => policy
                .file
                .strip_prefix(dir)
                .unwrap_or(&policy.file)
                .display()
                .to_string(),
        };
        taken.push(name.clone());
        policy.name = name;
    }
}

/// A policy name as `name:` requires it; anything else read from a broken file is not used.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(file: &Path) -> ConfigError {
        super::super::file_error(file, "broken".into())
    }

    #[test]
    fn name_and_client_are_read_from_a_file_that_does_not_parse() {
        let file = Path::new("/etc/rd/acme.yaml");
        let text = "name: acme-db\nclient: Acme\ntargets:\n  rpo: [\n";
        let invalid = InvalidPolicy::read(file, text, error(file));
        assert_eq!(invalid.read_name.as_deref(), Some("acme-db"));
        assert_eq!(invalid.client.as_deref(), Some("Acme"));
        assert_eq!(invalid.rpo, None);
        let text = "name: acme-db\nclient: Acme\ncolour: red\ntargets:\n  rpo: 26h\n  rto: 4h\n";
        let invalid = InvalidPolicy::read(file, text, error(file));
        assert_eq!(invalid.rpo, Some(Duration::from_secs(26 * 3600)));
        assert_eq!(invalid.rto, Some(Duration::from_secs(4 * 3600)));
    }

    #[test]
    fn nothing_is_guessed_from_nested_or_invalid_keys() {
        let file = Path::new("/etc/rd/x.yaml");
        let text = "storage:\n  client: Other\nname: Not A Name\n";
        let invalid = InvalidPolicy::read(file, text, error(file));
        assert_eq!(invalid.read_name, None);
        assert_eq!(invalid.client, None);
    }

    #[test]
    fn a_name_in_use_gives_way_to_the_file_path() {
        let dir = Path::new("/etc/rd");
        let mut invalid = vec![
            InvalidPolicy::read(&dir.join("a/one.yaml"), "name: one\n", error(dir)),
            InvalidPolicy::read(&dir.join("two.yaml"), "name: two\n", error(dir)),
            InvalidPolicy::read(&dir.join("b.yaml"), "name: two\n", error(dir)),
        ];
        unique_names(&mut invalid, ["one"].into_iter(), dir);
        let names: Vec<&str> = invalid.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a/one.yaml", "two.yaml", "b.yaml"]);
    }
}
