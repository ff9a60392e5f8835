//! `--stamp-priority` through the real binary: while `chimera agent` streams from a scripted
//! loopback server, the thread that reads and stamps streams (the main thread) runs at real-time
//! priority when the OS allows it and every other thread of the process at normal priority; the
//! manifest records what the thread got; `normal` leaves it alone; `realtime` refused exits 2
//! before any request.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chimera_testkit::{Final, Reply, Request, Script, ScriptedServer, Step, Timings};
use common::{CORPUS, chimera, json_file, text};
use serde_json::json;

/// A slow stream (40 tokens, 20 ms apart): the process is mid-stream long enough to inspect.
fn slow(req: &Request, calls: &AtomicUsize) -> Reply {
    match req.path.as_str() {
        "/api/version" => Reply::Json(json!({"version": "0.12.0-scripted"})),
        "/api/generate" => {
            calls.fetch_add(1, Ordering::SeqCst);
            let t = Timings { eval_count: 40, eval_duration_ns: 800_000_000, ..Default::default() };
            let mut s = Script::new();
            for i in 0..40 {
                s = s.at_ms(20 * i, Step::token(format!("run {i} took {} ms; ", 100 + i)));
            }
            Reply::Ollama(s.then(Step::Done(Final::stop(t))))
        }
        _ => Reply::JsonStatus(404, json!({"error": "not found"})),
    }
}

/// (tid, scheduling policy, real-time priority) of every thread of `pid`, from
/// `/proc/PID/task/TID/stat` (fields 41 and 40; 0 = SCHED_OTHER, 1 = SCHED_FIFO).
fn threads(pid: u32) -> Vec<(u32, u32, u32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let tid: u32 = e.unwrap().file_name().to_string_lossy().parse().unwrap();
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")) else { continue };
        let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        out.push((tid, f[38].parse().unwrap(), f[37].parse().unwrap()));
    }
    out
}

/// Whether this process may raise a thread to SCHED_FIFO (tried on a thread of its own, which
/// then ends): what `auto` will get.
fn realtime_permitted() -> bool {
    std::thread::spawn(|| {
        let p = libc::sched_param { sched_priority: 1 };
        // SAFETY: a plain syscall on the calling thread, which ends right after.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &p) == 0 }
    })
    .join()
    .unwrap()
}

/// Run `chimera [flag] agent` on seed-101; mid-stream, read the policy of every thread.
async fn agent(flag: &[&str], out: &Path) -> (Output, Vec<(u32, u32, u32)>, u32) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let srv = ScriptedServer::start(move |r| slow(r, &c)).await;
    let mut cmd = chimera();
    cmd.args(flag)
        .args(["agent", CORPUS, "--backend", "ollama", "--url", &srv.url(), "--num-ctx", "2048", "--out"])
        .arg(out);
    let got = tokio::task::spawn_blocking(move || {
        let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let t0 = Instant::now();
        while calls.load(Ordering::SeqCst) == 0 && t0.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(200));
        let pid = child.id();
        let seen = if calls.load(Ordering::SeqCst) > 0 { threads(pid) } else { Vec::new() };
        (child.wait_with_output().unwrap(), seen, pid)
    })
    .await
    .unwrap();
    srv.shutdown().await;
    got
}

#[tokio::test]
async fn the_stamping_thread_runs_realtime_when_allowed_and_nothing_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("auto");
    let (o, seen, pid) = agent(&[], &out).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(seen.len() >= 2, "the agent had more than its main thread mid-stream: {seen:?}");
    let host = &json_file(&out.join("manifest.json"))["host"];
    let main = seen.iter().find(|t| t.0 == pid).expect("the main thread");
    if realtime_permitted() {
        assert_eq!((main.1, main.2), (1, 1), "the stamping thread is SCHED_FIFO 1: {seen:?}");
        assert_eq!(host["stamp_thread"], json!({"policy": "SCHED_FIFO", "priority": 1}), "{host}");
    } else {
        assert_eq!(main.1, 0, "{seen:?}");
        assert_eq!(host["stamp_thread"]["policy"], "SCHED_OTHER", "{host}");
        let reason = host["stamp_thread"]["reason"].as_str().unwrap_or("");
        assert!(reason.starts_with("real-time priority refused"), "{host}");
    }
    for t in seen.iter().filter(|t| t.0 != pid) {
        assert_eq!(t.1, 0, "thread {} inherited the stamping thread's policy: {seen:?}", t.0);
    }
}

#[tokio::test]
async fn normal_leaves_the_stamping_thread_at_normal_priority() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("normal");
    let (o, seen, pid) = agent(&["--stamp-priority", "normal"], &out).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(seen.iter().all(|t| t.1 == 0), "pid {pid}: {seen:?}");
    let host = &json_file(&out.join("manifest.json"))["host"];
    assert_eq!(
        host["stamp_thread"],
        json!({"policy": "SCHED_OTHER", "priority": 0, "reason": "--stamp-priority normal"}),
        "{host}"
    );
}

#[tokio::test]
async fn realtime_refused_exits_2_before_any_request() {
    // Without CAP_SYS_NICE (dropped from the bounding set, so root loses it too) and with an
    // rtprio limit of 0, the kernel refuses SCHED_FIFO.
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("setpriv (util-linux) is missing: the refusal cannot be arranged here");
        return;
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let srv = ScriptedServer::start(move |r| slow(r, &c)).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("refused");
    let mut cmd = Command::new("setpriv");
    cmd.args(["--bounding-set", "-sys_nice", "--inh-caps", "-sys_nice", "--"])
        .args(["prlimit", "--rtprio=0", "--"])
        .arg(env!("CARGO_BIN_EXE_chimera"))
        .args(["--stamp-priority", "realtime", "agent", CORPUS, "--backend", "ollama", "--url", &srv.url()])
        .args(["--num-ctx", "2048", "--out"])
        .arg(&out);
    let o = common::run(cmd).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("real-time priority for the stamping thread was refused"), "{err}");
    assert!(err.contains("CAP_SYS_NICE") && err.contains("--stamp-priority auto"), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "a request went out");
    assert!(!out.exists(), "nothing is written");
    srv.shutdown().await;
}
