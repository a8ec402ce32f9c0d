//! Secret references: `${env:NAME}` and `${file:PATH}`. Policies hold the reference, never the
//! value; the value is read only when a storage operator is built, and is never printed,
//! logged or written to results. `Debug` shows the reference, not the secret.
//!
//! A leaf: it depends on nothing of the crate's but the leaf `fsx` (the bounded read of a
//! secret file), so `config` (which parses references),
//! `heartbeat`, `storage` and `notify` (which resolve them) all use it without reaching into
//! each other. It must not learn where paths are anchored: the caller of [`ConfigValue::parse`]
//! says that.

use std::fmt;
use std::path::PathBuf;

/// A storage option: either plain text or a reference to a secret held elsewhere.
#[derive(Clone, PartialEq, Eq)]
pub enum ConfigValue {
    Plain(String),
    Env(String),
    File(PathBuf),
}

impl fmt::Debug for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::Plain(v) => write!(f, "{v:?}"),
            ConfigValue::Env(name) => write!(f, "${{env:{name}}}"),
            ConfigValue::File(path) => write!(f, "${{file:{}}}", path.display()),
        }
    }
}

/// Why a reference could not be resolved. Never carries the secret itself.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("environment variable `{0}` is not set (referenced as ${{env:{0}}})")]
    MissingEnv(String),
    #[error("cannot read secret file `{path}`: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("malformed reference `{0}`: expected ${{env:NAME}} or ${{file:PATH}}")]
    Malformed(String),
}

impl ConfigValue {
    /// Parses a YAML scalar; a value of the form `${env:…}` or `${file:…}` is a reference.
    /// The path of a `${file:…}` reference is handed to `anchor`, which makes it absolute
    /// (the configuration resolves it against the policy's directory).
    pub fn parse(text: &str, anchor: impl FnOnce(&str) -> PathBuf) -> Result<Self, SecretError> {
        let trimmed = text.trim();
        let Some(inner) = trimmed.strip_prefix("${").and_then(|t| t.strip_suffix('}')) else {
            if trimmed.contains("${") {
                return Err(SecretError::Malformed(text.to_string()));
            }
            return Ok(ConfigValue::Plain(text.to_string()));
        };
        if let Some(name) = inner.strip_prefix("env:") {
            let valid =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            return if valid {
                Ok(ConfigValue::Env(name.to_string()))
            } else {
                Err(SecretError::Malformed(text.to_string()))
            };
        }
        if let Some(path) = inner.strip_prefix("file:").filter(|p| !p.is_empty()) {
            return Ok(ConfigValue::File(anchor(path)));
        }
        Err(SecretError::Malformed(text.to_string()))
    }

    /// True for references, whose value must stay out of every output.
    pub fn is_reference(&self) -> bool {
        !matches!(self, ConfigValue::Plain(_))
    }

    /// Checks that the reference can be resolved, without keeping the value.
    pub fn check(&self) -> Result<(), SecretError> {
        self.resolve().map(drop)
    }

    /// Reads the value. A `${file:…}` value loses one trailing newline, as files written by
    /// `echo` or editors carry one.
    pub fn resolve(&self) -> Result<String, SecretError> {
        match self {
            ConfigValue::Plain(v) => Ok(v.clone()),
            ConfigValue::Env(name) => {
                std::env::var(name).map_err(|_| SecretError::MissingEnv(name.clone()))
            }
            ConfigValue::File(path) => {
                let file_error = |reason: String| SecretError::File {
                    path: path.clone(),
                    reason,
                };
                let bytes = crate::fsx::read_regular(path, MAX_SECRET_BYTES).map_err(|e| {
                    file_error(match e.kind() {
                        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::FileTooLarge => {
                            e.to_string()
                        }
                        kind => kind.to_string(),
                    })
                })?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| file_error("it is not UTF-8 text".into()))?;
                let text = text.strip_suffix('\n').unwrap_or(&text);
                Ok(text.strip_suffix('\r').unwrap_or(text).to_string())
            }
        }
    }
}

/// True when `url` carries credentials in its authority (`https://user:pass@host`): they
/// would be printed wherever the endpoint is, so such endpoints are refused.
pub fn url_has_credentials(url: &str) -> bool {
    url::Url::parse(url.trim()).is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
}

/// What to say about an endpoint with credentials in it, after its field's name.
pub const CREDENTIALS_IN_URL: &str = "the URL embeds credentials (user:password@), which would be printed wherever the endpoint is: remove them and give the service's credential options as ${env:…} or ${file:…} references";

/// The largest secret file read: a password, a key or a token is far smaller.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Option names whose values are credentials: they must be given as references.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "secret",
        "password",
        "account_key",
        "credential",
        "token",
        "sas_token",
        "private_key",
    ]
    .iter()
    .any(|needle| key.contains(needle))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn references_parse_and_plain_text_passes_through() {
        let base = |p: &str| Path::new("/etc/rd").join(p);
        assert_eq!(
            ConfigValue::parse("us-east-1", base).unwrap(),
            ConfigValue::Plain("us-east-1".into())
        );
        assert_eq!(
            ConfigValue::parse("${env:KEY_1}", base).unwrap(),
            ConfigValue::Env("KEY_1".into())
        );
        assert_eq!(
            ConfigValue::parse("${file:s/acme.secret}", base).unwrap(),
            ConfigValue::File("/etc/rd/s/acme.secret".into())
        );
        assert!(ConfigValue::parse("${vault:x}", base).is_err());
        assert!(ConfigValue::parse("pre${env:X}", base).is_err());
    }

    #[test]
    fn debug_never_shows_a_resolved_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "hunter2\n").unwrap();
        let value = ConfigValue::File(path);
        assert_eq!(value.resolve().unwrap(), "hunter2");
        assert!(!format!("{value:?}").contains("hunter2"));
    }

    #[test]
    fn missing_env_names_the_variable() {
        let err = ConfigValue::Env("RESTORE_DRILL_SURELY_UNSET_42".into())
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("RESTORE_DRILL_SURELY_UNSET_42"));
    }

    #[test]
    fn secret_keys_are_recognised() {
        assert!(is_secret_key("secret_access_key"));
        assert!(is_secret_key("account_key"));
        assert!(!is_secret_key("access_key_id"));
        assert!(!is_secret_key("region"));
    }
}
