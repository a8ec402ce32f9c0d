//! `restore-drill keygen`: a new signing key pair (the secret seed file, 0600, that
//! `signing.key: ${file:…}` reads, and the public key in minisign's `.pub` format), or with
//! `--public-only` the `.pub` of the key the settings already name. The key and the formats
//! are the library's (`restore_drill::signing`); this only picks paths and prints.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::ConfigDir;
use restore_drill::config;
use restore_drill::exit::ExitCode;
use restore_drill::signing::{self, minisign};

#[derive(Debug, Args)]
pub struct KeygenArgs {
    #[command(flatten)]
    config: ConfigDir,
    /// Where to write the secret key (64 hex digits, mode 0600); default: signing.key in
    /// the configuration folder. An existing file is never replaced.
    #[arg(long, value_name = "FILE", conflicts_with = "public_only")]
    secret_key: Option<PathBuf>,
    /// Where to write the public key (minisign's .pub format); default: restore-drill.pub
    /// beside the secret key, or with --public-only standard output.
    #[arg(long, value_name = "FILE.pub")]
    public_key: Option<PathBuf>,
    /// Make no key: write the public key of the key the settings' signing.key names.
    #[arg(long)]
    public_only: bool,
}

pub fn execute(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    if args.public_only {
        return public_only(&args);
    }
    let dir = args.config.dir();
    let secret = args
        .secret_key
        .clone()
        .unwrap_or_else(|| dir.join("signing.key"));
    let public = args.public_key.clone().unwrap_or_else(|| {
        secret
            .parent()
            .unwrap_or(Path::new("."))
            .join("restore-drill.pub")
    });
    // Both files are checked before either is written: half a key pair is no use.
    for path in [&secret, &public] {
        if path.symlink_metadata().is_ok() {
            eprintln!(
                "error: {} exists; keygen never replaces a key file (the signatures made with it would no longer verify): move it away or choose another path",
                path.display()
            );
            return Ok(ExitCode::InvalidConfig);
        }
    }
    let key = signing::generate().context("cannot read random bytes for a new key")?;
    signing::write_secret_key(&secret, &key)
        .with_context(|| format!("cannot write the secret key {}", secret.display()))?;
    let text = minisign::public_key_file(&key.verifying_key());
    write_new(&public, &text)?;
    let absolute = std::path::absolute(&secret).unwrap_or(secret.clone());
    let id = minisign::key_id_text(minisign::key_id(&key.verifying_key()));
    outln!(
        "secret key: {} (mode 0600): keep it secret and back it up",
        secret.display()
    );
    outln!(
        "public key: {} (key id {id}): publish it; anyone checks a report with",
        public.display()
    );
    outln!("  minisign -Vm REPORT -p {}", file_name(&public));
    outln!(
        "add to the settings ({}):",
        dir.join("restore-drill.yaml").display()
    );
    outln!("signing:\n  key: ${{file:{}}}", absolute.display());
    if let Ok(config) = config::load(&dir)
        && config.settings.signing_key.is_some()
    {
        outln!(
            "note: the settings already name a signing key; the new one signs nothing until signing.key names it"
        );
    }
    Ok(ExitCode::Success)
}

/// The `.pub` of the configured key, to a file or standard output.
fn public_only(args: &KeygenArgs) -> anyhow::Result<ExitCode> {
    let config = match config::load(&args.config.dir()) {
        Ok(config) => config,
        Err(errors) => return Ok(super::config_failed(&errors)),
    };
    let Some(key) = super::signing::signing_key(&config.settings)? else {
        eprintln!(
            "error: the settings name no signing key (signing.key); run `restore-drill keygen` to make one"
        );
        return Ok(ExitCode::InvalidConfig);
    };
    let text = minisign::public_key_file(&key.verifying_key());
    match &args.public_key {
        Some(path) => {
            if path.symlink_metadata().is_ok() {
                eprintln!(
                    "error: {} exists; move it away or choose another path",
                    path.display()
                );
                return Ok(ExitCode::InvalidConfig);
            }
            write_new(path, &text)?;
            outln!("public key: {}", path.display());
        }
        None => out!("{text}"),
    }
    Ok(ExitCode::Success)
}

/// Writes a new file (0644: a public key is for publishing), never replacing one.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    // The process's umask (077) would keep it to its owner.
    use std::os::unix::fs::PermissionsExt as _;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .with_context(|| format!("cannot make {} readable", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
