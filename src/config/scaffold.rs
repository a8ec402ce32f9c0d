//! The files `restore-drill init` writes: a commented settings file and a commented policy
//! per protected system, with the storage keys of its service and secret references for its
//! credentials. Pure: inputs in, YAML text out; the command writes it. What it writes
//! passes `check` (for storage with credentials, once the variables it names are set).

use std::fmt::Write as _;

/// What the settings file is made from.
#[derive(Debug, Clone)]
pub struct SettingsScaffold {
    pub msp_name: String,
    pub msp_email: String,
    pub client: String,
    pub client_email: String,
    /// The SMTP relay; `None` writes mail as files into the state folder's outbox.
    pub smtp_host: Option<String>,
    pub from: String,
    /// Where the state goes; `None` leaves the default (commented).
    pub state_dir: Option<String>,
}

/// What a policy file is made from.
#[derive(Debug, Clone)]
pub struct PolicyScaffold {
    pub name: String,
    pub client: String,
    /// `fs`, `s3`, `azblob` or `gcs`.
    pub service: String,
    /// The bucket (s3, gcs) or container (azblob).
    pub bucket: Option<String>,
    /// The folder holding the backups (fs).
    pub root: Option<String>,
    pub prefix: String,
    pub region: Option<String>,
    pub endpoint: Option<String>,
}

/// Why a policy cannot be scaffolded: a flag missing for its service.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScaffoldError {
    #[error("--storage {service} needs {flag}")]
    Missing { service: String, flag: &'static str },
    #[error("--storage {0}: expected one of fs, s3, azblob, gcs")]
    Service(String),
    #[error(
        "--policy `{0}`: a policy name is letters, digits, `-` and `_` (it names the policy file)"
    )]
    Name(String),
}

/// YAML's double-quoted form of `text`, so any name or address is read back as written.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

/// The settings file.
pub fn settings(s: &SettingsScaffold) -> String {
    let mail = match &s.smtp_host {
        Some(host) => format!(
            "mail:\n  from: {from}\n  transport: smtp\n  host: {host}\n  # port: 587                 # default: 587 starttls, 465 tls, 25 none\n  # tls: starttls             # starttls (default) | tls | none (loopback relays only)\n  # username: restore-drill\n  # password: ${{file:/etc/restore-drill/smtp.secret}}   # always a reference\n",
            from = quoted(&s.from),
            host = quoted(host),
        ),
        None => format!(
            "mail:\n  from: {from}\n  # Each message is written as an .eml file into state_dir/outbox/ until a relay is set:\n  transport: file\n  # transport: smtp\n  # host: smtp.example.com\n  # port: 587                 # default: 587 starttls, 465 tls, 25 none\n  # username: restore-drill\n  # password: ${{file:/etc/restore-drill/smtp.secret}}   # always a reference\n",
            from = quoted(&s.from),
        ),
    };
    format!(
        "# restore-drill settings, shared by every policy in this folder (written by `restore-drill init`).\n\
         # Relative paths resolve against this folder. `restore-drill check` validates it all.\n\
         \n\
         # Durable state: the history, spooled mail, run results. Default:\n\
         # /var/lib/restore-drill as root, else ~/.local/state/restore-drill.\n\
         {state}\n\
         \n\
         # Where restores land; each run works in a folder of its own below it, removed at the end\n\
         # unless `run --keep`. Default: state_dir/scratch, created with mode 0700.\n\
         # scratch_dir: /var/lib/restore-drill/scratch\n\
         \n\
         # concurrency:\n\
         #   restores: 4              # objects restored at once, across all policies\n\
         \n\
         # Who receives the results. The MSP's team (msp: true) gets every client's; a client's\n\
         # internal team gets only its own client's policies. By default the MSP's team is\n\
         # responsible for a failure, the client's team accountable, and both are informed.\n\
         teams:\n\
         \x20 msp:\n\
         \x20   name: {msp_name}\n\
         \x20   msp: true\n\
         \x20   email: [{msp_email}]\n\
         \x20 client-it:\n\
         \x20   name: {client_team}\n\
         \x20   client: {client}\n\
         \x20   email: [{client_email}]\n\
         \x20   # notify: failures        # always (default) or failures\n\
         \n\
         {mail}\
         \n\
         # An ed25519 key that signs every history record and report, as a reference\n\
         # (`restore-drill keygen` makes it and the minisign public key to publish).\n\
         # signing:\n\
         #   key: ${{file:/etc/restore-drill/signing.key}}\n\
         \n\
         # The period report (QBR): time zone, branding, paper.\n\
         # report:\n\
         #   timezone: Europe/Berlin\n\
         #   msp_name: {msp_name}\n\
         #   logo: logo.svg\n\
         #   accent: \"#1f6feb\"\n\
         #   paper: a4              # or letter\n\
         \n\
         # A monitor pinged at start and exit (healthchecks.io and the like), as a reference.\n\
         # heartbeat:\n\
         #   url: ${{env:RESTORE_DRILL_HEARTBEAT_URL}}\n",
        state = s.state_dir.as_ref().map_or_else(
            || "# state_dir: /var/lib/restore-drill".to_string(),
            |d| format!("state_dir: {}", quoted(d))
        ),
        msp_name = quoted(&s.msp_name),
        msp_email = quoted(&s.msp_email),
        client_team = quoted(&format!("{} IT", s.client)),
        client = quoted(&s.client),
        client_email = quoted(&s.client_email),
    )
}

