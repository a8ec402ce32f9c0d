//! restore-drill: restores samples of backups from object storage and turns them into
//! evidence. The pipeline, one module per stage, data flowing one way:
//!
//! [`config`] (YAML → validated policies) → [`plan`] (listing → sample) → [`restore`]
//! (storage → decode → scratch + digests) → [`verify`] (digests, manifests, validate
//! commands → findings) → [`judge`] (RPO, RTO → verdict) → [`report`] (terminal, JSON).
//! [`run`] drives the stages; [`session`] owns a run's whole lifecycle (lock, heartbeat,
//! signals, the stages, history, artifacts, mail, exit code); [`storage`] is the only module
//! that builds storage operators. The command line is a module of the binary
//! (`src/cli/`), not of this library: no clap, indicatif or anyhow here.

#![forbid(unsafe_code)]

pub mod checksum;
pub mod clock;
pub mod config;
pub mod exit;
pub mod finding;
pub mod folder;
pub mod fsx;
pub mod heartbeat;
pub mod history;
pub mod judge;
pub mod notify;
pub mod plan;
pub mod report;
#[cfg(feature = "restic")]
pub mod restic;
pub mod restore;
pub mod results;
pub mod run;
pub mod runtime;
pub mod schedule;
pub mod secret;
pub mod session;
pub mod signing;
pub mod storage;
pub mod unattended;
pub mod verify;
