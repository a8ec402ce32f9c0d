//! Where a policy's storage is, and opendal's errors translated for a person: the service,
//! the bucket or container, the endpoint as host:port, the policy file and the field to check,
//! the timeout and its value. A library's error is never shown as its `Debug` dump (no
//! `S3Error { … request_id … }`), and no secret is read here: only plain options are named.

use std::path::PathBuf;
use std::time::Duration;

use opendal::ErrorKind;

use crate::config::units::format_duration;
use crate::config::{StorageSpec, StorageTuning};
use crate::secret::ConfigValue;

/// A policy's storage as messages name it.
#[derive(Debug, Clone)]
pub struct Place {
    pub service: String,
    /// `bucket`, `container` or `root`, and its value.
    pub name: Option<(&'static str, String)>,
    /// `host:port`, for the services reached over the network.
    pub endpoint: Option<String>,
    /// The policy file that configures it.
    pub file: PathBuf,
    pub timeout: Duration,
    pub stall_timeout: Duration,
}

impl Place {
    pub fn of(spec: &StorageSpec, file: &std::path::Path, tuning: &StorageTuning) -> Place {
        let plain = |key: &str| match spec.options.get(key) {
            Some(ConfigValue::Plain(value)) => Some(value.clone()),
            _ => None,
        };
        let name = match spec.service.as_str() {
            "fs" => plain("root").map(|r| ("root", r)),
            "azblob" => plain("container").map(|c| ("container", c)),
            _ => plain("bucket").map(|b| ("bucket", b)),
        };
        // A referenced endpoint is named by its reference: its value may be a secret, and
        // the service's default host would be a wrong place to send the reader.
        let referenced = spec
            .options
            .get("endpoint")
            .filter(|v| v.is_reference())
            .map(|v| format!("the endpoint in {v:?}"));
        let endpoint = match spec.service.as_str() {
            "fs" => None,
            _ if referenced.is_some() => referenced,
            "s3" => Some(plain("endpoint").map_or_else(
                || {
                    let region = plain("region").unwrap_or_else(|| "us-east-1".into());
                    format!("s3.{region}.amazonaws.com:443")
                },
                |e| host_port(&e),
            )),
            "gcs" => Some(plain("endpoint").map_or_else(
                || "storage.googleapis.com:443".to_string(),
                |e| host_port(&e),
            )),
            "azblob" => match (plain("endpoint"), plain("account_name")) {
                (Some(e), _) => Some(host_port(&e)),
                (None, Some(account)) => Some(format!("{account}.blob.core.windows.net:443")),
                (None, None) => None,
            },
            _ => plain("endpoint").map(|e| host_port(&e)),
        };
        Place {
            service: spec.service.clone(),
            name,
            endpoint,
            file: file.to_path_buf(),
            timeout: tuning.timeout,
            stall_timeout: tuning.stall_timeout,
        }
    }

    /// The endpoint, or the service when it has none.
    pub fn host(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("the {} service", self.service))
    }
}

impl std::fmt::Display for Place {
    /// `s3 bucket `b` at host:port (FILE)`: the policy file names the fields to check.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.service)?;
        if let Some((word, value)) = &self.name {
            write!(f, " {word} `{value}`")?;
        }
        if let Some(endpoint) = &self.endpoint {
            write!(f, " at {endpoint}")?;
        }
        write!(f, " ({})", self.file.display())
    }
}

/// `host:port` of an endpoint URL, the scheme's port when none is given.
pub fn host_port(endpoint: &str) -> String {
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("https", endpoint));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let has_port = match authority.rfind(':') {
        Some(i) => !authority[i..].contains(']') && authority[i + 1..].parse::<u16>().is_ok(),
        None => false,
    };
    if has_port {
        authority.to_string()
    } else {
        let port = if scheme.eq_ignore_ascii_case("http") {
            80
        } else {
            443
        };
        format!("{authority}:{port}")
    }
}

