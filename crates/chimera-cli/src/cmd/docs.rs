//! `chimera completions SHELL` and `chimera man`: shell completions and man pages generated
//! from the same clap definitions the parser uses (`clap_complete`, `clap_mangen`), so they
//! always list the flags this binary takes.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::exit::Exit;

/// Arguments of `chimera completions`.
#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for; e.g. `chimera completions bash > ~/.local/share/bash-completion/completions/chimera`.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `chimera man`.
#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Write one page per command (chimera.1, chimera-sweep.1, …) into DIR instead of printing
    /// chimera.1 on stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Print the completion script of `cmd` for the chosen shell.
pub fn completions(args: CompletionsArgs, mut cmd: clap::Command) -> anyhow::Result<Exit> {
    let name = cmd.get_name().to_string();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, name, &mut out);
    out.flush()?;
    Ok(Exit::Ok)
}

/// Print the man page of `cmd` (roff), or write every command's page into `--dir`.
pub fn man(args: ManArgs, cmd: clap::Command) -> anyhow::Result<Exit> {
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating --dir {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
            println!("man pages: {}", dir.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            let written = clap_mangen::Man::new(cmd).render(&mut out).and_then(|()| out.flush());
            match written {
                // `chimera man | head`: the reader left; nothing is wrong.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other?,
            }
        }
    }
    Ok(Exit::Ok)
}
