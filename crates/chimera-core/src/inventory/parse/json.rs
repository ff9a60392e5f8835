//! JSON and JSON Lines: facts are extracted while serde_json parses, by a serde visitor (no
//! value tree is built). A number becomes a fact when its key (or its array's key) names a
//! measurement; the configuration keys of its enclosing objects — wherever they sit in the
//! object, and those of an `options`-like child object — form its group, resolved once the
//! document is parsed. serde_json's recursion limit of 128 levels bounds the descent, so deep
//! nesting can never overflow the thread stack; an iterative byte scan finds the exact depth of
//! a document that hits it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{Groups, Parsed};
use crate::facts::{RawLoc, json_key_path, names};
use crate::inventory::{JsonStats, Severity};

/// A `.json` file: one document.
pub(super) fn parse(p: &mut Parsed, text: &str, max_depth: usize) {
    match Walker::default().scan(p, text, "$", max_depth) {
        Ok((numbers, max_depth)) => {
            p.entry.json = Some(JsonStats { max_depth, numbers, ..Default::default() })
        }
        Err(reason) => p.fail(Severity::Failed, reason),
    }
}

/// A `.jsonl` / `.ndjson` file: one document per non-blank line; bad lines are counted.
pub(super) fn parse_lines(p: &mut Parsed, text: &str, max_depth: usize) {
    let mut st = JsonStats::default();
    let mut first_bad = None;
    let mut w = Walker::default();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        st.lines += 1;
        match w.scan(p, line, &format!("line {}: $", i + 1), max_depth) {
            Ok((numbers, d)) => {
                st.max_depth = st.max_depth.max(d);
                st.numbers += numbers;
            }
            Err(reason) => {
                st.bad_lines += 1;
                first_bad.get_or_insert(format!("line {}: {reason}", i + 1));
            }
        }
    }
    if let Some(first) = first_bad {
        if st.bad_lines == st.lines {
            p.fail(Severity::Failed, format!("no JSON line parsed; {first}"));
        } else {
            p.warn(format!("{} of {} JSON lines failed; first: {first}", st.bad_lines, st.lines));
        }
    }
    p.entry.json = Some(st);
}

