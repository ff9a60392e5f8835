//! `chimera completions SHELL` and `chimera man` through the real binary: the bash script is
//! loaded into a real bash and asked to complete, and the man pages carry every command and the
//! option flags generated from the option table.

use std::process::{Command, Output};

fn chimera(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chimera")).args(args).output().expect("chimera runs")
}

fn stdout(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// What bash's completion function offers after `line` (the last word is being completed).
fn bash_complete(script: &str, line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split(' ').collect();
    let quoted = words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" ");
    let program = format!(
        "{script}\nCOMP_WORDS=({quoted}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n\
         _chimera chimera '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        words.len() - 1,
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let o = Command::new("bash").args(["--norc", "-c", &program]).output().expect("bash runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn bash_completes_commands_and_the_generated_option_flags() {
    let script = stdout(&chimera(&["completions", "bash"]));
    let commands = bash_complete(&script, "chimera s");
    for c in ["sweep", "serve"] {
        assert!(commands.contains(&c.to_string()), "{commands:?}");
    }
    let sweep = bash_complete(&script, "chimera sweep --s");
    for f in ["--set", "--seed", "--stop", "--scenario", "--shuffle"] {
        assert!(sweep.contains(&f.to_string()), "{f} missing from {sweep:?}");
    }
    let multi = bash_complete(&script, "chimera multi --chim");
    assert!(
        multi.contains(&"--chimera".to_string()) && multi.contains(&"--chimera2".to_string()),
        "{multi:?}"
    );
}

#[test]
fn every_shell_gets_a_script() {
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let s = stdout(&chimera(&["completions", shell]));
        assert!(s.contains("chimera") && s.contains("num-ctx"), "{shell}: {s}");
    }
    let o = chimera(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2), "an unknown shell is a usage error");
}

#[test]
fn man_pages_cover_every_command() {
    let page = stdout(&chimera(&["man"]));
    assert!(page.contains(".TH chimera 1"), "{page}");
    for c in ["inventory", "agent", "bench", "multi", "sweep", "compare", "serve", "demo", "completions"] {
        assert!(page.contains(&format!("chimera\\-{c}(1)")), "{c} missing from the page's index");
    }
    let dir = tempfile::tempdir().unwrap();
    let o = chimera(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert!(stdout(&o).contains("man pages:"));
    let sweep = std::fs::read_to_string(dir.path().join("chimera-sweep.1")).unwrap();
    assert!(sweep.contains(".TH chimera-sweep 1"), "{sweep}");
    for flag in ["\\-\\-set", "\\-\\-num\\-ctx", "\\-\\-resume"] {
        assert!(sweep.contains(flag), "{flag} missing from chimera-sweep.1");
    }
    let multi = std::fs::read_to_string(dir.path().join("chimera-multi.1")).unwrap();
    assert!(multi.contains("\\-\\-chimera2") && multi.contains("\\-\\-agents\\-file"), "{multi}");
}
