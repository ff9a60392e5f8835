//! `chimera inventory` (not built yet: its issue is open).

/// Arguments of `chimera inventory`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `chimera inventory`.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`chimera inventory` is not built yet")
}