/// An opendal error in words at `place`: what went wrong and what to check, on one line.
pub fn explain(e: &opendal::Error, place: &Place) -> String {
    let causes = causes(e);
    let settings = "restore-drill.yaml";
    let (code, service_message) = service_error(e.message());
    if is_refused(e, &causes) {
        return format!(
            "connection refused by {}: is the service up? check storage.endpoint",
            place.host()
        );
    }
    if causes.iter().any(|c| is_dns(c)) {
        return format!(
            "cannot resolve the host of {} (DNS): check storage.endpoint",
            place.host()
        );
    }
    if let Some(message) = not_utf8(e, &causes, place) {
        return message;
    }
    match e.message() {
        "operation timeout reached" => {
            return format!(
                "no answer from {} within storage.timeout ({}, in {settings}): check the network, or raise it",
                place.host(),
                format_duration(place.timeout)
            );
        }
        "io operation timeout reached" => {
            return format!(
                "the transfer from {} stalled: no bytes for storage.stall_timeout ({}, in {settings})",
                place.host(),
                format_duration(place.stall_timeout)
            );
        }
        _ => {}
    }
    let detail = match (&code, &service_message) {
        (Some(code), Some(m)) if !m.is_empty() => format!("{code}: {m}"),
        (Some(code), _) => code.clone(),
        (None, Some(m)) => m.clone(),
        (None, None) => String::new(),
    };
    // Without a service's code, the transport's root cause says what happened.
    let detail = match causes.last() {
        Some(root) if code.is_none() && !detail.contains(root.as_str()) => {
            if detail.is_empty() {
                root.clone()
            } else {
                format!("{detail}: {root}")
            }
        }
        _ => detail,
    };
    let with = |words: &str| {
        if detail.is_empty() {
            words.to_string()
        } else {
            format!("{words} ({detail})")
        }
    };
    let credentials = "the storage credentials";
    match (code.as_deref(), e.kind()) {
        (Some("NoSuchBucket"), _) => format!(
            "{}: check storage.bucket and storage.endpoint",
            with("the bucket does not exist")
        ),
        (Some("ContainerNotFound"), _) => format!(
            "{}: check storage.container",
            with("the container does not exist")
        ),
        (
            Some(
                "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "AuthenticationFailed"
                | "AuthorizationFailure"
                | "AccessDenied",
            ),
            _,
        )
        | (_, ErrorKind::PermissionDenied) => format!(
            "{}: check {credentials} and the bucket's policy",
            with("access denied")
        ),
        (_, ErrorKind::NotFound) => with("not found"),
        (_, ErrorKind::RateLimited) => with("rate limited by the service"),
        (_, ErrorKind::ConfigInvalid) => {
            format!("{}: check storage", with("invalid storage configuration"))
        }
        _ if detail.is_empty() => format!("{} error", e.kind()),
        _ => detail,
    }
}

/// An answer that did not parse for bytes that are not UTF-8, in words: S3's names are
/// UTF-8 by definition, so a listing holding one names no object at all.
fn not_utf8(e: &opendal::Error, causes: &[String], place: &Place) -> Option<String> {
    let why = std::iter::once(e.message())
        .chain(causes.iter().map(String::as_str))
        .find(|text| text.to_ascii_lowercase().contains("invalid utf-8"))?;
    Some(format!(
        "{} answered with a name that is not valid UTF-8 ({}): the answer cannot be read, \
         and S3 names are UTF-8, so check what the endpoint is",
        place.host(),
        why.lines().next().unwrap_or_default().trim()
    ))
}

/// The error's own message's first line and its sources' texts, outermost first.
fn causes(e: &opendal::Error) -> Vec<String> {
    let mut out = Vec::new();
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        let text = text.lines().next().unwrap_or_default().trim().to_string();
        if !text.is_empty() {
            out.push(text);
        }
        cause = c.source();
    }
    out
}

fn is_refused(e: &opendal::Error, causes: &[String]) -> bool {
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        cause = c.source();
    }
    causes.iter().any(|c| c.contains("Connection refused"))
}

