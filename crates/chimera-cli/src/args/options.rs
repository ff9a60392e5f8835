//! Generation-option flags, generated from core's option table (`chimera_core::options`): a
//! plain set (`--set NAME=VALUE`, and one flag per option: `--num-ctx 512`), the prefixed sets
//! of `multi` (`--chimera NAME=VALUE`, `--chimera2 NAME=VALUE`; `--chimera-num-ctx 512` still
//! works, unlisted), and the sweep's value lists (`--set NAME=V1,V2`, `--num-ctx 256,512`).
//! Values are typed and checked while parsing, so a bad one fails before any request with
//! clap's message naming the flag (exit 2).

use std::marker::PhantomData;

use chimera_core::options::{self, GenOptions, Kind, OPTIONS, OptionSpec, SetError, Wire};
use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches, Command, FromArgMatches};
use serde_json::Value;

/// How one set of option flags is spelled.
pub trait FlagSet {
    /// The generic flag (`set` → `--set NAME=VALUE`).
    const GENERIC: &'static str;
    /// Prefix of the one-flag-per-option spellings (`"chimera-"` → `--chimera-num-ctx`).
    const PREFIX: &'static str;
    /// Whether the one-flag-per-option spellings are listed in `--help`.
    const LIST_EACH: bool;
    const HEADING: &'static str;
    /// Help of the generic flag.
    const HELP: &'static str;
}

/// The plain set: `--set NAME=VALUE`, `--num-ctx 512`, …
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;
/// `--chimera NAME=VALUE`: the tuned agent(s) of a multi-agent scenario.
#[derive(Debug, Clone, Copy, Default)]
pub struct Chimera;
/// `--chimera2 NAME=VALUE`: agent B of `chimera_hetero`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Chimera2;

impl FlagSet for Plain {
    const GENERIC: &'static str = "set";
    const PREFIX: &'static str = "";
    const LIST_EACH: bool = true;
    const HEADING: &'static str = "Generation options (unset = server default)";
    const HELP: &'static str = "Set a generation option (repeatable), e.g. --set num_ctx=512; each option also has \
        its own flag (--num-ctx 512). Unset options are not sent: the server's defaults apply";
}

impl FlagSet for Chimera {
    const GENERIC: &'static str = "chimera";
    const PREFIX: &'static str = "chimera-";
    const LIST_EACH: bool = false;
    const HEADING: &'static str = "Chimera options (the tuned agent(s))";
    const HELP: &'static str = "An option of the tuned agent(s) (repeatable), e.g. --chimera num_ctx=512; on top of \
        the generation options above. Also written --chimera-NAME VALUE (--chimera-num-ctx 512)";
}

impl FlagSet for Chimera2 {
    const GENERIC: &'static str = "chimera2";
    const PREFIX: &'static str = "chimera2-";
    const LIST_EACH: bool = false;
    const HEADING: &'static str = "Second chimera options (agent B in chimera_hetero)";
    const HELP: &'static str = "An option of agent B in chimera_hetero (repeatable), e.g. --chimera2 num_ctx=1024. \
        Also written --chimera2-NAME VALUE (--chimera2-num-ctx 1024)";
}

/// `NAME=VALUE` (or `NAME=V1,V2`) as typed after a generic flag, checked.
#[derive(Debug, Clone)]
pub struct Assign {
    pub spec: &'static OptionSpec,
    pub values: Vec<Value>,
}

/// Why a value is refused, in the words clap prints after "invalid value … for '--flag'".
fn reason(e: SetError) -> String {
    match e {
        SetError::Invalid(e) => format!("{} {}", e.name, e.reason),
        other => other.to_string(),
    }
}

/// One typed value, checked by the option's type and rule.
fn checked(spec: &OptionSpec, text: &str) -> Result<Value, String> {
    let v = spec.parse_text(text)?;
    GenOptions::default().set(spec.name, &v).map_err(reason)?;
    Ok(v)
}

/// `text` as one value (`list = false`) or a comma-separated list of values.
fn values(spec: &OptionSpec, text: &str, list: bool) -> Result<Vec<Value>, String> {
    if !list {
        return Ok(vec![checked(spec, text)?]);
    }
    let vs = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| checked(spec, s))
        .collect::<Result<Vec<_>, _>>()?;
    if vs.is_empty() {
        return Err(format!("{}: give one or more values separated by commas", spec.name));
    }
    Ok(vs)
}

