//! `chimera sweep` (not built yet: its issue is open).

/// Arguments of `chimera sweep`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `chimera sweep`.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`chimera sweep` is not built yet")
}
