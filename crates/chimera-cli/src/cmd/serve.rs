//! `chimera serve` (not built yet: its issue is open).

/// Arguments of `chimera serve`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `chimera serve`.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`chimera serve` is not built yet")
}