fn assignment(text: &str, list: bool) -> Result<Assign, String> {
    let example = if list { "num_ctx=256,512" } else { "num_ctx=512" };
    let (name, rest) = text.split_once('=').ok_or_else(|| {
        format!("write it as NAME={} (e.g. {example})", if list { "V1,V2" } else { "VALUE" })
    })?;
    let name = name.trim();
    let spec = options::spec(name).ok_or_else(|| SetError::Unknown(name.to_string()).to_string())?;
    Ok(Assign { spec, values: values(spec, rest, list)? })
}

/// The arg id of `spec`'s own flag in set `S`.
fn id<S: FlagSet>(spec: &OptionSpec) -> String {
    format!("{}{}", S::PREFIX, spec.name).replace('-', "_")
}

/// How `--backend openai` sends `spec` ("" when under its own name): Ollama receives every
/// option; an OpenAI-compatible request has no field for the load-time ones.
fn openai_help(spec: &OptionSpec) -> String {
    match spec.openai {
        Wire::Same => String::new(),
        Wire::As(name) => format!(" Sent by --backend openai as {name}."),
        Wire::PositiveAs(name) => format!(" Sent by --backend openai as {name}, only when positive."),
        Wire::NotSent => " Not sent by --backend openai (refused there: an OpenAI-compatible server \
            sets it when it starts)."
            .to_string(),
    }
}

/// The options of the table, one line each, for the generic flag's long help.
fn table_help() -> String {
    let mut s = String::from("\nOptions (NAME):");
    for o in OPTIONS {
        let load = if o.load_time { " [reloads the model]" } else { "" };
        let openai = if o.openai == Wire::NotSent { " [not sent by --backend openai]" } else { "" };
        s.push_str(&format!("\n  {:<15} {}{load}{openai}", o.name, o.help()));
    }
    s
}

/// Add set `S`'s flags to `cmd`: the generic one, then one per option.
fn augment<S: FlagSet>(cmd: Command, list: bool) -> Command {
    let (value_name, example) = if list { ("NAME=V1,V2", "V1,V2") } else { ("NAME=VALUE", "") };
    let mut cmd = cmd.arg(
        Arg::new(S::GENERIC)
            .long(S::GENERIC)
            .value_name(value_name)
            .action(ArgAction::Append)
            .value_parser(move |s: &str| assignment(s, list))
            .help(S::HELP)
            .long_help(format!("{}.\n{}", S::HELP, table_help()))
            .help_heading(S::HEADING),
    );
    for spec in OPTIONS {
        let load = if spec.load_time { " Changing it reloads the model." } else { "" };
        let arg = Arg::new(id::<S>(spec))
            .long(format!("{}{}", S::PREFIX, spec.flag()))
            .value_name(if list { example.to_string() } else { spec.kind.placeholder().to_string() })
            .action(if spec.kind == Kind::Texts && !list { ArgAction::Append } else { ArgAction::Set })
            .value_parser(move |s: &str| values(spec, s, list))
            .allow_negative_numbers(!list && spec.kind == Kind::Int)
            .allow_hyphen_values(list && spec.kind == Kind::Int)
            .help(format!("{}.{load}{}", spec.help().trim_end_matches('.'), openai_help(spec)))
            .help_heading(S::HEADING)
            .hide(!S::LIST_EACH);
        cmd = cmd.arg(arg);
    }
    cmd
}

/// What the user gave, flag by flag: per-option flags in table order, then the generic flag's
/// assignments in the order typed. An option given twice is an error, except a list option
/// when `merge_lists` (`--stop a --set stop=b` gives both stops).
fn given<S: FlagSet>(m: &ArgMatches, merge_lists: bool) -> Result<Vec<(String, Assign)>, clap::Error> {
    let mut out: Vec<(String, Assign)> = Vec::new();
    for spec in OPTIONS {
        if let Some(vs) = m.get_many::<Vec<Value>>(&id::<S>(spec)) {
            let values = vs.flatten().cloned().collect();
            out.push((format!("--{}{}", S::PREFIX, spec.flag()), Assign { spec, values }));
        }
    }
    for a in m.get_many::<Assign>(S::GENERIC).into_iter().flatten() {
        match out.iter_mut().find(|(_, b)| b.spec.name == a.spec.name) {
            Some((_, b)) if merge_lists && a.spec.kind == Kind::Texts => b.values.extend(a.values.clone()),
            _ => out.push((format!("--{} {}=…", S::GENERIC, a.spec.name), a.clone())),
        }
    }
    for (i, (flag, a)) in out.iter().enumerate() {
        if let Some((first, _)) = out[..i].iter().find(|(_, b)| b.spec.name == a.spec.name) {
            return Err(clap::Error::raw(
                ErrorKind::ArgumentConflict,
                format!("option {} is given twice ({first} and {flag}); give it once\n", a.spec.name),
            ));
        }
    }
    Ok(out)
}

