//! What a long command runs inside: the progress display (the one consumer of core events)
//! and the ONE Ctrl-C path. The first Ctrl-C says so and cancels the session's token, so the
//! core job stops at its next safe point and keeps what finished (the command then exits
//! 130); a second Ctrl-C quits at once with 130.
//!
//! ```ignore
//! let s = Session::start(quiet);
//! let outcome = core_entry_point(..., s.events.clone(), s.cancel.clone()).await;
//! let interrupted = s.finish().await;   // display drained, watcher stopped
//! ```

use chimera_core::events::{CancellationToken, Event, Events, NoteLevel};
use tokio::task::JoinHandle;

use crate::exit::Exit;
use crate::progress;

/// The message of the first Ctrl-C.
pub const INTERRUPT_NOTE: &str =
    "interrupted: stopping and keeping what finished (Ctrl-C again to quit at once)";

/// A running progress display and Ctrl-C watcher.
pub struct Session {
    /// Where core code sends its events (clone freely; every clone must be dropped or passed
    /// back through [`Session::finish`]).
    pub events: Events,
    /// Cancelled by Ctrl-C.
    pub cancel: CancellationToken,
    display: JoinHandle<()>,
    watcher: JoinHandle<()>,
}

impl Session {
    /// Start the display (quiet, live on a terminal, plain otherwise) and the Ctrl-C watcher.
    pub fn start(quiet: bool) -> Session {
        let (events, rx) = progress::channel();
        let display = progress::spawn(rx, progress::Mode::detect(quiet));
        let cancel = CancellationToken::new();
        let watcher = tokio::spawn(watch(cancel.clone(), events.clone()));
        Session { events, cancel, display, watcher }
    }

    /// A note for the user, through the display.
    pub fn note(&self, text: impl Into<String>) {
        self.events.emit(Event::Note { level: NoteLevel::Info, text: text.into() });
    }

    /// Run `work` inside a fresh session, ended (display drained) before this returns.
    pub async fn run<T>(quiet: bool, work: impl AsyncFnOnce(&Session) -> T) -> T {
        let s = Session::start(quiet);
        let out = work(&s).await;
        s.finish().await;
        out
    }

    /// Stop watching Ctrl-C, let the display drain and end; true when Ctrl-C was pressed.
    pub async fn finish(self) -> bool {
        self.watcher.abort();
        let _ = self.watcher.await;
        drop(self.events);
        let _ = self.display.await;
        self.cancel.is_cancelled()
    }
}

async fn watch(cancel: CancellationToken, events: Events) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    events.emit(Event::Note { level: NoteLevel::Warn, text: INTERRUPT_NOTE.into() });
    cancel.cancel();
    drop(events);
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(Exit::Interrupted.code());
    }
}
