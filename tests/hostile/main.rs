//! Hostile inputs and faults: every bad backup caught, nothing written outside scratch,
//! nothing lost. Organised by what goes wrong; every case runs the real binary in a
//! [`guard::Sandbox`] and ends with [`guard::Sandbox::check`]: no panic, a documented exit
//! code, nothing new or changed outside the folders the run owns (a sentinel tree is walked
//! before and after), the scratch folder emptied, and the test secret nowhere (output, logs,
//! JSON, JUnit, HTML, mail, spool, database).

#[path = "../common/mod.rs"]
mod common;

mod bad_checksums;
mod bad_config;
mod bad_keys;
mod bad_tar;
mod bad_text;
mod bad_zstd;
mod bombs;
mod fake_s3;
mod forged_markers;
mod guard;
mod history_anchor;
mod history_faults;
mod hostile_endpoint;
mod json_temp_link;
mod leaks;
mod mail_faults;
mod process_faults;
mod proxy;
mod scratch_faults;
mod scratch_links;
mod scratch_owner;
mod storage_faults;
mod unbounded_work;
