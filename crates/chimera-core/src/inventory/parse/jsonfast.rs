//! A byte scanner for the JSON fact walk: drives the same [`Scan`] as the serde visitor, faster.
//!
//! It is stricter than serde_json, never looser: it gives up (returns `false`) on anything it
//! does not read exactly as serde_json does — a string with an escape, an integer of more than
//! 18 digits, a decimal number outside the range where one IEEE operation gives serde_json's
//! value (more than 15 significant digits or a power of ten beyond ±22), `-0`, nesting over the
//! limit, and every syntax error. The caller then forgets what it added and runs the serde
//! path, which also words the error. What it accepts, serde_json accepts with the same values.

use std::borrow::Cow;

use super::{At, Scan, Seen, Seg};

/// Walk `text` as one JSON document; `false` when the serde path must do it instead.
pub(super) fn walk(st: &mut Scan, text: &str, root: u32, limit: usize) -> bool {
    let mut f = Fast { b: text.as_bytes(), text, i: 0, limit };
    f.ws();
    if f.value(st, At::root(root)).is_none() {
        return false;
    }
    f.ws();
    f.i == f.b.len()
}

struct Fast<'t> {
    b: &'t [u8],
    text: &'t str,
    i: usize,
    limit: usize,
}

impl<'t> Fast<'t> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// One value; `None` = give up.
    fn value(&mut self, st: &mut Scan, at: At) -> Option<Seen<'t>> {
        match self.peek()? {
            b'{' => self.object(st, at),
            b'[' => self.array(st, at),
            b'"' => Some(Seen::Str(Cow::Borrowed(self.string()?))),
            b't' => self.literal(b"true").then_some(Seen::Bool(true)),
            b'f' => self.literal(b"false").then_some(Seen::Bool(false)),
            b'n' => self.literal(b"null").then_some(Seen::Other),
            b'-' | b'0'..=b'9' => self.number(st, at),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    /// A string without escapes or control characters, borrowed from the text.
    fn string(&mut self) -> Option<&'t str> {
        let start = self.i + 1;
        let len = self.b[start..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if self.b[start + len] != b'"' {
            return None;
        }
        self.i = start + len + 1;
        // Both ends are ASCII quotes, so these are character boundaries of the text.
        self.text.get(start..start + len)
    }

    /// Skip a run of digits, folding them into `acc` (wrapping: only read for short runs).
    fn digits(&mut self, acc: &mut u64) -> usize {
        let start = self.i;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            *acc = acc.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self, st: &mut Scan, at: At) -> Option<Seen<'t>> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let int_start = self.i;
        let mut significand = 0u64;
        let int_digits = self.digits(&mut significand);
        // One leading zero at most (serde_json refuses `01`), at least one digit.
        if int_digits == 0 || (int_digits > 1 && self.b[int_start] == b'0') {
            return None;
        }
        let mut frac_digits = 0;
        if self.peek() == Some(b'.') {
            self.i += 1;
            frac_digits = self.digits(&mut significand);
            if frac_digits == 0 {
                return None;
            }
        }
        let mut exp: i32 = 0;
        let mut has_exp = false;
        if let Some(b'e' | b'E') = self.peek() {
            has_exp = true;
            self.i += 1;
            let exp_negative = match self.peek() {
                Some(b'-') => {
                    self.i += 1;
                    true
                }
                Some(b'+') => {
                    self.i += 1;
                    false
                }
                _ => false,
            };
            let mut value = 0u64;
            let n = self.digits(&mut value);
            if n == 0 || n > 4 {
                return None;
            }
            exp = value as i32;
            if exp_negative {
                exp = -exp;
            }
        }
        if frac_digits == 0 && !has_exp {
            // An integer: u64 (or i64 when negative) as serde_json gives it.
            if int_digits > 18 {
                return None;
            }
            let magnitude = significand;
            if !negative {
                st.number(Some(magnitude as f64), at);
                return Some(Seen::Num(magnitude.into()));
            }
            if magnitude == 0 {
                return None; // `-0` is a float in serde_json: left to it.
            }
            let n = -(magnitude as i64);
            st.number(Some(n as f64), at);
            return Some(Seen::Num(n.into()));
        }
        // A decimal number: serde_json computes significand × 10^e with one IEEE operation,
        // exact (= correctly rounded, as `str::parse`) while both factors are exact.
        let power = exp - frac_digits as i32;
        if int_digits + frac_digits > 15 || !(-22..=22).contains(&power) {
            return None;
        }
        // serde_json's own arithmetic in that range: one exact factor times another.
        const POW10: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
            1e18, 1e19, 1e20, 1e21, 1e22,
        ];
        let f = significand as f64;
        let magnitude =
            if power >= 0 { f * POW10[power as usize] } else { f / POW10[power.unsigned_abs() as usize] };
        let x = if negative { -magnitude } else { magnitude };
        let n = serde_json::Number::from_f64(x)?;
        st.number(Some(x), at);
        Some(Seen::Num(n))
    }

    fn object(&mut self, st: &mut Scan, at: At) -> Option<Seen<'t>> {
        if at.depth + 1 > self.limit {
            return None;
        }
        self.i += 1;
        let (id, path, depth) = st.open_map(at);
        let outer = at.key;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(Seen::Object(id));
        }
        let mut prev = None;
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let k = self.string()?;
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            self.ws();
            let kid = st.w.next_key_id(prev, outer, k);
            prev = Some(kid);
            let seen =
                self.value(st, At { frame: id, parent: path, seg: Seg::Key(k), key: Some(kid), depth })?;
            st.map_entry(id, k, kid, seen);
            self.ws();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                b'}' => {
                    self.i += 1;
                    return Some(Seen::Object(id));
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, st: &mut Scan, at: At) -> Option<Seen<'t>> {
        if at.depth + 1 > self.limit {
            return None;
        }
        self.i += 1;
        let (path, depth) = st.open_seq(at);
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(Seen::Other);
        }
        let mut index = 0;
        loop {
            self.value(st, At { parent: path, seg: Seg::Index(index), depth, ..at })?;
            index += 1;
            self.ws();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                b']' => {
                    self.i += 1;
                    return Some(Seen::Other);
                }
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FileEntry, FileKind, JsonWalker, ParseStatus, Parsed};
    use crate::facts::RawFacts;

    fn parsed() -> Parsed {
        Parsed {
            entry: FileEntry {
                rel_path: "x.json".into(),
                kind: FileKind::Json,
                bytes: 0,
                modified: None,
                sha256: None,
                encoding: None,
                status: ParseStatus::Ok,
                reason: None,
                notes: Vec::new(),
                name_date: None,
                facts: 0,
                duplicate_of: None,
                csv: None,
                json: None,
                markdown: None,
            },
            digest: None,
            facts: RawFacts::default(),
            families: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Outcome and facts of one document, by the scanner-first path or by serde_json alone;
    /// with whether the scanner accepted it.
    fn run(text: &str, serde_only: bool, depth: usize) -> (Result<(usize, usize), String>, RawFacts) {
        let mut p = parsed();
        // Through this thread's key table, as the collector does: earlier documents' keys and
        // guesses must not change anything.
        let mut w = JsonWalker::for_file(true);
        w.serde_only = serde_only;
        // Two documents through one walker, as JSONL lines: the second sees the first's keys.
        let first = w.scan(&mut p, text, "$", depth);
        let second = w.scan(&mut p, text, "line 2: $", depth);
        (first.and(second), p.facts)
    }

    fn accepted(text: &str) -> bool {
        let mut p = parsed();
        p.facts.paths.push("$".into());
        let mut w = JsonWalker::for_file(true);
        let mut st = super::super::Scan {
            w: &mut w,
            p: &mut p,
            frames: Vec::new(),
            fact_frames: Vec::new(),
            numbers: 0,
            depth: 0,
        };
        super::walk(&mut st, text, 0, 64)
    }

    fn same(text: &str) {
        for depth in [64, 3] {
            assert_eq!(run(text, false, depth), run(text, true, depth), "{text:?} at depth limit {depth}");
        }
    }

    const TYPICAL: &str = r#"{"model": "gemma3:270m", "options": {"num_ctx": 2048, "temperature": 0.7},
        "runs": [{"run": 0, "ttft_ms": 120.5, "tokens_per_second": 71.25, "eval_count": 128,
        "load_duration": 396000000, "memory_used_mb": 812.4, "ok": true, "note": null},
        {"run": 1, "ttft_ms": 1.5e2, "tokens_per_second": -3, "model": {"name": "other"}}],
        "summary": {"mean_tokens_per_s": [70.1, 71.9], "p95_latency_s": 0.25E+1}}"#;

    #[test]
    fn reads_typical_documents_as_serde_json_does() {
        assert!(accepted(TYPICAL));
        same(TYPICAL);
        for doc in
            ["42", "-7", "0.5", "\"text\"", "[]", "{}", "[1, [2, [3]]]", " {\"ttft_ms\" : [ 1 , 2 ] } \n"]
        {
            assert!(accepted(doc), "{doc}");
            same(doc);
        }
    }

    #[test]
    fn gives_up_where_serde_json_decides() {
        // Escapes, -0, more digits or larger powers than one exact operation, bad syntax,
        // nesting over the limit: left to serde_json (same facts, same error words).
        for doc in [
            r#"{"ttft_ms": 1, "k\"ey": 2}"#,
            r#"{"model": "a\u00e9b", "ttft_ms": 3}"#,
            r#"{"ttft_ms": -0}"#,
            r#"{"ttft_ms": 1234567890123456789}"#,
            r#"{"ttft_ms": 0.1234567890123456}"#,
            r#"{"ttft_ms": 1e23}"#,
            r#"{"ttft_ms": 1e400}"#,
            r#"{"ttft_ms": 01}"#,
            r#"{"ttft_ms": 1.}"#,
            r#"{"ttft_ms": .5}"#,
            r#"{"ttft_ms": 1,}"#,
            r#"[1, 2,]"#,
            r#"{"ttft_ms": 1} x"#,
            r#"{"ttft_ms": tru}"#,
            "{\"ttft_ms\": \"a\tb\"}",
            r#"{"a": {"b": {"c": {"ttft_ms": 1}}}}"#,
            r#"{"ttft_ms": NaN}"#,
            r#"{"ttft_ms" 1}"#,
            r#"{"ttft_ms": 1"#,
        ] {
            same(doc);
        }
        assert!(!accepted(r#"{"ttft_ms": -0}"#));
        assert!(!accepted(r#"{"ttft_ms": 1e23}"#));
        assert!(!accepted(r#"{"k\"": 1}"#));
        assert!(accepted(r#"{"ttft_ms": -0.0, "x": 1e22, "y": 123456789012345678}"#));
    }

    use crate::testrng::Rng;

    const KEYS: [&str; 14] = [
        "ttft_ms",
        "tokens_per_second",
        "eval_duration",
        "model",
        "num_ctx",
        "temperature",
        "options",
        "name",
        "runs",
        "latency_s",
        "memory_mb",
        "notes",
        "x",
        "total_duration",
    ];

    fn number(r: &mut Rng) -> String {
        let sign = if r.below(4) == 0 { "-" } else { "" };
        match r.below(8) {
            0 => format!("{sign}{}", r.below(1000)),
            1 => format!("{sign}{}", r.next() >> r.below(64)),
            2 => {
                format!("{sign}{}.{:0w$}", r.below(100_000), r.below(1_000_000), w = 1 + r.below(9) as usize)
            }
            3 => format!("{sign}{}e{}{}", r.below(1000), ["", "-", "+"][r.below(3) as usize], r.below(40)),
            4 => format!("{sign}0.{}E{}", r.below(10_000_000_000), r.below(30) as i64 - 15),
            5 => format!("{sign}{}.{}", r.next(), r.next()),
            6 => format!("{sign}{}.{:010}", r.below(1_000_000_000), r.below(10_000_000_000)),
            _ => format!("{sign}0"),
        }
    }

    fn value(r: &mut Rng, depth: usize, out: &mut String) {
        match r.below(if depth > 4 { 4 } else { 7 }) {
            0 | 1 => out.push_str(&number(r)),
            2 => out.push_str(["\"gemma3\"", "\"a\\\"b\"", "\"\"", "\"x y\""][r.below(4) as usize]),
            3 => out.push_str(["true", "false", "null"][r.below(3) as usize]),
            4 | 5 => {
                out.push('{');
                for i in 0..r.below(5) {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&format!("\"{}\": ", KEYS[r.below(KEYS.len() as u64) as usize]));
                    value(r, depth + 1, out);
                }
                out.push('}');
            }
            _ => {
                out.push('[');
                for i in 0..r.below(5) {
                    if i > 0 {
                        out.push(',');
                    }
                    value(r, depth + 1, out);
                }
                out.push(']');
            }
        }
    }

    #[test]
    fn random_documents_and_their_corruptions_agree_with_serde_json() {
        let mut r = Rng(0x2545_F491_4F6C_DD1D);
        let mut fast = 0;
        for _ in 0..3000 {
            let mut doc = String::new();
            value(&mut r, 0, &mut doc);
            fast += usize::from(accepted(&doc));
            same(&doc);
            // One byte removed, or one inserted: mostly malformed documents.
            let mut bad = doc.clone().into_bytes();
            let at = r.below(bad.len() as u64 + 1) as usize;
            if r.below(2) == 0 && at < bad.len() {
                bad.remove(at);
            } else {
                bad.insert(at, b",]}:\"0-.e "[r.below(10) as usize]);
            }
            if let Ok(bad) = String::from_utf8(bad) {
                same(&bad);
            }
        }
        // The scanner really ran on most of them (the comparison is not serde against itself).
        assert!(fast > 1500, "scanner accepted only {fast} of 3000");
    }
}
