//! `chimera compare` on real sweep outputs made by the binary against fake Ollama servers of
//! known speed: a NEW 10% slower fails the gate (exit 1), an equal one passes (exit 0).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use chimera_testkit::{FakeOllama, LatencyProfile, ScriptedServer};

const MODEL: &str = "gemma3:270m";

/// A server decoding at exactly 1000/itl_ms tok/s at every point.
async fn server(itl_ms: u64) -> ScriptedServer {
    FakeOllama::new(LatencyProfile::new(Duration::from_millis(150), Duration::from_millis(itl_ms), 10))
        .models(&[MODEL])
        .start()
        .await
}

async fn sweep(srv: &ScriptedServer, out: &Path) {
    let url = srv.url();
    let out = out.to_path_buf();
    let o = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_chimera"))
            .args(["sweep", "--backend", "ollama", "--url", &url, "--model", MODEL])
            .args(["--num-ctx", "256,512", "--num-predict", "10", "--runs", "3", "--quiet", "--out"])
            .arg(&out)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}

fn compare(old: &Path, new: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chimera")).arg("compare").arg(old).arg(new).args(extra).output().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_percent_slower_fails_equal_passes() {
    let dir = tempfile::tempdir().unwrap();
    let (old, slow, again): (PathBuf, PathBuf, PathBuf) =
        (dir.path().join("old"), dir.path().join("slow"), dir.path().join("again"));
    let fast = server(9).await; // 111.1 tok/s
    let slower = server(10).await; // 100 tok/s = -10 %
    sweep(&fast, &old).await;
    sweep(&slower, &slow).await;
    sweep(&fast, &again).await;

    // 10 % slower: fails the default 5 % gate, with a JSON verdict
    let json = dir.path().join("cmp.json");
    let o = compare(&old, &slow, &["--json", json.to_str().unwrap()]);
    let md = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{md}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(md.contains("FAIL") && md.contains("-10.0%"), "{md}");
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(j["failed"], true);
    // the verdict is a result JSON of its own; what it compared is `compared`
    assert_eq!((j["kind"].as_str(), j["schema_version"].as_u64()), (Some("chimera.compare"), Some(1)));
    assert_eq!(j["compared"], "chimera.sweep");
    let rows = j["rows"].as_array().unwrap();
    let tput: Vec<_> = rows.iter().filter(|r| r["class"] == "throughput").collect();
    assert_eq!(tput.len(), 3, "baseline + 2 points");
    for r in tput {
        assert_eq!(r["verdict"], "fail");
        assert!((r["delta_pct"]["value"].as_f64().unwrap() + 10.0).abs() < 1e-6);
    }
    // ... but passes a 15 % gate (TTFT unchanged within 50 %)
    let o = compare(&old, &slow, &["--max-throughput-drop", "15%", "--max-ttft-rise", "50%"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));

    // equal: the same numbers pass the strict defaults
    let same = dir.path().join("same");
    copy_dir(&old, &same);
    let o = compare(&old, &same, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("PASS"));
    // an independent re-run on the same server: identical decode rate, TTFT within jitter
    let o = compare(&old, &again, &["--max-ttft-rise", "50%", "--json", "-"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["failed"], false);

    // wrong inputs are errors (exit 2) that say what to pass
    let o = compare(&old, dir.path(), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("summary.json"));
    let o = compare(&old, &slow, &["--max-throughput-drop", "five"]);
    assert_eq!(o.status.code(), Some(2));
    fast.shutdown().await;
    slower.shutdown().await;
}
