//! `chimera compare` (not built yet: its issue is open).

/// Arguments of `chimera compare`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `chimera compare`.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`chimera compare` is not built yet")
}