/// One set of generation-option flags (`S` says how they are spelled), parsed into typed,
/// checked options.
#[derive(Debug, Clone, Default)]
pub struct OptionArgs<S> {
    pub options: GenOptions,
    set: PhantomData<S>,
}

/// `--chimera NAME=VALUE` / `--chimera-NAME VALUE`.
pub type ChimeraArgs = OptionArgs<Chimera>;
/// `--chimera2 NAME=VALUE` / `--chimera2-NAME VALUE`.
pub type Chimera2Args = OptionArgs<Chimera2>;

impl<S: FlagSet> OptionArgs<S> {
    /// The typed options (already checked while parsing).
    pub fn options(&self) -> GenOptions {
        self.options.clone()
    }
}

impl<S: FlagSet> FromArgMatches for OptionArgs<S> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut options = GenOptions::default();
        for (flag, a) in given::<S>(m, true)? {
            let v = if a.spec.kind == Kind::Texts { Value::from(a.values) } else { a.values[0].clone() };
            options.set(a.spec.name, &v).map_err(|e| {
                clap::Error::raw(ErrorKind::ValueValidation, format!("{flag}: {}\n", reason(e)))
            })?;
        }
        Ok(OptionArgs { options, set: PhantomData })
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl<S: FlagSet> clap::Args for OptionArgs<S> {
    fn augment_args(cmd: Command) -> Command {
        augment::<S>(cmd, false)
    }
    fn augment_args_for_update(cmd: Command) -> Command {
        augment::<S>(cmd, false)
    }
}

/// One option and its values in a sweep grid, with the flag that gave it (for messages).
#[derive(Debug, Clone)]
pub struct AxisArg {
    pub flag: String,
    pub name: &'static str,
    pub values: Vec<Value>,
}

/// The sweep's option flags: a comma-separated list per option (`--num-ctx 256,512`,
/// `--set NAME=V1,V2`); one value is fixed for every point, several span an axis.
#[derive(Debug, Clone, Default)]
pub struct GridArgs {
    /// Per-option flags in table order, then `--set` in the order typed.
    pub axes: Vec<AxisArg>,
}

/// The sweep's flag set: spelled like [`Plain`], with value lists.
struct Grid;

impl FlagSet for Grid {
    const GENERIC: &'static str = "set";
    const PREFIX: &'static str = "";
    const LIST_EACH: bool = true;
    const HEADING: &'static str = "Sweep grid (comma-separated values; one value = fixed for every point)";
    const HELP: &'static str = "Any option and its values, NAME=V1,V2 (repeatable), e.g. --set num_ctx=256,512: one \
        value is fixed for every point (the baseline too), several span an axis. Each option also has its own \
        flag (--num-ctx 256,512)";
}

