//! What the plan alone shows wrong, as findings, before anything is restored (so
//! `--dry-run` shows them too): sets the policy cannot date, a folder `include` emptied that
//! would be the newest set, objects of zero bytes, listed keys that could leave the prefix.
//! Pure, like the planner.

use super::PolicyPlan;
use crate::config::{Policy, SetLayout};
use crate::finding::{Finding, FindingKind};

/// What the plan alone shows wrong: sets that cannot be dated, folders `include` emptied
/// that would be the newest set, objects of zero bytes.
pub fn findings(policy: &Policy, plan: &PolicyPlan) -> Vec<Finding> {
    let mut findings = Vec::new();
    let set_key = |name: &str| match policy.backups.sets {
        SetLayout::ByFolder => format!("{}{name}/", policy.backups.prefix),
        SetLayout::ByObject => format!("{}{name}", policy.backups.prefix),
    };
    if let (Some(first), Some(format)) = (plan.undated.first(), &policy.backups.date_format) {
        let count = plan.undated.len();
        let sets = if count == 1 {
            format!("set `{first}` does not")
        } else {
            let shown: Vec<String> = plan
                .undated
                .iter()
                .take(3)
                .map(|n| format!("`{n}`"))
                .collect();
            let more = if count > 3 {
                format!(" and {} more", count - 3)
            } else {
                String::new()
            };
            format!("{count} sets ({}{more}) do not", shown.join(", "))
        };
        let fix = match plan.suggested_format {
            Some(f) => format!("the names match `{f}`: set backups.date_format to `{f}`"),
            None => "fix backups.date_format".to_string(),
        };
        findings.push(Finding::new(
            FindingKind::UndatedBackup,
            (count == 1).then(|| set_key(first)).as_deref(),
            format!(
                "{sets} match backups.date_format `{format}` in {}, so no RPO can be judged on them: {fix}, or set backups.dated_by: modified to date sets by upload time",
                policy.file.display()
            ),
        ));
    }
    for (folder, count) in &plan.emptied {
        findings.push(Finding::new(
            FindingKind::EmptySet,
            Some(&set_key(folder)),
            format!(
                "folder `{folder}` would be the newest set, but backups.include leaves out all of its {count} objects: check the backup's file names or backups.include in {}",
                policy.file.display()
            ),
        ));
    }
    for object in plan.sets.iter().flat_map(|s| &s.objects) {
        if object.size == 0 {
            findings.push(Finding::new(
                FindingKind::EmptyObject,
                Some(&object.key),
                "the object is 0 bytes: a backup that wrote nothing (leave marker files out with backups.include)",
            ));
        }
    }
    for refused in &plan.unsafe_keys {
        findings.push(Finding::new(
            FindingKind::UnsafePath,
            Some(&refused.key),
            format!(
                "{refused}: it was not read; remove or rename the object in the client's storage"
            ),
        ));
    }
    findings
}
