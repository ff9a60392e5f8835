//! Nothing lost to the output folder, through the real binary against scripted loopback Ollama
//! servers: agent labels that share a report folder are refused; a `--out` that already holds
//! results is refused unless `--force` replaces it; a `--out` that cannot be written (a file, a
//! read-only mount, a full disk) fails before any request; and a write that fails later is an
//! error naming the file. Read-only and full file systems are real tmpfs mounts made inside a
//! private mount namespace (`unshare`), so nothing is mounted on the machine.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use chimera_testkit::{FakeOllama, LatencyProfile, ScriptedServer};
use common::{CORPUS, chimera, json_file, run, text};

/// A fast fake Ollama (a few ms per call).
async fn server() -> ScriptedServer {
    FakeOllama::new(LatencyProfile::new(Duration::from_millis(3), Duration::from_millis(1), 4)).start().await
}

/// Generation requests the server received.
fn generated(srv: &ScriptedServer) -> usize {
    srv.requests().iter().filter(|r| r.path == "/api/generate" || r.path == "/api/chat").count()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `chimera COMMAND CORPUS --backend ollama --url URL --quiet EXTRA… --out OUT` (`command` is
/// the binary to start: `chimera()` or [`on_tmpfs`]).
fn against(mut command: Command, srv: &ScriptedServer, args: &[&str], out: &Path) -> Command {
    command
        .args([args[0], CORPUS, "--backend", "ollama", "--url", &srv.url(), "--quiet"])
        .args(&args[1..])
        .arg("--out")
        .arg(out);
    command
}

/// `chimera` started inside a private mount namespace in which `mnt` is a fresh tmpfs mounted
/// with `opts`, after the shell line `setup` ran in it: the file system is really read-only or
/// full, and the mount ends with the process.
fn on_tmpfs(mnt: &Path, opts: &str, setup: &str) -> Command {
    std::fs::create_dir_all(mnt).unwrap();
    let uid = Command::new("id").arg("-u").output().expect("id -u");
    let mut c = Command::new("unshare");
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        c.arg("--map-root-user");
    }
    c.args(["--mount", "sh", "-ec"])
        .arg(r#"mount -t tmpfs -o "$1" chimera-test "$2"; (cd "$2" && eval "$3"); shift 3; exec "$@""#)
        .args(["sh", opts])
        .arg(mnt)
        .arg(setup)
        .arg(env!("CARGO_BIN_EXE_chimera"));
    c
}

/// Make sure `unshare --mount` works here, with a clear message when it does not.
fn need_mount_namespaces() {
    let d = tempfile::tempdir().unwrap();
    let mut c = on_tmpfs(&d.path().join("m"), "size=4k", "true");
    let o = c.arg("--version").output().expect("unshare (util-linux) is installed");
    assert!(o.status.success(), "these tests need `unshare --mount` and tmpfs mounts: {}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_that_share_a_report_folder_are_refused_before_any_request() {
    let srv = server().await;
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("agents.toml");
    let agent = |label: &str| {
        format!("[[agents]]\nlabel = \"{label}\"\nbackend = \"ollama\"\nurl = \"{}\"\n", srv.url())
    };
    std::fs::write(&file, format!("{}\n{}", agent("Agent A"), agent("Agent-A"))).unwrap();
    let out = d.path().join("out");
    let mut cmd = chimera();
    cmd.args(["multi", CORPUS, "--no-solo", "--quiet", "--agents-file"]).arg(&file).arg("--out").arg(&out);
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = stderr(&o);
    assert!(
        err.contains("'Agent A' and 'Agent-A' would write their reports to the same folder `agent-a`"),
        "{err}"
    );
    assert_eq!(generated(&srv), 0, "nothing ran");
    assert!(!out.exists());
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_that_holds_results_is_refused_unless_force_replaces_it() {
    let srv = server().await;
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("multi");
    let multi = |runs: &'static str, extra: &'static [&'static str]| {
        let mut c = against(chimera(), &srv, &["multi", "--url2", &srv.url(), "--runs", runs], &out);
        c.args(["--no-solo", "--no-warmup"]).args(extra);
        c
    };
    let o = run(multi("3", &[])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(out.join("run_3/metrics.json").is_file());

    // The second command with the same --out: refused before any request, the old runs intact.
    let before = generated(&srv);
    let o = run(multi("1", &[])).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = stderr(&o);
    assert!(
        err.contains("already holds Chimera results") && err.contains("pass --force to replace them"),
        "{err}"
    );
    assert_eq!(generated(&srv), before, "nothing ran");
    assert_eq!(json_file(&out.join("summary.json"))["runs_planned"], 3);
    assert!(out.join("run_3").is_dir());

    // --force replaces the folder: one run, no leftover runs 2 and 3 for report.html to link.
    let o = run(multi("1", &["--force"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(out.join("run_1/metrics.json").is_file());
    assert!(!out.join("run_2").exists() && !out.join("run_3").exists());
    assert_eq!(json_file(&out.join("summary.json"))["runs_planned"], 1);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("run_1") && !html.contains("run_2") && !html.contains("run_3"));

    // agent and bench: the same rule.
    for args in [&["agent"][..], &["bench", "--runs", "1"][..]] {
        let o_dir = d.path().join(args[0]);
        let o = run(against(chimera(), &srv, args, &o_dir)).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let before = generated(&srv);
        let o = run(against(chimera(), &srv, args, &o_dir)).await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(stderr(&o).contains("already holds Chimera results"), "{}", text(&o));
        assert_eq!(generated(&srv), before, "{}: nothing ran", args[0]);
        let mut again = against(chimera(), &srv, args, &o_dir);
        again.arg("--force");
        let o = run(again).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }

    // sweep: --resume continues, --force starts again, neither: refused.
    let sweep_dir = d.path().join("sweep");
    let sweep = |extra: &'static [&'static str]| {
        let mut c = chimera();
        c.args(["sweep", "--backend", "ollama", "--url", &srv.url(), "--quiet", "--runs", "1"])
            .args(["--num-ctx", "256,512", "--num-predict", "4", "--out"])
            .arg(&sweep_dir)
            .args(extra);
        c
    };
    assert_eq!(run(sweep(&[])).await.status.code(), Some(0));
    let o = run(sweep(&[])).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(stderr(&o).contains("(or --resume to continue them)"), "{}", text(&o));
    assert_eq!(run(sweep(&["--resume"])).await.status.code(), Some(0));
    assert_eq!(run(sweep(&["--force"])).await.status.code(), Some(0));

    // demo: an earlier output folder is refused before the model is even looked for.
    let o = run({
        let mut c = chimera();
        c.args(["demo", "--quick", "--out"]).arg(&out);
        c
    })
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(stderr(&o).contains("already holds Chimera results"), "{}", text(&o));

    // A folder of someone else's files is never used, and --force does not remove it.
    let foreign = d.path().join("thesis");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("chapter1.tex"), "keep me").unwrap();
    let mut c = against(chimera(), &srv, &["agent"], &foreign);
    c.arg("--force");
    let o = run(c).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(stderr(&o).contains("is not a Chimera output folder"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(foreign.join("chapter1.tex")).unwrap(), "keep me");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_that_cannot_be_written_fails_before_any_request() {
    need_mount_namespaces();
    let srv = server().await;
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    for args in [&["agent"][..], &["bench", "--runs", "1"][..], &["multi", "--runs", "1"][..]] {
        for out in [file.clone(), file.join("sub")] {
            let o = run(against(chimera(), &srv, args, &out)).await;
            assert_eq!(o.status.code(), Some(2), "{}", text(&o));
            assert!(
                stderr(&o).contains(&format!("{} is a file, not a folder", file.display())),
                "{}",
                text(&o)
            );
        }
    }
    // A read-only mount, and a full disk (the probe file does not fit).
    for (opts, setup, error) in [
        ("ro", "true", "Read-only file system"),
        ("size=4k", "head -c 4096 /dev/zero > fill", "No space left on device"),
    ] {
        for args in [&["agent"][..], &["bench", "--runs", "1"][..]] {
            let mnt = d.path().join(format!("mnt-{}", args[0]));
            let o = run(against(on_tmpfs(&mnt, opts, setup), &srv, args, &mnt.join("out"))).await;
            assert_eq!(o.status.code(), Some(2), "{opts} {args:?}: {}", text(&o));
            let err = stderr(&o);
            assert!(err.contains("is not writable: cannot create a file in") && err.contains(error), "{err}");
        }
    }
    assert_eq!(generated(&srv), 0, "no request was sent");
    assert!(srv.requests().is_empty(), "the folder is checked before the server is even asked");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_fails_later_is_an_error_naming_the_file() {
    need_mount_namespaces();
    let srv = server().await;
    let d = tempfile::tempdir().unwrap();
    // 8 KiB: the probe file fits, the first report does not.
    let mnt = d.path().join("small");
    let o =
        run(against(on_tmpfs(&mnt, "size=8k", "true"), &srv, &["bench", "--runs", "2"], &mnt.join("out")))
            .await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = stderr(&o);
    let want = format!("error: cannot write {}/", mnt.join("out").display());
    assert!(err.contains(&want) && err.contains("No space left on device"), "{err}");
    assert!(err.contains("the bench stopped after 1 of 4 agent runs"), "{err}");
    assert!(!err.contains("warning: cannot write"), "{err}");
    assert_eq!(generated(&srv), 3, "warm-up and the first agent run's two calls, then it stopped");

    let o = run(against(on_tmpfs(&mnt, "size=8k", "true"), &srv, &["agent"], &mnt.join("out"))).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let want = format!("cannot write {}: No space left on device", mnt.join("out/report.md").display());
    assert!(stdout.contains("FAILED at write") && stdout.contains(&want), "{}", text(&o));
    srv.shutdown().await;
}
