//! Result records: data-only types of what each workload measured (`agent`, `bench`, `multi`,
//! `sweep`), separate from the code that produces them (no import cycles) and from the code
//! that renders them ([`crate::export`]). Every result JSON names itself with `kind` and
//! `schema_version` ([`Record`], written by [`crate::export::Json`]); [`crate::load`] reads them
//! back, typed, also when written by older versions of the same schema.

pub mod agent;
pub mod bench;
pub mod compare;
pub mod inventory;
pub mod multi;
pub mod session;
pub mod sweep;
pub mod traffic;

use serde::{Deserialize, Serialize};

/// What a result file holds: its `kind` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// One agent workflow (`metrics.json` of `chimera agent`).
    #[serde(rename = "chimera.agent")]
    Agent,
    /// Baseline vs chimera (`metrics.json` of `chimera bench`).
    #[serde(rename = "chimera.bench")]
    Bench,
    /// A multi-agent benchmark (`summary.json` of `chimera multi`).
    #[serde(rename = "chimera.multi")]
    Multi,
    /// One run of a multi-agent benchmark (`run_N/metrics.json`).
    #[serde(rename = "chimera.multi.run")]
    MultiRun,
    /// The calls of one agent of a fixed-call multi-agent job (`calls.json`).
    #[serde(rename = "chimera.multi.calls")]
    MultiCalls,
    /// A sweep (`summary.json` of `chimera sweep`).
    #[serde(rename = "chimera.sweep")]
    Sweep,
    /// One finished sweep point (a line of `points.jsonl`).
    #[serde(rename = "chimera.sweep.point")]
    SweepPoint,
    /// Where and with what a run was made (`manifest.json`).
    #[serde(rename = "chimera.manifest")]
    Manifest,
    /// A regression gate's verdict (`chimera compare --json`).
    #[serde(rename = "chimera.compare")]
    Compare,
    /// An open- or closed-loop load run of `chimera multi` (`load.json`).
    #[serde(rename = "chimera.load")]
    Load,
    /// A capacity search (`capacity.json` of `chimera capacity`).
    #[serde(rename = "chimera.capacity")]
    Capacity,
    /// The DataCollector's inventory (`chimera inventory --json`; its schema is its own).
    #[serde(rename = "chimera.inventory")]
    Inventory,
}

impl Kind {
    /// The `kind` string, e.g. `chimera.sweep`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Agent => "chimera.agent",
            Kind::Bench => "chimera.bench",
            Kind::Multi => "chimera.multi",
            Kind::MultiRun => "chimera.multi.run",
            Kind::MultiCalls => "chimera.multi.calls",
            Kind::Sweep => "chimera.sweep",
            Kind::SweepPoint => "chimera.sweep.point",
            Kind::Manifest => "chimera.manifest",
            Kind::Compare => "chimera.compare",
            Kind::Load => "chimera.load",
            Kind::Capacity => "chimera.capacity",
            Kind::Inventory => "chimera.inventory",
        }
    }
}

impl Kind {
    /// The workload or file the kind stands for: `agent`, `bench`, `multi`, `sweep`, …
    pub fn workload(self) -> &'static str {
        self.as_str().trim_start_matches("chimera.")
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record written as a result JSON: its kind and the version of its schema. A reader accepts
/// every version up to [`Record::SCHEMA_VERSION`].
pub trait Record: Serialize + serde::de::DeserializeOwned {
    const KIND: Kind;
    const SCHEMA_VERSION: u32;
    /// Files of schema 1 carry no `kind` (manifests, call lists and sweep points written before
    /// every result named itself): a file without one is read as schema 1.
    const UNTAGGED_V1: bool = false;
}

impl Record for crate::manifest::Manifest {
    const KIND: Kind = Kind::Manifest;
    const SCHEMA_VERSION: u32 = 1;
    const UNTAGGED_V1: bool = true;
}

/// How a result JSON names itself: `kind` + `schema_version` (files of chimera 0.1 before
/// these fields: multi's `schema` tag, or a sweep's `kind` alone).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub schema_version: Option<u32>,
    /// `chimera.multi.summary/1`, `chimera.multi.run/1` (multi files before `kind`).
    #[serde(default)]
    pub schema: Option<String>,
}

impl Header {
    /// The kind and schema version the header names (a missing version is 1).
    pub fn kind(&self) -> Option<(Kind, u32)> {
        let legacy = |tag: &str| match tag.split_once('/') {
            Some(("chimera.multi.summary", v)) => v.parse().ok().map(|v| (Kind::Multi, v)),
            Some(("chimera.multi.run", v)) => v.parse().ok().map(|v| (Kind::MultiRun, v)),
            _ => None,
        };
        match (&self.kind, &self.schema) {
            (Some(k), _) => {
                let kind = serde_json::from_value(serde_json::Value::String(k.clone())).ok()?;
                Some((kind, self.schema_version.unwrap_or(1)))
            }
            (None, Some(tag)) => legacy(tag),
            (None, None) => None,
        }
    }

    /// The tag as written, for messages.
    pub fn shown(&self) -> String {
        self.kind.clone().or_else(|| self.schema.clone()).unwrap_or_else(|| "(none)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(json: &str) -> Header {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn headers_of_every_generation_name_their_kind() {
        assert_eq!(header(r#"{"kind":"chimera.bench","schema_version":1}"#).kind(), Some((Kind::Bench, 1)));
        assert_eq!(header(r#"{"kind":"chimera.sweep"}"#).kind(), Some((Kind::Sweep, 1)));
        assert_eq!(header(r#"{"schema":"chimera.multi.summary/1"}"#).kind(), Some((Kind::Multi, 1)));
        assert_eq!(header(r#"{"schema":"chimera.multi.run/1"}"#).kind(), Some((Kind::MultiRun, 1)));
        let both = r#"{"kind":"chimera.multi","schema_version":1,"schema":"chimera.multi.summary/1"}"#;
        assert_eq!(header(both).kind(), Some((Kind::Multi, 1)));
        assert_eq!(header(r#"{"kind":"chimera.nope"}"#).kind(), None);
        assert_eq!(header("{}").kind(), None);
        for k in [Kind::Agent, Kind::MultiRun, Kind::SweepPoint, Kind::Compare] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        // The inventory JSON names itself with the same string.
        assert_eq!(Kind::Inventory.as_str(), inventory::KIND);
        assert_eq!(serde_json::to_value(Kind::Inventory).unwrap(), inventory::KIND);
    }
}
