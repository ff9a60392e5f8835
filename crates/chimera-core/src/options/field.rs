//! What the option table is made of: [`OptionSpec`] (one row: name, help, kind, load-time,
//! wire names, typed accessors) and [`OptionField`], the typed storage of one option (an
//! `Option<number>` or a list of texts) with its JSON and text conversions.

use serde_json::Value;

use super::GenOptions;

/// The value type of an option, as users write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole number, possibly negative (`-1` often means "auto" or "unlimited").
    Int,
    /// A whole number from 0 to 4294967295.
    Count,
    /// A decimal number.
    Float,
    /// A list of texts (each flag or value adds one).
    Texts,
}

impl Kind {
    /// What a value of this kind looks like, for error messages.
    pub fn expected(self) -> &'static str {
        match self {
            Kind::Int => "a whole number",
            Kind::Count => "a whole number from 0 to 4294967295",
            Kind::Float => "a number",
            Kind::Texts => "a text",
        }
    }

    /// The placeholder shown in `--help` (`--num-ctx <N>`).
    pub fn placeholder(self) -> &'static str {
        match self {
            Kind::Int | Kind::Count => "N",
            Kind::Float => "X",
            Kind::Texts => "TEXT",
        }
    }

    /// True for the one-value kinds (a column of `points.csv`, an axis value).
    pub fn is_scalar(self) -> bool {
        self != Kind::Texts
    }
}

/// An API a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Ollama's `options` object (`/api/generate`, `/api/chat`).
    Ollama,
    /// The top-level fields of an OpenAI-compatible `/v1/chat/completions` body.
    Openai,
}

/// How an option travels in a request body of one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Under the option's own name.
    Same,
    /// Under another name.
    As(&'static str),
    /// Under another name, and only when the value is a positive number (OpenAI's
    /// `max_tokens` has no "unlimited" value: -1 / -2 are left to the server).
    PositiveAs(&'static str),
    /// Not sent (the API has no per-request equivalent, e.g. load-time options over OpenAI).
    NotSent,
}

/// One row of the option table ([`super::OPTIONS`]).
pub struct OptionSpec {
    /// Ollama's option name (`num_ctx`), also the serde name, the TOML key and the `--set` name.
    pub name: &'static str,
    /// One line of help (the field's doc comment).
    pub doc: &'static str,
    pub kind: Kind,
    /// Changing it reloads the model (Ollama semantics): warm-ups are repeated when it changes.
    pub load_time: bool,
    pub ollama: Wire,
    pub openai: Wire,
    /// Shown as `{label}=default` in the seed report's configuration line even when unset;
    /// `None` = shown only when set.
    pub seed_label: Option<&'static str>,
    /// The value in `o`, as JSON (None when unset).
    pub(super) get: fn(&GenOptions) -> Option<Value>,
    /// The value in `o`, as written in reports and `points.csv` (None when unset).
    pub(super) show: fn(&GenOptions) -> Option<String>,
    /// Set the value in `o` from JSON (type-checked, not range-checked).
    pub(super) set: fn(&mut GenOptions, &Value) -> Result<(), &'static str>,
    /// Copy the value of `from` into `o` when it is set in `from`.
    pub(super) take: fn(&mut GenOptions, &GenOptions),
    /// The first value of `o` that breaks the option's rule, and the rule.
    pub(super) check: fn(&GenOptions) -> Option<(String, &'static str)>,
}

impl std::fmt::Debug for OptionSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OptionSpec").field("name", &self.name).field("kind", &self.kind).finish()
    }
}

