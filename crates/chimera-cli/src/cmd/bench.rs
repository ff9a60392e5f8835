//! `chimera bench` (not built yet: its issue is open).

/// Arguments of `chimera bench`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `chimera bench`.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`chimera bench` is not built yet")
}
