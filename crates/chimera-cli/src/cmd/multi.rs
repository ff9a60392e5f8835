//! `chimera multi` (not built yet: its issue is open).

/// Arguments of `chimera multi`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `chimera multi`.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`chimera multi` is not built yet")
}
