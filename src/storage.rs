//! The one place that builds storage operators and talks to them: opendal plus its layers
//! (retry with backoff and jitter, timeouts, a concurrency limit, logging). Nobody else
//! writes retry loops. Secret references are resolved here, only into the operator's
//! configuration, and never appear in errors. Every storage error is worded here too
//! ([`place`]): the policy file and field, the service, bucket and host:port. Listings are
//! bounded by keys and list requests ([`listing`], which wraps the operator's HTTP transport
//! to count them), and a checksum file's read by `storage.min_rate`.

mod confine;
mod listing;
mod local;
mod place;

use std::time::Duration;

use opendal::layers::{
    ConcurrentLimitLayer, LoggingInterceptor, LoggingLayer, RetryEvent, RetryLayer, TimeoutLayer,
};
use opendal::raw::{Operation, ServiceInfo};
use opendal::{ErrorKind, Operator};

use crate::config::{StorageSpec, StorageTuning};

pub use confine::{UnsafeKey, confined_key};
pub use listing::{Listing, keys_spent, list_into, probe};
pub use local::{LocalFile, local_path, read_local, stalled};
pub use place::Place;

/// A policy's storage: the operator with its layers, and where it is, for messages. It
/// derefs to the operator.
#[derive(Debug, Clone)]
pub struct Storage {
    op: Operator,
    place: std::sync::Arc<Place>,
    /// The policy's `backups.prefix` every key read must stay under ([`confined_key`]).
    prefix: std::sync::Arc<str>,
    /// Timeouts, the slowest transfer allowed and the listing's budget.
    tuning: StorageTuning,
    /// The list requests made, counted by the operator's HTTP transport.
    pages: std::sync::Arc<listing::Pages>,
}

impl Storage {
    /// The same storage with its reads confined to `prefix` (the policy's `backups.prefix`).
    pub fn confined_to(mut self, prefix: &str) -> Storage {
        self.prefix = prefix.into();
        self
    }

    /// `key` when it stays under this storage's prefix ([`confined_key`]), or why not.
    pub fn confined<'k>(&self, key: &'k str) -> Result<&'k str, UnsafeKey> {
        confined_key(&self.prefix, key)
    }

    pub fn place(&self) -> &Place {
        &self.place
    }

    pub fn tuning(&self) -> &StorageTuning {
        &self.tuning
    }

    /// An error of a read of `key` in words, where it happened and what to check; a listed
    /// object that is not found is said to be gone.
    pub fn read_error(&self, e: &opendal::Error) -> String {
        let why = place::explain(e, &self.place);
        if e.kind() == ErrorKind::NotFound {
            format!(
                "the object was listed but is gone from {}: deleted or moved during the run ({why})",
                self.place
            )
        } else {
            format!("{}: {why}", self.place)
        }
    }

    /// A failed read of an object's stream in words: an opendal error as [`Self::read_error`],
    /// a local read's (a stall names `storage.stall_timeout`) after the place.
    pub fn stream_error(&self, e: &std::io::Error) -> String {
        match e.get_ref().and_then(|i| i.downcast_ref::<opendal::Error>()) {
            Some(inner) => self.read_error(inner),
            None => self.local_error(e),
        }
    }

    /// A read given up at its deadline, `allowed` (`storage.timeout` plus the listed `size`
    /// at `storage.min_rate`), with `read` bytes of it read when known.
    pub fn too_slow(&self, size: u64, read: Option<u64>, allowed: Duration) -> String {
        use crate::config::units::{format_bytes, format_duration};
        let read = match read {
            Some(n) => format!("read {n} of the {size} bytes listed in"),
            None => format!("the {size} bytes listed were not read within"),
        };
        format!(
            "the transfer from {} was too slow: {read} {}, the time \
             storage.timeout plus the listed size at storage.min_rate ({}/s) allows: check the \
             endpoint and the network, or lower storage.min_rate",
            self.place.host(),
            format_duration(allowed),
            format_bytes(self.tuning.min_rate),
        )
    }

    /// A local file's error (fs storage) after the place.
    pub fn local_error(&self, e: &std::io::Error) -> String {
        format!("{}: {e}", self.place)
    }
}