impl FromArgMatches for GridArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let axes = given::<Grid>(m, false)?
            .into_iter()
            .map(|(flag, a)| AxisArg { flag, name: a.spec.name, values: a.values })
            .collect();
        Ok(GridArgs { axes })
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Args for GridArgs {
    fn augment_args(cmd: Command) -> Command {
        augment::<Grid>(cmd, true)
    }
    fn augment_args_for_update(cmd: Command) -> Command {
        augment::<Grid>(cmd, true)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use serde_json::json;

    use super::*;

    #[derive(Parser, Debug)]
    struct T {
        #[command(flatten)]
        plain: OptionArgs<Plain>,
        #[command(flatten)]
        a: ChimeraArgs,
        #[command(flatten)]
        b: Chimera2Args,
    }

    #[derive(Parser, Debug)]
    struct G {
        #[command(flatten)]
        grid: GridArgs,
    }

    fn parse(args: &[&str]) -> Result<T, clap::Error> {
        T::try_parse_from(std::iter::once("t").chain(args.iter().copied()))
    }

    #[test]
    fn every_option_has_a_flag_in_every_set() {
        let cmd = <T as clap::CommandFactory>::command();
        for s in OPTIONS {
            for long in [s.flag(), format!("chimera-{}", s.flag()), format!("chimera2-{}", s.flag())] {
                assert!(cmd.get_arguments().any(|a| a.get_long() == Some(&long)), "--{long} missing");
            }
        }
    }

    #[test]
    fn old_and_new_spellings_give_the_same_options() {
        let old = parse(&[
            "--num-predict",
            "16",
            "--chimera-num-gpu",
            "80",
            "--chimera-num-ctx",
            "512",
            "--chimera-temperature",
            "0.8",
            "--chimera2-num-ctx",
            "1024",
            "--chimera2-seed",
            "-1",
        ])
        .unwrap();
        let new = parse(&[
            "--set",
            "num_predict=16",
            "--chimera",
            "num_gpu=80",
            "--chimera",
            "num_ctx=512",
            "--chimera",
            "temperature=0.8",
            "--chimera2",
            "num_ctx=1024",
            "--chimera2",
            "seed=-1",
        ])
        .unwrap();
        for t in [&old, &new] {
            assert_eq!(t.plain.options, GenOptions { num_predict: Some(16), ..Default::default() });
            let a = &t.a.options;
            assert_eq!((a.num_gpu, a.num_ctx, a.temperature), (Some(80), Some(512), Some(0.8)));
            let b = &t.b.options;
            assert_eq!((b.num_ctx, b.seed, b.num_gpu), (Some(1024), Some(-1), None));
        }
    }

    #[test]
    fn bad_values_fail_while_parsing_and_name_the_flag() {
        for (args, needle) in [
            (&["--chimera2-top-p", "2"][..], "--chimera2-top-p"),
            (&["--top-p", "1.5"], "--top-p"),
            (&["--chimera", "top_p=1.5"], "top_p must be between 0 and 1"),
            (&["--num-ctx", "big"], "--num-ctx"),
            (&["--set", "num_ctxx=1"], "unknown option `num_ctxx`"),
            (&["--set", "num_ctx"], "NAME=VALUE"),
            (&["--num-ctx", "512", "--set", "num_ctx=1024"], "given twice (--num-ctx and --set num_ctx=…)"),
        ] {
            let e = parse(args).unwrap_err().to_string();
            assert!(e.contains(needle), "{args:?}: {e}");
        }
    }

    #[test]
    fn negative_numbers_and_repeated_stops() {
        let t = parse(&["--num-gpu", "-1", "--stop", "a", "--stop", "b", "--set", "stop=c"]).unwrap();
        assert_eq!(t.plain.options.num_gpu, Some(-1));
        assert_eq!(t.plain.options.stop, ["a", "b", "c"].map(String::from));
    }

    #[test]
    fn grid_lists_keep_flag_then_typed_order() {
        let g = G::try_parse_from([
            "g",
            "--set",
            "top_k=20,40",
            "--num-ctx",
            "256, 512",
            "--num-gpu",
            "-1,60",
            "--set",
            "stop=END",
        ])
        .unwrap()
        .grid;
        let got: Vec<(&str, &str, Vec<Value>)> =
            g.axes.iter().map(|a| (a.flag.as_str(), a.name, a.values.clone())).collect();
        assert_eq!(
            got,
            vec![
                ("--num-gpu", "num_gpu", vec![json!(-1), json!(60)]),
                ("--num-ctx", "num_ctx", vec![json!(256), json!(512)]),
                ("--set top_k=…", "top_k", vec![json!(20), json!(40)]),
                ("--set stop=…", "stop", vec![json!("END")]),
            ]
        );
        let e = G::try_parse_from(["g", "--top-p", "0.5,1.5"]).unwrap_err().to_string();
        assert!(e.contains("--top-p") && e.contains("between 0 and 1"), "{e}");
        let e = G::try_parse_from(["g", "--num-ctx", ","]).unwrap_err().to_string();
        assert!(e.contains("one or more values"), "{e}");
    }
}