/// Deepest `[`/`{` nesting of a JSON text, by an iterative scan that skips strings.
fn json_depth(text: &str) -> usize {
    let (mut depth, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Keys whose object value holds the configuration of its siblings.
const CONFIG_OBJECTS: [&str; 7] =
    ["options", "config", "configuration", "params", "parameters", "settings", "hyperparameters"];

/// What a key of the file means: a measurement (registered as a metric once a number carries
/// it) and/or a configuration key.
struct Key {
    name: String,
    class: Option<Arc<names::Classified>>,
    metric: Option<u32>,
    group: Option<&'static str>,
}

/// The facts walk of one file's documents (keys are classified once per file), and the parse
/// state of the current document.
#[derive(Default)]
struct Walker {
    keys: Vec<Key>,
    key_ids: FxHashMap<String, u32>,
    groups: Groups,
    frames: Vec<Frame>,
    /// Frame of each fact pushed since the document began (its group is known at the end).
    fact_frames: Vec<u32>,
    numbers: usize,
    depth: usize,
}

/// The configuration an object states.
#[derive(Default)]
struct Frame {
    /// Enclosing object (`u32::MAX` for a top-level object).
    parent: u32,
    /// Its own scalar configuration keys (and `"model": {"name": …}`), in document order.
    direct: Vec<(&'static str, String)>,
    /// Configuration from `options`-like child objects (its own keys win over these).
    from_options: Vec<(&'static str, String)>,
    /// Its `name` scalar (for `"model": {"name": …}` in the parent).
    name: Option<String>,
}

/// What a value was, for its parent object.
enum Seen<'de> {
    Str(Cow<'de, str>),
    Num(serde_json::Number),
    Bool(bool),
    Object(u32),
    Other,
}

impl Seen<'_> {
    /// The text of a scalar, as a configuration value.
    fn scalar(&self) -> Option<String> {
        match self {
            Seen::Str(s) => Some(s.to_string()),
            Seen::Num(n) => Some(n.to_string()),
            Seen::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// One step of a JSON path.
#[derive(Clone, Copy)]
enum Seg<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

/// Where a JSON value sits.
#[derive(Clone, Copy)]
struct At<'k> {
    /// Innermost enclosing object (`u32::MAX` at the top).
    frame: u32,
    /// Path index of the enclosing container.
    parent: u32,
    /// The step from the container to the value.
    seg: Seg<'k>,
    /// Nearest key (an array's elements inherit the array's key), as an index into
    /// [`Walker::keys`].
    key: Option<u32>,
    depth: usize,
}

/// Seed of one value for the serde visitor: where it sits.
struct Node<'s, 'k> {
    w: &'s mut Walker,
    p: &'s mut Parsed,
    at: At<'k>,
}

impl Walker {
    /// Index of a key in [`Walker::keys`], classifying it the first time.
    fn key_id(&mut self, p: &mut Parsed, k: &str) -> u32 {
        if let Some(&i) = self.key_ids.get(k) {
            return i;
        }
        let i = self.keys.len() as u32;
        self.keys.push(Key {
            name: k.to_string(),
            class: p.classify(k),
            metric: None,
            group: names::group_key(k),
        });
        self.key_ids.insert(k.to_string(), i);
        i
    }

    /// Parse `text` and emit its facts; returns (numeric leaves, nesting depth). On failure
    /// nothing of the document is kept.
    fn scan(
        &mut self,
        p: &mut Parsed,
        text: &str,
        root_path: &str,
        max_depth: usize,
    ) -> Result<(usize, usize), String> {
        // serde_json refuses more than 128 levels, so the recursive descent never overflows the
        // stack; stay below it. The byte scan for the exact depth only runs when that is hit.
        let limit = max_depth.min(127);
        let too_deep = |depth: usize| {
            let fix = if limit < 127 {
                "flatten the file or raise max_json_depth (at most 127)"
            } else {
                "127 is the most Chimera parses; flatten the file"
            };
            format!("JSON nested {depth} levels deep, over the limit of {limit}; not parsed ({fix})")
        };
        let mark = (p.facts.items.len(), p.facts.paths.len(), p.facts.groups.len(), p.facts.metrics.len());
        let root = p.facts.paths.len() as u32;
        p.facts.paths.push(root_path.to_string());
        (self.numbers, self.depth) = (0, 0);
        self.frames.clear();
        self.fact_frames.clear();
        let mut de = serde_json::Deserializer::from_str(text);
        let at = At { frame: u32::MAX, parent: root, seg: Seg::Root, key: None, depth: 0 };
        let parsed = Node { w: self, p, at }.deserialize(&mut de).and_then(|_| de.end());
        let (numbers, depth) = (self.numbers, self.depth);
        let failure = match parsed {
            Err(e) => {
                let d = json_depth(text);
                Some(if d > limit { too_deep(d) } else { format!("malformed JSON: {e}") })
            }
            Ok(()) if depth > limit => Some(too_deep(depth)),
            Ok(()) => None,
        };
        if let Some(reason) = failure {
            self.rollback(p, mark);
            return Err(reason);
        }
        // Groups: each object's configuration over its ancestors' (parents come first, so one
        // forward pass does it).
        if self.fact_frames.is_empty() {
            return Ok((numbers, depth));
        }
        let empty = self.groups.id(&mut p.facts, BTreeMap::new());
        let mut group_of: Vec<u32> = vec![empty; self.frames.len()];
        for (i, f) in self.frames.iter().enumerate() {
            let base = if f.parent == u32::MAX { empty } else { group_of[f.parent as usize] };
            group_of[i] = if f.direct.is_empty() && f.from_options.is_empty() {
                base
            } else {
                let mut map = p.facts.groups[base as usize].clone();
                for (k, v) in f.from_options.iter().chain(&f.direct) {
                    map.insert(k.to_string(), v.clone());
                }
                self.groups.id(&mut p.facts, map)
            };
        }
        for (item, frame) in p.facts.items[mark.0..].iter_mut().zip(&self.fact_frames) {
            item.group = if *frame == u32::MAX { empty } else { group_of[*frame as usize] };
        }
        Ok((numbers, depth))
    }

    /// Forget everything a failed document added.
    fn rollback(&mut self, p: &mut Parsed, (items, paths, groups, metrics): (usize, usize, usize, usize)) {
        p.facts.items.truncate(items);
        p.facts.paths.truncate(paths);
        p.facts.groups.truncate(groups);
        p.facts.metrics.truncate(metrics);
        for k in &mut self.keys {
            k.metric = k.metric.filter(|&m| (m as usize) < metrics);
        }
        self.groups.index.retain(|_, g| (*g as usize) < groups);
    }
}

impl Walker {
    fn number(&mut self, p: &mut Parsed, n: Option<f64>, at: At) {
        self.numbers += 1;
        let (Some(id), Some(x)) = (at.key, n) else { return };
        let key = &mut self.keys[id as usize];
        let m = match (key.metric, &key.class) {
            (Some(m), _) => m,
            (None, None) => return,
            (None, Some(c)) => {
                let m = p.add_metric(c.clone(), &key.name);
                key.metric = Some(m);
                m
            }
        };
        let index = match at.seg {
            Seg::Index(i) => Some(i as u32),
            _ => None,
        };
        let before = p.facts.items.len();
        p.push_fact(m, x, 0, RawLoc::Json { parent: at.parent, index });
        if p.facts.items.len() > before {
            self.fact_frames.push(at.frame);
        }
    }

    /// A container begins: its path index and its depth.
    fn open(&mut self, p: &mut Parsed, at: At) -> (u32, usize) {
        let depth = at.depth + 1;
        self.depth = self.depth.max(depth);
        let path = match at.seg {
            Seg::Root => return (at.parent, depth),
            Seg::Index(i) => format!("{}[{i}]", p.facts.paths[at.parent as usize]),
            Seg::Key(k) => json_key_path(&p.facts.paths[at.parent as usize], k),
        };
        p.facts.paths.push(path);
        ((p.facts.paths.len() - 1) as u32, depth)
    }

    /// The value of key `k` (index `kid`) of object `id` was `seen`: record the configuration
    /// it states.
    fn map_entry(&mut self, id: u32, k: &str, kid: u32, seen: Seen) {
        let gk = self.keys[kid as usize].group;
        match seen {
            Seen::Str(_) | Seen::Num(_) | Seen::Bool(_) => {
                if k == "name" {
                    self.frames[id as usize].name = seen.scalar();
                }
                if let Some(gk) = gk
                    && let Some(s) = seen.scalar()
                {
                    self.frames[id as usize].direct.push((gk, s));
                }
            }
            Seen::Object(child) if gk == Some("model") => {
                if let Some(name) = self.frames[child as usize].name.clone() {
                    self.frames[id as usize].direct.push(("model", name));
                }
            }
            Seen::Object(child)
                if gk.is_none() && CONFIG_OBJECTS.iter().any(|c| k.eq_ignore_ascii_case(c)) =>
            {
                // `"options": {"num_ctx": 2048}` beside the runs configures them.
                for (ok, ov) in self.frames[child as usize].direct.clone() {
                    let own = &mut self.frames[id as usize].from_options;
                    if !own.iter().any(|(a, _)| *a == ok) {
                        own.push((ok, ov));
                    }
                }
            }
            _ => {}
        }
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = Seen<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Seen<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = Seen<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Seen<'de>, E> {
        Ok(Seen::Bool(b))
    }
    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Seen<'de>, E> {
        self.w.number(self.p, Some(n as f64), self.at);
        Ok(Seen::Num(n.into()))
    }
    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Seen<'de>, E> {
        self.w.number(self.p, Some(n as f64), self.at);
        Ok(Seen::Num(n.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, x: f64) -> Result<Seen<'de>, E> {
        let n = serde_json::Number::from_f64(x);
        self.w.number(self.p, n.as_ref().and_then(serde_json::Number::as_f64), self.at);
        Ok(n.map_or(Seen::Other, Seen::Num))
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Seen<'de>, E> {
        Ok(Seen::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Seen<'de>, E> {
        Ok(Seen::Str(Cow::Owned(s.to_string())))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Seen<'de>, E> {
        Ok(Seen::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Seen<'de>, A::Error> {
        let Node { w, p, at } = self;
        let (parent, depth) = w.open(p, at);
        let mut i = 0;
        let at = |i| At { parent, seg: Seg::Index(i), depth, ..at };
        while seq.next_element_seed(Node { w: &mut *w, p: &mut *p, at: at(i) })?.is_some() {
            i += 1;
        }
        Ok(Seen::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Seen<'de>, A::Error> {
        let Node { w, p, at } = self;
        let (parent, depth) = w.open(p, at);
        let frame = w.frames.len() as u32;
        w.frames.push(Frame { parent: at.frame, ..Frame::default() });
        while let Some(k) = map.next_key::<Cow<'de, str>>()? {
            let kid = w.key_id(p, &k);
            let at = At { frame, parent, seg: Seg::Key(&k), key: Some(kid), depth };
            let seen = map.next_value_seed(Node { w: &mut *w, p: &mut *p, at })?;
            w.map_entry(frame, &k, kid, seen);
        }
        Ok(Seen::Object(frame))
    }
}
