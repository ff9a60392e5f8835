//! Progress display: the ONE consumer of core [`Event`]s in the CLI. On a TTY it draws one
//! line per agent (stage, tokens streamed, live tok/s) with indicatif; when stderr is not a
//! TTY it prints plain, undecorated lines for milestones only; `--quiet` prints warnings only.
//!
//! Usage from any command:
//! ```ignore
//! let (events, rx) = progress::channel();
//! let display = progress::spawn(rx, progress::Mode::detect(args.quiet));
//! // ... pass `events` (clone it freely) to core code ...
//! drop(events);              // every sender dropped → the display drains and ends
//! display.await.ok();
//! ```

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use chimera_core::events::{Event, Events, NoteLevel};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::task::JoinHandle;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Live per-agent lines (stderr is a terminal).
    Live,
    /// Plain milestone lines on stderr, no bars, no colour (stderr is not a terminal).
    Plain,
    /// Warnings only.
    Quiet,
}

impl Mode {
    /// `Quiet` when asked, else `Live` on a terminal and `Plain` otherwise.
    pub fn detect(quiet: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Live
        } else {
            Mode::Plain
        }
    }
}

/// A fresh event channel: the sender for core code, the receiver for [`spawn`].
pub fn channel() -> (Events, UnboundedReceiver<Event>) {
    let (tx, rx) = unbounded_channel();
    (Events::new(tx), rx)
}

/// Consume `rx` until every sender is dropped, showing it as `mode` says.
pub fn spawn(rx: UnboundedReceiver<Event>, mode: Mode) -> JoinHandle<()> {
    tokio::spawn(consume(rx, mode))
}

async fn consume(mut rx: UnboundedReceiver<Event>, mode: Mode) {
    let mut live = (mode == Mode::Live).then(Live::new);
    while let Some(ev) = rx.recv().await {
        match (&mut live, mode) {
            (Some(l), _) => l.show(&ev),
            (None, Mode::Plain) => {
                if let Some(line) = plain_line(&ev) {
                    eprintln!("{line}");
                }
            }
            _ => {
                if let Event::Note { level: NoteLevel::Warn, text } = &ev {
                    eprintln!("warning: {text}");
                }
            }
        }
    }
    if let Some(l) = live {
        l.finish();
    }
}

/// The undecorated line printed for `ev` when stderr is not a terminal (milestones only;
/// per-token events are skipped).
pub fn plain_line(ev: &Event) -> Option<String> {
    match ev {
        Event::StageStarted { .. } | Event::Tokens { .. } => None,
        Event::StageFinished { agent, stage, secs, ok } => Some(format!(
            "{agent}: {} {} in {secs:.2} s",
            stage.as_str(),
            if *ok { "done" } else { "FAILED" }
        )),
        Event::AgentFinished { agent, ok, secs } => {
            Some(format!("{agent}: {} in {secs:.2} s", if *ok { "finished" } else { "FAILED" }))
        }
        Event::Progress { job, done, total, label } => Some(format!("{job} [{done}/{total}] {label}")),
        Event::Note { level: NoteLevel::Info, text } => Some(text.clone()),
        Event::Note { level: NoteLevel::Warn, text } => Some(format!("warning: {text}")),
    }
}

/// Live terminal display: one spinner line per agent plus one line for the overall job.
struct Live {
    multi: MultiProgress,
    job: Option<ProgressBar>,
    agents: HashMap<String, ProgressBar>,
}

impl Live {
    fn new() -> Self {
        Live {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            job: None,
            agents: HashMap::new(),
        }
    }

    fn agent(&mut self, name: &str) -> &ProgressBar {
        let multi = &self.multi;
        self.agents.entry(name.to_string()).or_insert_with(|| {
            let pb = multi.add(ProgressBar::new_spinner());
            let style = ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            pb.set_style(style);
            pb.set_prefix(name.to_string());
            pb.enable_steady_tick(Duration::from_millis(120));
            pb
        })
    }

    fn show(&mut self, ev: &Event) {
        match ev {
            Event::StageStarted { agent, stage } => {
                let pb = self.agent(agent);
                pb.reset_elapsed();
                pb.set_message(format!("{} …", stage.as_str()));
            }
            Event::Tokens { agent, stage, tokens, tok_s } => {
                self.agent(agent).set_message(format!("{} {tokens} tok  {tok_s:.1} tok/s", stage.as_str()));
            }
            Event::StageFinished { agent, stage, secs, ok } => {
                let verdict = if *ok { "done" } else { "FAILED" };
                self.agent(agent).set_message(format!("{} {verdict} in {secs:.2} s", stage.as_str()));
            }
            Event::AgentFinished { agent, ok, secs } => {
                let pb = self.agent(agent).clone();
                pb.finish_with_message(format!("{} in {secs:.2} s", if *ok { "finished" } else { "FAILED" }));
                self.agents.remove(agent);
            }
            Event::Progress { job, done, total, label } => {
                let multi = &self.multi;
                let pb = self.job.get_or_insert_with(|| {
                    let pb = multi.insert(0, ProgressBar::new(*total));
                    let style =
                        ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {pos}/{len} {wide_msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar());
                    pb.set_style(style.progress_chars("=> "));
                    pb
                });
                pb.set_prefix(job.clone());
                pb.set_length(*total);
                pb.set_position(*done);
                pb.set_message(label.clone());
            }
            Event::Note { level, text } => {
                let line = match level {
                    NoteLevel::Info => text.clone(),
                    NoteLevel::Warn => format!("warning: {text}"),
                };
                let _ = self.multi.println(line);
            }
        }
    }

    fn finish(self) {
        for pb in self.agents.values() {
            pb.finish();
        }
        if let Some(pb) = self.job {
            pb.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chimera_core::events::Stage;

    #[test]
    fn plain_lines_skip_token_noise_and_say_failures() {
        let t = Event::Tokens { agent: "A".into(), stage: Stage::Report, tokens: 5, tok_s: 10.0 };
        assert_eq!(plain_line(&t), None);
        let f = Event::StageFinished { agent: "A".into(), stage: Stage::Analysis, secs: 1.5, ok: false };
        assert_eq!(plain_line(&f).as_deref(), Some("A: analysis FAILED in 1.50 s"));
        let w = Event::Note { level: NoteLevel::Warn, text: "slow".into() };
        assert_eq!(plain_line(&w).as_deref(), Some("warning: slow"));
        let p = Event::Progress { job: "multi".into(), done: 1, total: 2, label: "run 2".into() };
        assert_eq!(plain_line(&p).as_deref(), Some("multi [1/2] run 2"));
    }

    #[tokio::test]
    async fn consumer_ends_when_senders_drop() {
        let (events, rx) = channel();
        let h = spawn(rx, Mode::Quiet);
        events.emit(Event::Note { level: NoteLevel::Info, text: "x".into() });
        let clone = events.clone();
        drop(events);
        clone.emit(Event::AgentFinished { agent: "A".into(), ok: true, secs: 0.1 });
        drop(clone);
        h.await.expect("display task ends cleanly");
    }
}
