//! Which configuration folder a command uses when none is named on its command line, in
//! the order a user expects from tools installed system-wide: `--config-dir`, then
//! `$RESTORE_DRILL_DIR`, then `./policies` when it exists (the demo), then
//! `$XDG_CONFIG_HOME/restore-drill` (`~/.config/restore-drill`) when it exists, then
//! `/etc/restore-drill`. It exists so that every command and every error can say which
//! folder was used and why; it reads the environment and the file system but nothing else.

use std::fmt;
use std::path::{Path, PathBuf};

/// The system-wide configuration folder, the last place looked at.
pub const SYSTEM_DIR: &str = "/etc/restore-drill";
/// The variable naming the configuration folder.
pub const ENV_VAR: &str = "RESTORE_DRILL_DIR";

/// A configuration folder and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub dir: PathBuf,
    pub why: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.dir.display(), self.why)
    }
}

/// The folder to use: `given` (`--config-dir`) when there is one, else the first of the
/// lookup order above.
pub fn locate(given: Option<&Path>) -> Located {
    let env = std::env::var_os(ENV_VAR).filter(|v| !v.is_empty());
    locate_in(given, env.map(PathBuf::from), user_dir(), |p| p.is_dir())
}

/// The user's configuration folder, `$XDG_CONFIG_HOME/restore-drill` or
/// `~/.config/restore-drill`; `None` with neither variable set.
pub fn user_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|base| base.join("restore-drill"))
}

/// [`locate`] with the environment and the file system passed in, for tests.
fn locate_in(
    given: Option<&Path>,
    env: Option<PathBuf>,
    user: Option<PathBuf>,
    is_dir: impl Fn(&Path) -> bool,
) -> Located {
    if let Some(dir) = given {
        return Located {
            dir: dir.to_path_buf(),
            why: "given by --config-dir".into(),
        };
    }
    if let Some(dir) = env {
        return Located {
            dir,
            why: format!("from ${ENV_VAR}"),
        };
    }
    let local = Path::new("policies");
    if is_dir(local) {
        return Located {
            dir: local.to_path_buf(),
            why: "./policies exists in the current folder".into(),
        };
    }
    if let Some(found) = user.as_ref().filter(|u| is_dir(u)) {
        return Located {
            dir: found.clone(),
            why:
                "the user's configuration folder; no --config-dir, $RESTORE_DRILL_DIR or ./policies"
                    .into(),
        };
    }
    Located {
        dir: PathBuf::from(SYSTEM_DIR),
        why: format!(
            "the system folder; no --config-dir, ${ENV_VAR}, ./policies{}",
            user.map_or(String::new(), |u| format!(" or {}", u.display()))
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lookup_order_is_flag_env_local_user_system() {
        let all = |p: &Path| p == Path::new("policies") || p == Path::new("/home/u/.config/rd");
        let none = |_: &Path| false;
        let user = || Some(PathBuf::from("/home/u/.config/rd"));
        let flag = locate_in(Some(Path::new("/x")), Some("/env".into()), user(), all);
        assert_eq!(
            (flag.dir, flag.why.as_str()),
            ("/x".into(), "given by --config-dir")
        );
        let env = locate_in(None, Some("/env".into()), user(), all);
        assert_eq!(env.dir, PathBuf::from("/env"));
        assert!(env.why.contains("RESTORE_DRILL_DIR"));
        assert_eq!(
            locate_in(None, None, user(), all).dir,
            PathBuf::from("policies")
        );
        let home = |p: &Path| p == Path::new("/home/u/.config/rd");
        assert_eq!(
            locate_in(None, None, user(), home).dir,
            PathBuf::from("/home/u/.config/rd")
        );
        let system = locate_in(None, None, user(), none);
        assert_eq!(system.dir, PathBuf::from(SYSTEM_DIR));
        assert!(system.why.contains("/home/u/.config/rd"), "{}", system.why);
    }
}
