//! Listings with bounds: a hostile endpoint that answers page after page for ever, or lists
//! millions of keys, must not hold a run or grow its memory without end. A policy's listings
//! (the first, and the second of the chosen sets' folders) share one budget of keys
//! (`storage.max_listed_keys`) and list requests (`storage.max_list_pages`, retries
//! included); once either is spent the listing stops and says so, for the policy's
//! `listing_truncated` finding. Requests are counted by the operator's HTTP transport
//! ([`Pages`]), the one place that sees every page, even pages with no key in them.
//!
//! Names that are not valid UTF-8 (a local file's name; S3 keys are UTF-8 by definition) are
//! set aside with their bytes escaped (`\xff`), for an `invalid_name` finding, instead of
//! being requested under a lossy name and reported as gone.
//!
//! Must not: hold what it lists (each entry goes to the planner as it comes), or count the
//! requests of anything but a listing.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use futures::TryStreamExt;
use opendal::{Buffer, EntryMode, ErrorKind, HttpBody, HttpTransport, HttpTransporter, Operator};

use super::{Entry, Storage, StorageError, place};

/// The message of the error a list request past the budget fails with.
const PAGES_SPENT: &str = "storage.max_list_pages spent";
/// Names that are not valid UTF-8 kept for findings, at most; the rest are counted.
const MAX_INVALID_NAMES: usize = 100;

/// List requests of one operator: counted while a listing runs, refused past the budget.
#[derive(Debug)]
pub struct Pages {
    listing: AtomicBool,
    used: AtomicU64,
    max: u64,
}

impl Pages {
    pub fn new(max: u64) -> Arc<Pages> {
        Arc::new(Pages {
            listing: AtomicBool::new(false),
            used: AtomicU64::new(0),
            max,
        })
    }

    fn spent(&self) -> bool {
        self.used.load(Ordering::Relaxed) >= self.max
    }
}

/// The HTTP transport of an operator, wrapped to count its list requests.
struct Counted {
    inner: HttpTransporter,
    pages: Arc<Pages>,
}

impl HttpTransport for Counted {
    async fn fetch(&self, req: http::Request<Buffer>) -> opendal::Result<http::Response<HttpBody>> {
        if self.pages.listing.load(Ordering::Relaxed)
            && self.pages.used.fetch_add(1, Ordering::Relaxed) >= self.pages.max
        {
            return Err(opendal::Error::new(ErrorKind::Unexpected, PAGES_SPENT));
        }
        self.inner.fetch(req).await
    }
}

/// `op` (as built, before its layers) with its HTTP requests counted into `pages`.
pub fn counted(op: Operator, pages: &Arc<Pages>) -> Operator {
    let ctx = op.context().clone();
    let transport = Counted {
        inner: ctx.http_transport().clone(),
        pages: pages.clone(),
    };
    op.with_context(ctx.with_http_transport(HttpTransporter::new(transport)))
}

/// What a policy's listings have brought so far, and why they stopped early if they did.
#[derive(Debug, Default)]
pub struct Listing {
    keys: u64,
    /// Why the listing stopped before its end: a budget spent, in words naming the setting.
    pub truncated: Option<String>,
    /// Listed names that are not valid UTF-8, their bytes escaped; at most 100 are kept.
    pub invalid_names: Vec<String>,
    /// Names that are not valid UTF-8 beyond those kept.
    pub more_invalid_names: usize,
}

/// Streams a recursive listing of `prefix` into the planner, one entry at a time, within the
/// policy's budget in `listing` (spent across its listings). A budget spent is not an error:
/// the listing stops, and `listing.truncated` says why.
pub async fn list_into(
    op: &Storage,
    prefix: &str,
    listing: &mut Listing,
    mut add: impl AsyncFnMut(Entry),
) -> Result<(), StorageError> {
    if listing.truncated.is_some() {
        return Ok(());
    }
    let fail = |e: opendal::Error| StorageError::List {
        prefix: prefix.to_string(),
        message: place::explain(&e, &op.place),
        place: Box::new((*op.place).clone()),
    };
    let tuning = &op.tuning;
    let pages = &op.pages;
    pages.listing.store(true, Ordering::Relaxed);
    let _stop = StopCounting(pages);
    let spent_pages = || {
        format!(
            "the listing made {} list requests, storage.max_list_pages: the rest was not listed",
            tuning.max_list_pages
        )
    };
    let mut lister = match op.lister_with(prefix).recursive(true).await {
        Ok(lister) => lister,
        Err(_) if pages.spent() => {
            listing.truncated = Some(spent_pages());
            return Ok(());
        }
        Err(e) => return Err(fail(e)),
    };
    loop {
        let entry = match lister.try_next().await {
            Ok(Some(entry)) => entry,
            Ok(None) => return Ok(()),
            Err(_) if pages.spent() => {
                listing.truncated = Some(spent_pages());
                return Ok(());
            }
            Err(e) => return Err(fail(e)),
        };
        let meta = entry.metadata();
        if meta.mode() != EntryMode::FILE {
            continue;
        }
        if listing.keys >= tuning.max_listed_keys {
            listing.truncated = Some(keys_spent(tuning.max_listed_keys));
            return Ok(());
        }
        listing.keys += 1;
        let key = entry.path();
        // Past the names kept, a name is only counted: its folder is not read again.
        let keep = listing.invalid_names.len() < MAX_INVALID_NAMES;
        if key.contains(char::REPLACEMENT_CHARACTER)
            && let Some(name) = non_utf8_name(&op.op, key, keep)
        {
            if keep {
                listing.invalid_names.push(name);
            } else {
                listing.more_invalid_names += 1;
            }
            continue;
        }
        add(Entry {
            key: key.to_string(),
            size: meta.content_length(),
            modified: meta.last_modified().map(Into::into),
            etag: meta.etag().map(str::to_string),
        })
        .await;
    }
}

