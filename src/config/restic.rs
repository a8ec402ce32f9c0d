//! `backups.format` and a policy's `restic:` block: which snapshots of a restic repository
//! count as the policy's backup sets, and the repository's password. Raw (as written) and
//! resolved. No I/O: the password is a reference, checked for its form here and resolved
//! only when the repository is opened (and by `check`), never logged.

use serde::Deserialize;

use crate::secret::ConfigValue;

/// What the storage under `backups.prefix` holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupFormat {
    /// Objects (`.tar.zst`, `.zst`, `.tar`, anything) grouped into sets by folder or by
    /// object: today's behaviour.
    #[default]
    Objects,
    /// A restic repository: sets are its snapshots, objects the files in them.
    Restic,
}

impl BackupFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupFormat::Objects => "objects",
            BackupFormat::Restic => "restic",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRestic {
    password: String,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    read_data_subset: Option<String>,
}

/// Which snapshots of a restic repository count, and how to open it.
#[derive(Debug, Clone)]
pub struct Restic {
    /// The repository's password: always a reference (`${env:…}`, `${file:…}`).
    pub password: ConfigValue,
    /// Only snapshots of this host (`restic backup --host`); none: every host.
    pub host: Option<String>,
    /// Only snapshots carrying every one of these tags.
    pub tags: Vec<String>,
    /// Only snapshots whose paths include every one of these.
    pub paths: Vec<String>,
    /// The share of the repository's packs read whole each run (`restic check
    /// --read-data-subset`); none: only the sampled files' packs are read.
    pub read_data_subset: Option<DataSubset>,
}

/// `restic.read_data_subset`: `2.5%` of the packs (seeded), or `n/t`, the n-th of t parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DataSubset {
    /// A share of the packs, in per cent (above 0, at most 100), chosen with the run's seed.
    Percent(f64),
    /// The packs whose id's first byte modulo `t` is `n - 1` (1 <= n <= t <= 256).
    Part { n: u32, t: u32 },
}

impl DataSubset {
    /// `1%`, `0.5%`, `100%` or `2/7`, or why not.
    pub fn parse(text: &str) -> Result<DataSubset, String> {
        let text = text.trim();
        let wrong = || {
            format!(
                "`{text}` is not a subset: a share of the packs such as `1%` (above 0%, at most \
                 100%), or a part such as `2/7` (n of t parts, 1 <= n <= t <= 256)"
            )
        };
        if let Some(share) = text.strip_suffix('%') {
            let share: f64 = share.trim().parse().map_err(|_| wrong())?;
            return if share > 0.0 && share <= 100.0 {
                Ok(DataSubset::Percent(share))
            } else {
                Err(wrong())
            };
        }
        let (n, t) = text.split_once('/').ok_or_else(wrong)?;
        let n: u32 = n.trim().parse().map_err(|_| wrong())?;
        let t: u32 = t.trim().parse().map_err(|_| wrong())?;
        if n >= 1 && n <= t && t <= 256 {
            Ok(DataSubset::Part { n, t })
        } else {
            Err(wrong())
        }
    }
}

impl Restic {
    /// Whether a snapshot of `host`, with `tags` and `paths`, is one of the policy's.
    pub fn selects(&self, host: &str, tags: &[&str], paths: &[&str]) -> bool {
        self.host.as_deref().is_none_or(|h| h == host)
            && self.tags.iter().all(|t| tags.contains(&t.as_str()))
            && self.paths.iter().all(|p| paths.contains(&p.as_str()))
    }
}

/// Field paths and messages, as the policy's resolution reports them.
type FieldError = (String, String);

/// The `restic:` block against `backups.format`, resolved. `anchor` makes a `${file:…}`
/// path absolute (against the policy's folder). `objects_fields` names the `backups` fields
/// written that only objects use, which a restic policy must not set.
pub(super) fn resolve(
    format: BackupFormat,
    raw: Option<RawRestic>,
    anchor: impl FnOnce(&str) -> std::path::PathBuf,
    objects_fields: &[&str],
) -> Result<Option<Restic>, FieldError> {
    let raw = match (format, raw) {
        (BackupFormat::Objects, None) => return Ok(None),
        (BackupFormat::Objects, Some(_)) => {
            return Err((
                "restic".into(),
                "a `restic:` block needs `backups.format: restic`".into(),
            ));
        }
        (BackupFormat::Restic, None) => {
            return Err((
                "restic".into(),
                "`backups.format: restic` needs a `restic:` block with the repository's \
                 password, e.g. `restic: { password: ${env:ACME_RESTIC_PASSWORD} }`"
                    .into(),
            ));
        }
        (BackupFormat::Restic, Some(raw)) => raw,
    };
    if !cfg!(feature = "restic") {
        return Err((
            "backups.format".into(),
            "this build of restore-drill has no restic support (built without the `restic` \
             feature): rebuild with default features"
                .into(),
        ));
    }
    if let Some(field) = objects_fields.first() {
        return Err((
            format!("backups.{field}"),
            "not used with `format: restic`: sets are snapshots, dated by their own time".into(),
        ));
    }
    let password = ConfigValue::parse(&raw.password, anchor)
        .map_err(|e| ("restic.password".to_string(), e.to_string()))?;
    if !password.is_reference() {
        return Err((
            "restic.password".into(),
            "the password must be a reference, ${env:NAME} or ${file:PATH}, not written in the \
             policy"
                .into(),
        ));
    }
    for (i, tag) in raw.tags.iter().enumerate() {
        if tag.is_empty() || tag.contains(',') {
            return Err((
                format!("restic.tags[{i}]"),
                format!("`{tag}` is not a tag: one non-empty tag per item, without `,`"),
            ));
        }
    }
    if raw.host.as_deref() == Some("") {
        return Err((
            "restic.host".into(),
            "an empty host matches no snapshot: name the host or leave `host` out".into(),
        ));
    }
    let read_data_subset = raw
        .read_data_subset
        .as_deref()
        .map(DataSubset::parse)
        .transpose()
        .map_err(|e| ("restic.read_data_subset".to_string(), e))?;
    Ok(Some(Restic {
        password,
        host: raw.host,
        tags: raw.tags,
        paths: raw.paths,
        read_data_subset,
    }))
}

#[cfg(test)]
mod tests {
    use super::DataSubset;

    #[test]
    fn data_subsets_parse_as_a_share_or_a_part_and_nothing_else() {
        assert_eq!(DataSubset::parse("1%"), Ok(DataSubset::Percent(1.0)));
        assert_eq!(DataSubset::parse("0.5 %"), Ok(DataSubset::Percent(0.5)));
        assert_eq!(DataSubset::parse("100%"), Ok(DataSubset::Percent(100.0)));
        assert_eq!(
            DataSubset::parse("2/7"),
            Ok(DataSubset::Part { n: 2, t: 7 })
        );
        for bad in ["0%", "101%", "x%", "1", "0/3", "4/3", "1/257", "", "1/0"] {
            let err = DataSubset::parse(bad).unwrap_err();
            assert!(err.contains("is not a subset"), "{bad}: {err}");
        }
    }
}