impl std::ops::Deref for Storage {
    type Target = Operator;
    fn deref(&self) -> &Operator {
        &self.op
    }
}

/// One object from a storage listing, its key relative to the storage root. It is storage's
/// type: the planner takes it, and storage needs nothing of the planner's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub size: u64,
    pub modified: Option<jiff::Timestamp>,
    /// The storage's entity tag, when its listing gives one (S3, Azure, GCS; not fs).
    pub etag: Option<String>,
}

impl Entry {
    /// What makes this object this object: its ETag when the storage gives one, else its
    /// size and modification time. A re-uploaded object (same key) has a new identity.
    pub fn identity(&self) -> String {
        match &self.etag {
            Some(etag) => format!("etag:{}", etag.trim_matches('"')),
            None => format!(
                "size:{},modified:{}",
                self.size,
                self.modified
                    .map_or_else(|| "unknown".to_string(), |m| m.to_string())
            ),
        }
    }
}

/// Requests in flight per operator at most.
const MAX_REQUESTS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot set up the {place}: {message}")]
    Setup { place: Box<Place>, message: String },
    #[error("cannot list `{prefix}` in {place}: {message}")]
    List {
        prefix: String,
        place: Box<Place>,
        message: String,
    },
    #[error("cannot read `{key}` in {place}: {message}")]
    Read {
        key: String,
        place: Box<Place>,
        message: String,
    },
    #[error("{0}")]
    Unsafe(UnsafeKey),
    #[error("`{key}` is {size} bytes, more than the {max} bytes allowed for a checksum file")]
    TooLarge { key: String, size: u64, max: u64 },
}

/// Builds the operator for a policy's storage (configured in `file`) with the standard
/// layers, timeouts and retries from the settings' `storage` block.
pub fn operator(
    spec: &StorageSpec,
    file: &std::path::Path,
    tuning: &StorageTuning,
) -> Result<Storage, StorageError> {
    let place = Place::of(spec, file, tuning);
    let setup = |message: String| StorageError::Setup {
        place: Box::new(place.clone()),
        message,
    };
    // opendal lists a missing fs root as empty; that is a wrong path, not "no backups".
    if spec.missing_fs_root().is_some() {
        return Err(setup(
            "the folder does not exist or is not a folder: check storage.root".into(),
        ));
    }
    // The configuration as logged: plain values as written, references as references
    // (`ConfigValue`'s `Debug`), never a resolved value.
    let logged: Vec<String> = spec
        .options
        .iter()
        .map(|(key, value)| format!("{key}={value:?}"))
        .collect();
    tracing::debug!(storage = %place, options = %logged.join(" "), "building the storage operator");
    let mut options = Vec::with_capacity(spec.options.len());
    for (key, value) in &spec.options {
        let resolved = value
            .resolve()
            .map_err(|e| setup(format!("storage.{key}: {e}")))?;
        if crate::secret::url_has_credentials(&resolved) {
            return Err(setup(format!(
                "storage.{key} (the value of {value:?}): {}",
                crate::secret::CREDENTIALS_IN_URL
            )));
        }
        options.push((key.clone(), resolved));
    }
    let op = Operator::via_iter(&spec.service, options)
        .map_err(|e| setup(place::explain(&e, &place)))?;
    let pages = listing::Pages::new(tuning.max_list_pages);
    let op = listing::counted(op, &pages);
    let at = place.to_string();
    let op = op
        .layer(
            RetryLayer::new()
                .with_jitter()
                .with_max_times(tuning.retries)
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(10))
                .with_notify(move |event: RetryEvent<'_>| log_retry(&at, event)),
        )
        .layer(
            TimeoutLayer::new()
                .with_timeout(tuning.timeout)
                .with_io_timeout(tuning.stall_timeout),
        )
        .layer(ConcurrentLimitLayer::new(MAX_REQUESTS))
        .layer(LoggingLayer::new(StorageLog));
    Ok(Storage {
        op,
        place: std::sync::Arc::new(place),
        prefix: "".into(),
        tuning: *tuning,
        pages,
    })
}