/// The environment variables a policy's credentials are read from: `RD_<NAME>_<FIELD>`.
pub fn credential_vars(p: &PolicyScaffold) -> Vec<(&'static str, String)> {
    let stem: String = p
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    let fields: &[&'static str] = match p.service.as_str() {
        "s3" => &["access_key_id", "secret_access_key"],
        "azblob" => &["account_name", "account_key"],
        "gcs" => &["credential"],
        _ => &[],
    };
    fields
        .iter()
        .map(|f| (*f, format!("RD_{stem}_{}", f.to_ascii_uppercase())))
        .collect()
}

/// A policy file for one protected system.
pub fn policy(p: &PolicyScaffold) -> Result<String, ScaffoldError> {
    let valid_name = !p.name.is_empty()
        && p.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid_name {
        return Err(ScaffoldError::Name(p.name.clone()));
    }
    let missing = |flag| ScaffoldError::Missing {
        service: p.service.clone(),
        flag,
    };
    let mut storage = format!("storage:\n  service: {}\n", p.service);
    match p.service.as_str() {
        "fs" => {
            let root = p.root.as_ref().ok_or_else(|| missing("--root"))?;
            let _ = writeln!(
                storage,
                "  root: {}    # the folder holding the backups",
                quoted(root)
            );
        }
        "s3" => {
            let bucket = p.bucket.as_ref().ok_or_else(|| missing("--bucket"))?;
            let _ = writeln!(storage, "  bucket: {}", quoted(bucket));
            let region = p.region.as_deref().unwrap_or("us-east-1");
            let _ = writeln!(storage, "  region: {}", quoted(region));
            match &p.endpoint {
                Some(e) => {
                    let _ = writeln!(storage, "  endpoint: {}", quoted(e));
                }
                None => storage.push_str(
                    "  # endpoint: https://s3.wasabisys.com   # for S3-compatible services\n",
                ),
            }
        }
        "azblob" => {
            let container = p.bucket.as_ref().ok_or_else(|| missing("--bucket"))?;
            let _ = writeln!(storage, "  container: {}", quoted(container));
            if let Some(e) = &p.endpoint {
                let _ = writeln!(storage, "  endpoint: {}", quoted(e));
            }
        }
        "gcs" => {
            let bucket = p.bucket.as_ref().ok_or_else(|| missing("--bucket"))?;
            let _ = writeln!(storage, "  bucket: {}", quoted(bucket));
        }
        other => return Err(ScaffoldError::Service(other.to_string())),
    }
    let vars = credential_vars(p);
    if !vars.is_empty() {
        storage.push_str(
            "  # Credentials are references, read when the storage is used; never written here.\n",
        );
    }
    for (field, var) in &vars {
        let _ = writeln!(storage, "  {field}: ${{env:{var}}}");
    }
    if p.service == "gcs" {
        storage.push_str("  # credential: the service account's JSON key, base64-encoded\n");
    }
    Ok(format!(
        "# One protected system of {client} (written by `restore-drill init --policy`).\n\
         name: {name}\n\
         client: {client_q}\n\
         description: {description}\n\
         {storage}\
         backups:\n\
         \x20 prefix: {prefix}    # every key read stays under it\n\
         \x20 # sets: by-folder            # a set per folder (default) or by-object\n\
         \x20 # include: [\"*.tar.zst\"]\n\
         \x20 # Sets are dated by the date in their names (upload times are reset by a copy); a\n\
         \x20 # set whose name has none is an undated_backup finding. Or: dated_by: modified\n\
         \x20 date_format: \"%Y-%m-%d\"\n\
         checksums:\n\
         \x20 required: true              # an object without an expected digest fails\n\
         sample:\n\
         \x20 random: 1                   # older sets restored each run, beside the newest\n\
         \x20 within: 14d\n\
         \x20 # Or prove every retained backup within 30 days, rotating through the least\n\
         \x20 # recently verified within a byte budget (see `restore-drill coverage`):\n\
         \x20 # coverage: 30d\n\
         \x20 # max_bytes: 50GiB\n\
         # When `run --due` runs it (cron syntax, the host's time zone).\n\
         schedule: \"0 3 * * *\"\n\
         targets:\n\
         \x20 rpo: 26h                    # the newest backup is at most this old\n\
         \x20 rto: 4h                     # a full restore would take at most this long\n",
        client = p.client,
        client_q = quoted(&p.client),
        name = p.name,
        description = quoted(&format!("{} backups of {}", p.service, p.client)),
        prefix = quoted(&p.prefix),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3() -> PolicyScaffold {
        PolicyScaffold {
            name: "acme-db".into(),
            client: "Acme Dental".into(),
            service: "s3".into(),
            bucket: Some("acme-backups".into()),
            root: None,
            prefix: "db/".into(),
            region: None,
            endpoint: None,
        }
    }

    #[test]
    fn a_policy_names_its_credentials_by_reference_only() {
        let text = policy(&s3()).unwrap();
        assert!(text.contains("access_key_id: ${env:RD_ACME_DB_ACCESS_KEY_ID}"));
        assert!(text.contains("secret_access_key: ${env:RD_ACME_DB_SECRET_ACCESS_KEY}"));
        assert!(text.contains("bucket: \"acme-backups\""));
    }

    #[test]
    fn missing_flags_and_bad_names_are_refused() {
        let mut p = s3();
        p.bucket = None;
        assert_eq!(
            policy(&p).unwrap_err().to_string(),
            "--storage s3 needs --bucket"
        );
        p.name = "../x".into();
        assert!(matches!(policy(&p), Err(ScaffoldError::Name(_))));
        let mut p = s3();
        p.service = "ftp".into();
        assert!(matches!(policy(&p), Err(ScaffoldError::Service(_))));
    }
}
