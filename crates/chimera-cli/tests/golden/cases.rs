//! The golden cases: a small artifact folder with fixed modification times, a scripted Ollama
//! whose texts and server timings are fixed (stateless: they depend only on the request), and
//! the `chimera` command line of each case.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use chimera_testkit::{
    FakeOllama, Final, LatencyProfile, Reply, Request, Script, ScriptedServer, Step, Timings,
};

/// One golden case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Agent,
    AgentFailed,
    Bench,
    Multi,
    Sweep,
    SweepScenario,
}

impl Case {
    pub fn name(self) -> &'static str {
        match self {
            Case::Agent => "agent",
            Case::AgentFailed => "agent_failed",
            Case::Bench => "bench",
            Case::Multi => "multi",
            Case::Sweep => "sweep",
            Case::SweepScenario => "sweep_scenario",
        }
    }
}

/// A finished case: its output folder and the literal substitutions that make it
/// machine-independent (the server's URL, the binary's path).
pub struct Run {
    _tmp: tempfile::TempDir,
    pub out: PathBuf,
    pub subst: Vec<(String, String)>,
}

impl Run {
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.out.join(rel)).unwrap()
    }
}

/// 2025-10-02 17:08:37 UTC: every artifact's modification time (the inventory reports it).
const MTIME_UNIX: u64 = 1_759_424_917;

/// The artifact folder the agents analyse: one CSV, one JSON, one Markdown table.
fn write_data(dir: &Path) {
    let files = [
        (
            "csv_data/bench_20251002-170837.csv",
            "model,tokens_per_second,ttft_ms\ngemma3:270m,85.2,120.5\ngemma3:270m,88.1,118.0\n",
        ),
        (
            "reports/run_1759098967.json",
            "{\"model\": \"gemma3:270m\", \"results\": {\"tokens_per_second\": 90.5, \"ttft_ms\": 110.25}}\n",
        ),
        (
            "reports/summary_20251002.md",
            "# Summary\n\n| model | tokens_per_second | ttft_ms |\n|---|---|---|\n| gemma3:270m | 87.9 | 116.3 |\n",
        ),
    ];
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(MTIME_UNIX);
    for (rel, text) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        std::fs::File::options().write(true).open(&p).unwrap().set_modified(mtime).unwrap();
    }
}

const ANALYSIS: &str = "The gemma3:270m runs decode at 85.2 to 90.5 tokens per second.\n\n\
## Key Findings\n- Throughput peaks at 90.5 tok/s in run_1759098967.json.\n\
- TTFT is 118.0 ms in the CSV, never 42 ms.\n\n\
## Recommendations\n- Keep num_ctx at 2048 for these runs.\n- Repeat the CSV runs to measure the spread.\n";

const REPORT: &str = "Three artifacts were analysed: one CSV, one JSON and one Markdown file.\n\n\
**2. Data Ingestion Summary**\n- 3 files, 2 CSV rows.\n\n\
**3. Performance Analysis**\n- Throughput ranges from 85.2 to 90.5 tok/s.\n- A TTFT of 99.9 ms was never measured.\n\n\
**4. Key Findings**\n- The JSON run is the fastest at 90.5 tok/s.\n\n\
**5. Recommendations**\n- Re-run the CSV benchmark three times.\n\n**6. Appendix**\n- Data: csv_data/, reports/.\n";

/// Which call a request is, from its prompt.
fn call_text(req: &Request) -> &'static str {
    let prompt = req.json.as_ref().and_then(|j| j["prompt"].as_str()).unwrap_or_default();
    if prompt.contains("Technical report on the data above") {
        REPORT
    } else if prompt.contains("Analysis of the data above") {
        ANALYSIS
    } else {
        "Ready. A transformer reads the prompt, then predicts one token at a time."
    }
}

/// Server speed by num_ctx: (first token offset ms, server inter-token ms). First-token offsets
/// are far apart, so that orders by TTFT do not depend on the machine's load.
fn speed(req: &Request) -> (u64, u64) {
    match req.option_i64("num_ctx") {
        Some(256) => (20, 4),
        Some(512) => (80, 5),
        Some(1024) => (300, 6),
        Some(2048) => (30, 5),
        _ => (140, 8),
    }
}