/// Why a listing stopped at `storage.max_listed_keys` (`max`), for its `listing_truncated`
/// finding: the words of every listing, a restic repository's too.
pub fn keys_spent(max: u64) -> String {
    format!("the listing brought {max} keys, storage.max_listed_keys: the rest was not listed")
}

/// Stops counting list requests when a listing ends, however it ends.
struct StopCounting<'p>(&'p Pages);

impl Drop for StopCounting<'_> {
    fn drop(&mut self) {
        self.0.listing.store(false, Ordering::Relaxed);
    }
}

/// A local (`fs`) key that opendal listed under a lossy name (`\u{fffd}` for the bytes that
/// are not UTF-8) and that no file has: the real name, its bytes escaped (`\xff`), when its
/// folder can be read and `resolve` is set, else the lossy key escaped. `None` for any
/// other key.
fn non_utf8_name(op: &Operator, key: &str, resolve: bool) -> Option<String> {
    let info = op.info();
    if info.scheme() != "fs" {
        return None;
    }
    let root = info.root();
    let path = Path::new(&root).join(key);
    if std::fs::symlink_metadata(&path).is_ok() {
        return None;
    }
    let (folder, file) = match key.rsplit_once('/') {
        Some((folder, file)) => (format!("{folder}/"), file),
        None => (String::new(), key),
    };
    let entries = resolve
        .then(|| std::fs::read_dir(Path::new(&root).join(&folder)).ok())
        .flatten();
    let real = entries.and_then(|entries| {
        entries
            .flatten()
            .map(|e| e.file_name())
            .find(|name| name.to_str().is_none() && name.to_string_lossy() == file)
    });
    Some(match real {
        Some(name) => format!(
            "{}{}",
            folder.escape_debug(),
            name.as_bytes().escape_ascii()
        ),
        None => key.escape_debug().to_string(),
    })
}

/// Proves the storage answers with these credentials: lists `prefix` until the first
/// object, within `storage.max_list_pages` (an endpoint answering empty pages without end
/// would hold `check` for ever). Returns its key, or `None` when the prefix holds none.
pub async fn probe(op: &Storage, prefix: &str) -> Result<Option<String>, StorageError> {
    let fail = |e: opendal::Error| {
        let message = if op.pages.spent() {
            format!(
                "no object within {} list requests (storage.max_list_pages): an endpoint that \
                 lists without end?",
                op.tuning.max_list_pages
            )
        } else {
            place::explain(&e, &op.place)
        };
        StorageError::List {
            prefix: prefix.to_string(),
            message,
            place: Box::new((*op.place).clone()),
        }
    };
    op.pages.listing.store(true, Ordering::Relaxed);
    let _stop = StopCounting(&op.pages);
    let mut lister = op.lister_with(prefix).recursive(true).await.map_err(fail)?;
    while let Some(entry) = lister.try_next().await.map_err(fail)? {
        if entry.metadata().mode() == EntryMode::FILE {
            return Ok(Some(entry.path().to_string()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::{StorageSpec, StorageTuning};
    use crate::secret::ConfigValue;

    fn fs_storage(root: &Path, tuning: &StorageTuning) -> Storage {
        let spec = StorageSpec {
            service: "fs".into(),
            options: BTreeMap::from([(
                "root".to_string(),
                ConfigValue::Plain(root.to_string_lossy().into()),
            )]),
        };
        crate::storage::operator(&spec, Path::new("policy.yaml"), tuning).unwrap()
    }

    #[tokio::test]
    async fn a_listing_stops_at_its_key_budget_across_listings() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..5 {
            std::fs::create_dir_all(dir.path().join(format!("a/{i}"))).unwrap();
            std::fs::write(dir.path().join(format!("a/{i}/x")), b"x").unwrap();
        }
        let tuning = StorageTuning {
            max_listed_keys: 3,
            ..StorageTuning::default()
        };
        let op = fs_storage(dir.path(), &tuning);
        let mut listing = Listing::default();
        let mut keys = Vec::new();
        list_into(&op, "a/", &mut listing, async |e| keys.push(e.key))
            .await
            .unwrap();
        assert_eq!(keys.len(), 3);
        let why = listing.truncated.clone().unwrap();
        assert!(why.contains("3 keys, storage.max_listed_keys"), "{why}");
        // The budget is the policy's: a second listing brings nothing more.
        list_into(&op, "a/0/", &mut listing, async |e| keys.push(e.key))
            .await
            .unwrap();
        assert_eq!(keys.len(), 3);
    }

    #[tokio::test]
    async fn a_local_name_that_is_not_utf8_is_set_aside_escaped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/good"), b"x").unwrap();
        let bad = dir
            .path()
            .join("a")
            .join(std::ffi::OsStr::from_bytes(b"b\xffd"));
        std::fs::write(bad, b"x").unwrap();
        let op = fs_storage(dir.path(), &StorageTuning::default());
        let mut listing = Listing::default();
        let mut keys = Vec::new();
        list_into(&op, "a/", &mut listing, async |e| keys.push(e.key))
            .await
            .unwrap();
        assert_eq!(keys, ["a/good"]);
        assert_eq!(listing.invalid_names, [r"a/b\xffd"]);
        assert!(listing.truncated.is_none());
    }
}
