//! Build information for `restore-drill --version` and `restore-drill version --json`: the
//! git commit (and whether the tree had uncommitted changes) and the build date, through
//! vergen's git command-line backend. A build from a source tarball without git gets
//! "unknown" for the commit, with a cargo warning, not a failure. `SOURCE_DATE_EPOCH` sets
//! the date for reproducible builds.

use vergen_gitcl::{BuildBuilder, Emitter, GitclBuilder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let build = BuildBuilder::default().build_date(true).build()?;
    let git = GitclBuilder::default().sha(true).dirty(false).build()?;
    Emitter::default()
        .add_instructions(&build)?
        .add_instructions(&git)?
        .emit()?;
    Ok(())
}
