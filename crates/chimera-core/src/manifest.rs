//! The run manifest recorded beside every output: tool version, backend, model, options, host, OS.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::backend::BackendInfo;
use crate::options::GenOptions;
use crate::stamp_thread::StampThread;

/// Where and with what a run was made, for reproducibility.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub tool: String,
    pub tool_version: String,
    pub created_at: DateTime<Utc>,
    pub command: Vec<String>,
    pub backend: BackendInfo,
    pub options: GenOptions,
    pub host: HostInfo,
}

/// The machine a run was made on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub hostname: String,
    pub os: String,
    pub arch: String,
    pub cpus: usize,
    pub total_memory_bytes: Option<u64>,
    /// How the thread that timestamps streams ran (real-time or normal, and why), when the
    /// process set it ([`crate::stamp_thread`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp_thread: Option<StampThread>,
}

impl HostInfo {
    /// Read this machine's facts (Linux files where available; portable fallbacks otherwise).
    pub fn detect() -> Self {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| std::env::var("HOSTNAME").unwrap_or_else(|_| "unknown".into()));
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))
            })
            .unwrap_or_else(|| std::env::consts::OS.to_string());
        let total_memory_bytes = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                    .map(|kb| kb * 1024)
            })
        });
        HostInfo {
            hostname,
            os,
            arch: std::env::consts::ARCH.to_string(),
            cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            total_memory_bytes,
            stamp_thread: crate::stamp_thread::current(),
        }
    }
}

impl Manifest {
    /// A manifest for this process, now.
    pub fn new(backend: BackendInfo, options: GenOptions) -> Self {
        Manifest {
            tool: "chimera".into(),
            tool_version: crate::TOOL_VERSION.into(),
            created_at: Utc::now(),
            command: std::env::args().collect(),
            backend,
            options,
            host: HostInfo::detect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_has_host_and_version() {
        let m = Manifest::new(BackendInfo::default(), GenOptions::default());
        assert_eq!(m.tool_version, crate::TOOL_VERSION);
        assert!(m.host.cpus >= 1);
        assert!(!m.host.arch.is_empty());
        let j = serde_json::to_value(&m).unwrap();
        assert!(j["host"]["hostname"].is_string());
    }
}