/// Retries are worth a line at `-v`; the final failure becomes a finding anyway.
fn log_retry(at: &str, event: RetryEvent<'_>) {
    tracing::info!(
        storage = at,
        operation = %event.op,
        attempt = event.attempt,
        after_seconds = event.retry_after.as_secs_f64(),
        error = %describe(event.err),
        "retrying storage request"
    );
}

/// Storage operations logged through tracing, one line each: failures at debug (they are
/// reported as findings), the rest at trace. opendal's default logs failures as multi-line
/// warnings with backtraces, which would flood an unattended run's mail from cron.
#[derive(Debug, Clone, Copy)]
struct StorageLog;

impl LoggingInterceptor for StorageLog {
    fn log(
        &self,
        info: &ServiceInfo,
        operation: Operation,
        context: &[(&str, &str)],
        message: &str,
        err: Option<&opendal::Error>,
    ) {
        let context: Vec<String> = context.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let context = context.join(" ");
        match err {
            Some(e) => tracing::debug!(
                service = %info.scheme(),
                %operation,
                %context,
                error = %describe(e),
                "storage {message}"
            ),
            None => {
                tracing::trace!(service = %info.scheme(), %operation, %context, "storage {message}")
            }
        }
    }
}

/// Reads a small object (a checksum file) whole, refusing anything over `max` bytes.
pub async fn read_small(op: &Storage, key: &str, max: u64) -> Result<Vec<u8>, StorageError> {
    let fail = |e: opendal::Error| StorageError::Read {
        key: key.to_string(),
        message: place::explain(&e, &op.place),
        place: Box::new((*op.place).clone()),
    };
    let key = op.confined(key).map_err(StorageError::Unsafe)?;
    let meta = op.stat(key).await.map_err(fail)?;
    if meta.content_length() > max {
        return Err(StorageError::TooLarge {
            key: key.to_string(),
            size: meta.content_length(),
            max,
        });
    }
    if meta.content_length() == 0 {
        return Ok(Vec::new());
    }
    // A trickling endpoint passes under both request timeouts: the read as a whole has
    // `storage.timeout` plus its size at `storage.min_rate`.
    let allowed = op.tuning.read_time(meta.content_length());
    let read = op.read_with(key).range(0..meta.content_length());
    let buffer = match tokio::time::timeout(allowed, read).await {
        Ok(read) => read.map_err(fail)?,
        Err(_) => {
            return Err(StorageError::Read {
                key: key.to_string(),
                message: op.too_slow(meta.content_length(), None, allowed),
                place: Box::new((*op.place).clone()),
            });
        }
    };
    Ok(buffer.to_vec())
}

/// One line about an opendal error for a person: its kind in words, the service's message
/// and the root cause (`Connection refused`), without the request context.
pub fn describe(e: &opendal::Error) -> String {
    let hint = match e.kind() {
        ErrorKind::NotFound => "not found",
        ErrorKind::PermissionDenied => "permission denied: check the credentials and bucket policy",
        ErrorKind::ConfigInvalid => "invalid storage configuration",
        ErrorKind::RateLimited => "rate limited by the service",
        _ => "",
    };
    let mut parts: Vec<String> = Vec::new();
    if !hint.is_empty() {
        parts.push(hint.to_string());
    }
    let message = e
        .message()
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    if !message.is_empty() {
        parts.push(message);
    }
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut root = None;
    while let Some(c) = cause {
        root = Some(c);
        cause = c.source();
    }
    if let Some(root) = root {
        let text = root.to_string();
        let text = text.lines().next().unwrap_or_default().trim();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(text)) {
            parts.push(text.to_string());
        }
    }
    parts.join(": ")
}
