//! Policies of different clients whose storage overlaps: the same service, endpoint and
//! bucket (or container), and one root+prefix containing the other. One client's policy would
//! then read, and report, the other client's backups. `check` refuses such a pair, each
//! policy's error naming the other's file.

use std::path::PathBuf;

use super::{ConfigError, Policy};
use crate::secret::ConfigValue;

/// Where a policy's backups are: (service, endpoint, bucket/container), and the root and
/// prefix as one path ending in `/`.
fn location(policy: &Policy) -> ((String, String, String), String) {
    let option = |name: &str| match policy.storage.options.get(name) {
        None => String::new(),
        Some(ConfigValue::Plain(s)) => s.clone(),
        Some(ConfigValue::Env(var)) => format!("${{env:{var}}}"),
        Some(ConfigValue::File(path)) => format!("${{file:{}}}", path.display()),
    };
    let bucket = format!("{}{}", option("bucket"), option("container"));
    let endpoint = option("endpoint").trim_end_matches('/').to_string();
    let root = option("root");
    let root = root.trim_matches('/');
    let path = match (root.is_empty(), policy.backups.prefix.is_empty()) {
        (true, _) => format!("/{}", policy.backups.prefix),
        (false, true) => format!("/{root}/"),
        (false, false) => format!("/{root}/{}", policy.backups.prefix),
    };
    ((policy.storage.service.clone(), endpoint, bucket), path)
}

/// One error per policy whose storage overlaps a policy of another client.
pub(super) fn overlapping_storage(policies: &[Policy]) -> Vec<ConfigError> {
    let located: Vec<_> = policies.iter().map(location).collect();
    let mut errors = Vec::new();
    for (i, policy) in policies.iter().enumerate() {
        let (place, path) = &located[i];
        let others: Vec<(&Policy, &PathBuf)> = policies
            .iter()
            .enumerate()
            .filter(|&(j, other)| {
                let (other_place, other_path) = &located[j];
                j != i
                    && other.client != policy.client
                    && other_place == place
                    && (path.starts_with(other_path.as_str())
                        || other_path.starts_with(path.as_str()))
            })
            .map(|(_, other)| (other, &other.file))
            .collect();
        if others.is_empty() {
            continue;
        }
        let named: Vec<String> = others
            .iter()
            .map(|(other, file)| {
                format!(
                    "`{}` of client `{}` ({})",
                    other.name,
                    other.client,
                    file.display()
                )
            })
            .collect();
        errors.push(ConfigError {
            file: policy.file.clone(),
            line: 0,
            column: 0,
            field: "backups.prefix".into(),
            message: format!(
                "the storage of policy `{}` (client `{}`, {} `{}{}`) overlaps that of {}: one client's run would read the other's backups; give each client its own bucket or a prefix that does not contain the other's",
                policy.name,
                policy.client,
                place.0,
                place.2,
                path,
                named.join(", ")
            ),
        });
    }
    errors
}