fn is_dns(text: &str) -> bool {
    text.contains("failed to lookup address")
        || text.contains("dns error")
        || text.contains("Name or service not known")
        || text.contains("No address associated with hostname")
}

/// A service's error message as its code and message: opendal gives the service's parsed
/// error as a `Debug` dump (`S3Error { code: "NoSuchBucket", message: "…", request_id … }`)
/// or the response's body (XML or JSON). Neither is shown as is.
fn service_error(message: &str) -> (Option<String>, Option<String>) {
    let field = |name: &str| {
        let start = message.find(&format!("{name}: \""))? + name.len() + 3;
        let end = message[start..].find('"')? + start;
        Some(message[start..end].to_string()).filter(|s| !s.is_empty())
    };
    let tag = |name: &str| {
        let start = message.find(&format!("<{name}>"))? + name.len() + 2;
        let end = message[start..].find(&format!("</{name}>"))? + start;
        Some(message[start..end].trim().to_string()).filter(|s| !s.is_empty())
    };
    let json = |name: &str| {
        let start = message.find(&format!("\"{name}\":"))? + name.len() + 3;
        let rest = message[start..].trim_start().strip_prefix('"')?;
        Some(rest[..rest.find('"')?].to_string()).filter(|s| !s.is_empty())
    };
    if message.contains('{') && message.contains("code: \"") {
        return (field("code"), field("message"));
    }
    if message.trim_start().starts_with('<') {
        return (tag("Code"), tag("Message"));
    }
    if message.trim_start().starts_with('{') {
        return (json("code").or_else(|| json("status")), json("message"));
    }
    let line = message.lines().next().unwrap_or_default().trim();
    let line: String = line.chars().take(200).collect();
    (None, Some(line).filter(|l| !l.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_named_as_host_and_port() {
        assert_eq!(host_port("http://127.0.0.1:9000"), "127.0.0.1:9000");
        assert_eq!(host_port("https://minio.example/"), "minio.example:443");
        assert_eq!(host_port("http://minio.example/path"), "minio.example:80");
        assert_eq!(host_port("https://[::1]:9000"), "[::1]:9000");
        assert_eq!(host_port("https://[::1]"), "[::1]:443");
    }

    #[test]
    fn service_errors_lose_their_debug_dump() {
        let dump = r#"S3Error { code: "NoSuchBucket", message: "The specified bucket does not exist", resource: "", request_id: "abc" }"#;
        assert_eq!(
            service_error(dump),
            (
                Some("NoSuchBucket".into()),
                Some("The specified bucket does not exist".into())
            )
        );
        let xml = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>no</Message><RequestId>x</RequestId></Error>";
        assert_eq!(
            service_error(xml),
            (Some("AccessDenied".into()), Some("no".into()))
        );
    }

    #[test]
    fn a_missing_bucket_names_bucket_endpoint_file_and_field() {
        let place = Place {
            service: "s3".into(),
            name: Some(("bucket", "nope".into())),
            endpoint: Some("127.0.0.1:9000".into()),
            file: "policies/a.yaml".into(),
            timeout: Duration::from_secs(60),
            stall_timeout: Duration::from_secs(30),
        };
        let e = opendal::Error::new(
            ErrorKind::ConfigInvalid,
            r#"S3Error { code: "NoSuchBucket", message: "The specified bucket does not exist", resource: "", request_id: "abc" }"#,
        );
        let text = format!("{place}: {}", explain(&e, &place));
        assert_eq!(
            text,
            "s3 bucket `nope` at 127.0.0.1:9000 (policies/a.yaml): the bucket does not exist (NoSuchBucket: The specified bucket does not exist): check storage.bucket and storage.endpoint"
        );
        let e = opendal::Error::new(ErrorKind::Unexpected, "io operation timeout reached");
        assert!(explain(&e, &place).contains("storage.stall_timeout (30"));
    }
}
