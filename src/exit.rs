//! Exit codes: the contract with cron, systemd and CI. Documented in the README.

/// How a `restore-drill` process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Every policy passed (or `check` found the configuration valid).
    Success = 0,
    /// At least one policy failed: a finding was recorded.
    PolicyFailed = 1,
    /// The configuration or the command line is invalid; nothing was restored.
    InvalidConfig = 2,
    /// Mail could not be delivered and waits in `state_dir/spool/` for the next run or
    /// `restore-drill mail flush`. Takes precedence over 1: the failure report may not have
    /// reached anyone.
    MailUndelivered = 3,
    /// The run could not be carried out, or its evidence not kept (scratch folder not
    /// writable, history database not writable, runtime failure).
    RunError = 4,
    /// `history verify` or `report verify`: a record or report no longer matches its hash or
    /// signature, or the database is damaged.
    VerificationFailed = 5,
    /// Another run holds the state folder's lock; this one did nothing.
    Busy = 6,
    /// `check --connect`: a storage or the mail server could not be reached or refused the
    /// credentials.
    Unreachable = 7,
    /// Stopped by SIGINT (Ctrl-C): the run was recorded as interrupted, its scratch removed.
    Interrupted = 130,
    /// Stopped by SIGTERM: the run was recorded as interrupted, its scratch removed.
    Terminated = 143,
}

impl ExitCode {
    /// What the code means, in a few words (the heartbeat's body ends with it).
    pub fn meaning(self) -> &'static str {
        match self {
            ExitCode::Success => "every policy passed",
            ExitCode::PolicyFailed => "a policy failed",
            ExitCode::InvalidConfig => "the configuration or the command line is invalid",
            ExitCode::MailUndelivered => "mail could not be delivered and waits in the spool",
            ExitCode::RunError => "the run could not be carried out or its evidence not kept",
            ExitCode::VerificationFailed => "a record or report does not verify",
            ExitCode::Busy => "another run holds the state folder",
            ExitCode::Unreachable => "a storage or the mail server is unreachable",
            ExitCode::Interrupted => "stopped by SIGINT, recorded as interrupted",
            ExitCode::Terminated => "stopped by SIGTERM, recorded as interrupted",
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}