impl OptionSpec {
    /// The help line.
    pub fn help(&self) -> &'static str {
        self.doc.trim()
    }

    /// The flag spelling of the name: `num_ctx` → `num-ctx`.
    pub fn flag(&self) -> String {
        self.name.replace('_', "-")
    }

    /// How the option travels over `api`.
    pub fn wire(&self, api: Api) -> Wire {
        match api {
            Api::Ollama => self.ollama,
            Api::Openai => self.openai,
        }
    }

    /// The value in `o`, as JSON (None when unset).
    pub fn get(&self, o: &GenOptions) -> Option<Value> {
        (self.get)(o)
    }

    /// The value in `o` as reports and `points.csv` write it (None when unset).
    pub fn show(&self, o: &GenOptions) -> Option<String> {
        (self.show)(o)
    }

    /// One value typed on a command line, as JSON: a number for the numeric kinds (an error
    /// says what was expected), the text itself for [`Kind::Texts`].
    pub fn parse_text(&self, s: &str) -> Result<Value, String> {
        let s = s.trim();
        let bad = || format!("{}: `{s}` is not {}", self.name, self.kind.expected());
        match self.kind {
            Kind::Texts => Ok(Value::from(s)),
            Kind::Int | Kind::Count => s.parse::<i64>().map(Value::from).map_err(|_| bad()),
            Kind::Float => match s.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Value::from(f)),
                _ => Err(bad()),
            },
        }
    }
}

/// The storage of one option in [`GenOptions`]: `Option<i64>`, `Option<u32>`, `Option<f64>` or
/// `Vec<String>`. Unset (`None`, empty) is never sent.
pub trait OptionField: Clone {
    /// One value (for range rules).
    type Item: std::fmt::Display;
    const KIND: Kind;
    fn is_set(&self) -> bool;
    fn to_json(&self) -> Option<Value>;
    /// Display form (`0.8`, `1`, `["END"]`), None when unset.
    fn show(&self) -> Option<String>;
    /// From JSON. Lenient the way Ollama is: a whole float (`42.0`) for a whole-number option,
    /// a single text for a list.
    fn from_json(v: &Value) -> Result<Self, &'static str>;
    /// The first value that `ok` rejects, displayed.
    fn find_invalid(&self, ok: impl Fn(&Self::Item) -> bool) -> Option<String>;
}

/// `skip_serializing_if` of every field: unset options are not serialised.
pub(super) fn is_unset<T: OptionField>(v: &T) -> bool {
    !v.is_set()
}

/// A one-value option type.
pub trait Scalar: Copy + std::fmt::Display + serde::Serialize {
    const KIND: Kind;
    fn from_json(v: &Value) -> Option<Self>;
}

/// A JSON number that is a whole number (`42` or `42.0`).
fn whole(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64))
}

impl Scalar for i64 {
    const KIND: Kind = Kind::Int;
    fn from_json(v: &Value) -> Option<Self> {
        whole(v)
    }
}

impl Scalar for u32 {
    const KIND: Kind = Kind::Count;
    fn from_json(v: &Value) -> Option<Self> {
        whole(v).and_then(|n| u32::try_from(n).ok())
    }
}

impl Scalar for f64 {
    const KIND: Kind = Kind::Float;
    fn from_json(v: &Value) -> Option<Self> {
        v.as_f64()
    }
}

impl<T: Scalar> OptionField for Option<T> {
    type Item = T;
    const KIND: Kind = T::KIND;
    fn is_set(&self) -> bool {
        self.is_some()
    }
    fn to_json(&self) -> Option<Value> {
        self.map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
    }
    fn show(&self) -> Option<String> {
        self.map(|v| v.to_string())
    }
    fn from_json(v: &Value) -> Result<Self, &'static str> {
        T::from_json(v).map(Some).ok_or(T::KIND.expected())
    }
    fn find_invalid(&self, ok: impl Fn(&T) -> bool) -> Option<String> {
        self.as_ref().filter(|v| !ok(v)).map(ToString::to_string)
    }
}

impl OptionField for Vec<String> {
    type Item = String;
    const KIND: Kind = Kind::Texts;
    fn is_set(&self) -> bool {
        !self.is_empty()
    }
    fn to_json(&self) -> Option<Value> {
        self.is_set().then(|| Value::from(self.clone()))
    }
    fn show(&self) -> Option<String> {
        self.is_set().then(|| format!("{self:?}"))
    }
    fn from_json(v: &Value) -> Result<Self, &'static str> {
        const EXPECTED: &str = "a text or a list of texts";
        match v {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(items) => {
                items.iter().map(|i| i.as_str().map(str::to_string).ok_or(EXPECTED)).collect()
            }
            _ => Err(EXPECTED),
        }
    }
    fn find_invalid(&self, ok: impl Fn(&String) -> bool) -> Option<String> {
        self.iter().find(|v| !ok(v)).cloned()
    }
}
