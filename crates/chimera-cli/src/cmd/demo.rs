//! `chimera demo` (not built yet: its issue is open).

/// Arguments of `chimera demo`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `chimera demo`.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`chimera demo` is not built yet")
}
