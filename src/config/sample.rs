//! A policy's `sample:` block: how many sets and objects a run restores, within which
//! window and byte budget, and the coverage target that turns random sampling into a
//! rotation through every retained object. Raw (as written) and resolved.

use std::time::Duration;

use serde::Deserialize;

use super::units::{ByteSize, HumanDuration};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSample {
    #[serde(default)]
    random: usize,
    #[serde(default = "default_within")]
    within: HumanDuration,
    #[serde(default)]
    objects_per_set: ObjectsPerSet,
    #[serde(default)]
    max_bytes: Option<ByteSize>,
    #[serde(default)]
    coverage: Option<HumanDuration>,
}

impl Default for RawSample {
    fn default() -> Self {
        RawSample {
            random: 0,
            within: default_within(),
            objects_per_set: ObjectsPerSet::All,
            max_bytes: None,
            coverage: None,
        }
    }
}

fn default_within() -> HumanDuration {
    HumanDuration(Duration::from_secs(30 * 86_400))
}

/// How many objects of each sampled set are restored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "ObjectsText")]
pub enum ObjectsPerSet {
    #[default]
    All,
    Count(usize),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ObjectsText {
    Count(usize),
    Text(String),
}

impl TryFrom<ObjectsText> for ObjectsPerSet {
    type Error = String;
    fn try_from(raw: ObjectsText) -> Result<Self, String> {
        match raw {
            ObjectsText::Count(0) => Err("objects_per_set must be at least 1 or `all`".into()),
            ObjectsText::Count(n) => Ok(ObjectsPerSet::Count(n)),
            ObjectsText::Text(t) if t == "all" => Ok(ObjectsPerSet::All),
            ObjectsText::Text(t) => Err(format!(
                "invalid objects_per_set `{t}`: expected `all` or a number"
            )),
        }
    }
}

impl RawSample {
    pub(super) fn resolve(&self) -> Sample {
        Sample {
            random: self.random,
            within: self.within.0,
            objects_per_set: self.objects_per_set,
            max_bytes: self.max_bytes.map(|b| b.0),
            coverage: self.coverage.map(|c| c.0),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Sample {
    pub random: usize,
    pub within: Duration,
    pub objects_per_set: ObjectsPerSet,
    pub max_bytes: Option<u64>,
    /// `sample.coverage`: every retained object must be verified within this long; the
    /// sampler then chooses the least recently verified objects instead of random sets.
    pub coverage: Option<Duration>,
}
