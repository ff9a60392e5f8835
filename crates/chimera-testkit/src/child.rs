//! A scripted server in a CHILD process, for benchmarks: the server's CPU and timer work never
//! counts as the client's. The benchmark re-executes itself with its own arguments; the child
//! prints its server's URL on the first line of stdout and serves until stdin closes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::ScriptedServer;

/// The child process and its server's URL. Dropping it closes the child's stdin and waits.
pub struct ChildServer {
    child: Child,
    url: String,
}

impl ChildServer {
    /// Re-execute the current binary with `args` (it must call [`serve_until_stdin_closes`]).
    pub fn spawn(args: &[&str]) -> ChildServer {
        let exe = std::env::current_exe().expect("path of this binary");
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server child process");
        let mut url = String::new();
        BufReader::new(child.stdout.take().expect("child stdout")).read_line(&mut url).expect("server URL");
        ChildServer { child, url: url.trim().to_string() }
    }

    /// The child's server URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// In the child: print `srv`'s URL for the parent, then serve until the parent closes stdin.
pub async fn serve_until_stdin_closes(srv: &ScriptedServer) {
    println!("{}", srv.url());
    let _ = tokio::task::spawn_blocking(|| {
        let mut s = String::new();
        while std::io::stdin().read_line(&mut s).map(|n| n > 0).unwrap_or(false) {}
    })
    .await;
}
