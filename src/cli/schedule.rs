//! `restore-drill schedule`: each policy's schedule, last run and result, and next due time.

use anyhow::Context;
use clap::Args;
use comfy_table::{ContentArrangement, Table, presets};

use super::ConfigDir;
use restore_drill::config;
use restore_drill::exit::ExitCode;
use restore_drill::history::History;

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    config: ConfigDir,
}

fn when(t: jiff::Timestamp, tz: &jiff::tz::TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

pub fn execute(args: ScheduleArgs) -> anyhow::Result<ExitCode> {
    let config = match config::load(&args.config.dir()) {
        Ok(config) => config,
        Err(errors) => return Ok(super::config_failed(&errors)),
    };
    let history = History::open(&config.settings.state_dir).context("cannot open the history")?;
    let now = restore_drill::run::now();
    let mut table = Table::new();
    table
        .load_preset(presets::ASCII_BORDERS_ONLY_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header([
            "policy", "client", "schedule", "last run", "result", "next due",
        ]);
    super::fit(&mut table);
    for policy in &config.policies {
        let last = history.last_run(&policy.name)?;
        let (schedule, next) = match &policy.schedule {
            None => (
                "-".to_string(),
                "not scheduled (run --due skips it)".to_string(),
            ),
            Some(s) => {
                let next = if s.is_due(last.as_ref().map(|(t, _)| *t), now) {
                    "now".to_string()
                } else {
                    s.next_slot(now)
                        .map_or_else(|| "never".into(), |t| when(t, &s.tz))
                };
                (format!("{} ({})", s.expression, s.tz_name), next)
            }
        };
        let tz = policy
            .schedule
            .as_ref()
            .map_or_else(jiff::tz::TimeZone::system, |s| s.tz.clone());
        table.add_row([
            policy.name.clone(),
            policy.client.clone(),
            schedule,
            last.as_ref()
                .map_or_else(|| "never".into(), |(t, _)| when(*t, &tz)),
            last.as_ref()
                .map_or_else(|| "-".into(), |(_, s)| s.to_uppercase()),
            next,
        ]);
    }
    // `run --due` always includes an invalid policy file: it fails every run until fixed.
    for invalid in &config.invalid {
        let last = history.last_run(&invalid.name)?;
        let tz = jiff::tz::TimeZone::system();
        table.add_row([
            invalid.name.clone(),
            invalid.client.clone().unwrap_or_else(|| "-".into()),
            "invalid file (restore-drill check)".to_string(),
            last.as_ref()
                .map_or_else(|| "never".into(), |(t, _)| when(*t, &tz)),
            last.as_ref()
                .map_or_else(|| "-".into(), |(_, s)| s.to_uppercase()),
            "every run, failing until fixed".to_string(),
        ]);
    }
    outln!("{table}");
    Ok(ExitCode::Success)
}
