//! `chimera`: parse the command line, run the chosen command, map the outcome to an exit code.
//!
//! Exit codes (a documented contract): 0 ok, 1 a gate failed or some agent/run failed,
//! 2 error (bad input, nothing could run), 130 interrupted.

mod alloc;
mod args;
mod cmd;
mod exit;
mod progress;
mod select;
mod session;

use chimera_core::stamp_thread::{self, StampPriority};
use clap::{CommandFactory, Parser, Subcommand};

use crate::exit::Exit;

/// mimalloc instead of the system allocator, returning freed memory at once: why, with the
/// figures, in `alloc.rs`. llama.cpp's own C++ allocations are not affected.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "chimera",
    version,
    about = "Benchmark LLM agent workflows on local inference servers and write data-grounded reports."
)]
struct Cli {
    /// Scheduling of the one thread that reads and timestamps streams (agent, bench, multi,
    /// sweep, capacity, demo): auto = real-time (SCHED_FIFO 1) when the OS allows it, else normal;
    /// realtime = exit 2 if refused; normal = never raised. Recorded in manifest.json
    /// (host.stamp_thread).
    #[arg(long, global = true, value_enum, default_value_t = StampArg::Auto)]
    stamp_priority: StampArg,
    #[command(subcommand)]
    command: Command,
}

/// `--stamp-priority` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum StampArg {
    Auto,
    Realtime,
    Normal,
}

impl From<StampArg> for StampPriority {
    fn from(a: StampArg) -> Self {
        match a {
            StampArg::Auto => StampPriority::Auto,
            StampArg::Realtime => StampPriority::Realtime,
            StampArg::Normal => StampPriority::Normal,
        }
    }
}

// Parsed once per process: boxing the large flag sets would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Ingest a folder of benchmark artifacts and extract facts (no LLM).
    Inventory(cmd::inventory::Args),
    /// Run one agent workflow and write its report.
    Agent(cmd::agent::Args),
    /// Baseline (server defaults) vs chimera (option overrides) over N runs.
    Bench(cmd::bench::Args),
    /// Run N agents at once and measure true concurrency speedup.
    Multi(cmd::multi::Args),
    /// How many agent sessions a server carries within an SLO (capacity search).
    Capacity(cmd::capacity::Args),
    /// Sweep a grid of options and find the best configuration.
    Sweep(cmd::sweep::Args),
    /// Compare two outputs and fail when a threshold is crossed.
    Compare(cmd::compare::Args),
    /// Serve the embedded engine behind an Ollama-compatible HTTP API.
    Serve(cmd::serve::Args),
    /// The main job on a fresh machine: a small real sweep, then agents analyse it.
    Demo(cmd::demo::Args),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions(cmd::docs::CompletionsArgs),
    /// Print the man page (roff), or write one per command with --dir.
    Man(cmd::docs::ManArgs),
}

fn main() {
    alloc::configure();
    let cli = Cli::parse();
    // One async thread: the work here is I/O (streams, files written per run); everything
    // CPU-heavy (llama.cpp, parsing the corpus) runs on blocking threads. Measured in
    // BENCHMARKS.md: streaming costs 1.4 µs of client CPU per token on this runtime against
    // 8 µs on the multi-thread one, whose wake-ups hop between worker threads.
    //
    // That thread (this one: `block_on` runs the runtime here) stamps every token, so commands
    // that stream raise it above the CPU-heavy threads (`chimera_core::stamp_thread`). `serve`
    // does not: its async thread answers requests, and nothing there is a client's measurement.
    let streams = matches!(
        cli.command,
        Command::Agent(_)
            | Command::Bench(_)
            | Command::Multi(_)
            | Command::Sweep(_)
            | Command::Capacity(_)
            | Command::Demo(_)
    );
    if streams && let Err(e) = stamp_thread::apply(cli.stamp_priority.into()) {
        eprintln!("error: {e}");
        std::process::exit(Exit::Error.code());
    }
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(Exit::Error.code());
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Inventory(a) => cmd::inventory::run(a).await,
            Command::Agent(a) => cmd::agent::run(a).await,
            Command::Bench(a) => cmd::bench::run(a).await,
            Command::Multi(a) => cmd::multi::run(a).await,
            Command::Sweep(a) => cmd::sweep::run(a).await,
            Command::Capacity(a) => cmd::capacity::run(a).await,
            Command::Compare(a) => cmd::compare::run(a).await,
            Command::Serve(a) => cmd::serve::run(a).await,
            Command::Demo(a) => cmd::demo::run(a).await,
            Command::Completions(a) => cmd::docs::completions(a, Cli::command()),
            Command::Man(a) => cmd::docs::man(a, Cli::command()),
        }
    });
    let exit = match result {
        Ok(exit) => exit,
        Err(e) => {
            // Secrets (API keys, URL passwords) are redacted from everything printed.
            eprintln!("error: {}", chimera_core::secret::redact(&format!("{e:#}")));
            Exit::Error
        }
    };
    std::process::exit(exit.code());
}