/// The reply to a generation call: its text word by word, 1 ms apart after the first token,
/// and server timings that depend only on the request (a short call, num_predict ≤ 4, reports a
/// 30 ms model load, as a warm-up after a reload would).
fn generate(req: &Request, drop_report: bool) -> Reply {
    let text = call_text(req);
    let (first, itl) = speed(req);
    let limit = req.option_i64("num_predict").unwrap_or(i64::MAX).max(1) as usize;
    let words: Vec<String> = text.split_inclusive(' ').take(limit).map(str::to_string).collect();
    let mut s = Script::new();
    for (i, w) in words.iter().enumerate() {
        s = s.at_ms(first + i as u64, Step::Token(w.clone()));
    }
    if drop_report && text == REPORT {
        return Reply::Ollama(s.at_ms(first + 3, Step::Drop));
    }
    let n = words.len() as u64;
    let load_ms = if limit <= 4 { 30 } else { 0 };
    let timings = Timings {
        total_duration_ns: (first + itl * n) * 1_000_000,
        load_duration_ns: load_ms * 1_000_000,
        prompt_eval_count: 120,
        prompt_eval_duration_ns: 12_000_000,
        eval_count: n,
        eval_duration_ns: itl * n * 1_000_000,
    };
    Reply::Ollama(s.at_ms(first + n, Step::Done(Final::stop(timings))))
}

fn handler(drop_report: bool) -> impl Fn(&Request) -> Reply + Send + Sync + 'static {
    let fake = FakeOllama::new(LatencyProfile::new(Duration::from_millis(10), Duration::from_millis(1), 1))
        .version("0.12.0-golden")
        .handler();
    move |req| match req.path.as_str() {
        "/api/generate" | "/api/chat" => generate(req, drop_report),
        _ => fake(req),
    }
}

fn chimera() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chimera"))
}

async fn exec(mut cmd: Command, code: i32) {
    let o = tokio::task::spawn_blocking(move || cmd.stdin(Stdio::null()).output().expect("chimera runs"))
        .await
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Run `case` and return its output folder.
pub async fn run(case: Case) -> Run {
    // The command runs in a temporary folder and is given relative paths: the artifact folder's
    // name reaches the prompts, whose token budget must not depend on where the folder is.
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (PathBuf::from("data"), PathBuf::from("out"));
    write_data(&tmp.path().join(&data));
    let srv = match case {
        // one request at a time, so the concurrent agents queue (efficiency far below 1.1)
        Case::SweepScenario => ScriptedServer::start_serial(handler(false)).await,
        Case::AgentFailed => ScriptedServer::start(handler(true)).await,
        _ => ScriptedServer::start(handler(false)).await,
    };
    let url = srv.url();
    let mut cmd = chimera();
    cmd.current_dir(tmp.path());
    cmd.arg(match case {
        Case::Agent | Case::AgentFailed => "agent",
        Case::Bench => "bench",
        Case::Multi => "multi",
        Case::Sweep | Case::SweepScenario => "sweep",
    });
    cmd.args(["--backend", "ollama", "--url", &url, "--quiet"]).arg("--out").arg(&out);
    let code = match case {
        Case::Agent => {
            cmd.arg(&data).args(["--label", "Golden Agent", "--num-ctx", "2048", "--seed", "7"]);
            0
        }
        Case::AgentFailed => {
            cmd.arg(&data).args(["--label", "Golden Agent", "--persona", "insight", "--num-ctx", "2048"]);
            1
        }
        Case::Bench => {
            cmd.arg(&data).args(["--runs", "2", "--seed", "7", "--num-predict", "64", "--num-ctx", "512"]);
            0
        }
        Case::Multi => {
            cmd.arg(&data).args(["--scenario", "chimera_homo", "--runs", "2", "--chimera-num-ctx", "2048"]);
            0
        }
        Case::Sweep => {
            cmd.args(["--num-ctx", "256,512", "--num-predict", "8", "--seed", "7", "--runs", "2"]);
            0
        }
        Case::SweepScenario => {
            cmd.arg("--agent-data").arg(&data);
            cmd.args([
                "--scenario",
                "chimera_homo",
                "--num-ctx",
                "256,1024",
                "--num-predict",
                "64",
                "--runs",
                "1",
            ]);
            cmd.arg("--no-baseline");
            0
        }
    };
    exec(cmd, code).await;
    srv.shutdown().await;
    let subst = vec![
        (url, "http://golden-server".to_string()),
        (env!("CARGO_BIN_EXE_chimera").to_string(), "chimera".to_string()),
    ];
    Run { out: tmp.path().join(out), _tmp: tmp, subst }
}
