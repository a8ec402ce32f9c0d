//! Keys confined to a policy's prefix: the one check every key the runner lists, derives or
//! reads goes through before any request. A key is refused when it does not start with the
//! prefix, or has a segment that is empty (`a//b`, a leading `/`), `.` or `..`, a backslash,
//! or a percent-encoded dot, slash or backslash (`%2e`, `%2f`, `%5c`, any case): path-style
//! S3 and the fs service would otherwise resolve it into another prefix or bucket.

use std::fmt;

/// Why a key was refused; its message names the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsafeKey {
    pub key: String,
    pub why: &'static str,
}

impl fmt::Display for UnsafeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refused before any request: `{}` {}, so it could resolve outside the policy's backups.prefix",
            self.key.escape_debug(),
            self.why
        )
    }
}

/// `key` when it stays under `prefix` (a policy's normalised `backups.prefix`: empty or
/// ending in `/`), or why not.
pub fn confined_key<'k>(prefix: &str, key: &'k str) -> Result<&'k str, UnsafeKey> {
    let refuse = |why| {
        Err(UnsafeKey {
            key: key.to_string(),
            why,
        })
    };
    if key.starts_with('/') {
        return refuse("is an absolute path");
    }
    if key.contains('\\') {
        return refuse("has a backslash");
    }
    let lower = key.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return refuse("has a percent-encoded slash or backslash");
    }
    for segment in lower.split('/') {
        match segment.replace("%2e", ".").as_str() {
            "" => return refuse("has an empty path segment"),
            "." | ".." => return refuse("has a `.` or `..` segment (or its percent-encoded form)"),
            _ => {}
        }
    }
    if !key.starts_with(prefix) {
        return refuse("is not under the policy's prefix");
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::confined_key;

    #[test]
    fn keys_under_the_prefix_pass_and_escapes_are_refused() {
        for ok in [
            "a/2026-11-25/db.zst",
            "a/x..y/SHA256SUMS",
            "a/.hidden",
            "a/100%25",
        ] {
            assert_eq!(confined_key("a/", ok), Ok(ok), "{ok}");
        }
        assert!(confined_key("", "db.zst").is_ok());
        for bad in [
            "a/2026-11-25/../../../other/db/2026-11-25/SHA256SUMS",
            "a/2026-11-25/%2e%2e/x",
            "a/2026-11-25/%2E%2e/x",
            "a/2026-11-25/.%2E/x",
            "a/2026-11-25/..%2fx",
            "a/2026-11-25/..%5Cx",
            "a/2026-11-25/..\\x",
            "a/2026-11-25//x",
            "a/./x",
            "a/x/",
            "/a/x",
            "b/x",
            "a",
        ] {
            let err = confined_key("a/", bad).expect_err(bad);
            assert_eq!(err.key, bad);
            assert!(err.to_string().contains(&bad.escape_debug().to_string()));
        }
    }
}
