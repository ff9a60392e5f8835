//! `chimera agent` (not built yet: its issue is open).

/// Arguments of `chimera agent`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `chimera agent`.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`chimera agent` is not built yet")
}
