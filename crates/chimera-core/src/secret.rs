//! Secrets (API keys, passwords in server URLs) and their redaction: every form in which a
//! secret can appear in text Chimera writes — raw, JSON-escaped, HTML-escaped, percent-encoded —
//! is replaced by [`REDACTED`].
//!
//! Backends redact what enters from a server (errors, streamed text) with their own
//! [`Redactor`], and [`register`] their secrets process-wide, so that every file written through
//! [`crate::fsutil`] and every message the CLI prints is redacted as a last line of defence.

use std::borrow::Cow;
use std::sync::{LazyLock, RwLock};

/// What a secret is replaced with (safe in Markdown, HTML, JSON and terminals).
pub const REDACTED: &str = "[redacted]";

/// Replaces the known secrets, in each of their written forms, by [`REDACTED`].
#[derive(Clone, Default)]
pub struct Redactor {
    /// Every form of every secret, longest first (so a longer form is never cut by a shorter one).
    needles: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} forms)", self.needles.len())
    }
}

/// The forms in which `secret` can appear in output: as is, inside a JSON string, in HTML text,
/// percent-encoded (URLs).
fn forms(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).map(|q| q[1..q.len() - 1].to_string()).unwrap_or_default();
    let html = secret
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;");
    let percent =
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC).to_string();
    vec![secret.to_string(), json, html, percent]
}

impl Redactor {
    /// A redactor for `secrets` (empty ones are ignored).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut r = Redactor::default();
        for s in secrets {
            r.add(s);
        }
        r
    }

    /// Also redact `secret` (ignored when empty).
    pub fn add(&mut self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        for f in forms(secret) {
            if !f.is_empty() && !self.needles.contains(&f) {
                self.needles.push(f);
            }
        }
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    }

    /// No secret to redact.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `s` with every form of every secret replaced.
    pub fn redact<'a>(&self, s: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(s);
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = Cow::Owned(out.replace(n.as_str(), REDACTED));
            }
        }
        out
    }

    /// Redact `s` in place.
    pub fn redact_string(&self, s: &mut String) {
        if let Cow::Owned(r) = self.redact(s) {
            *s = r;
        }
    }

    /// `bytes` (text of any encoding that keeps ASCII, such as UTF-8) with every secret replaced.
    pub fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let mut out = Cow::Borrowed(bytes);
        for n in &self.needles {
            let finder = memchr::memmem::Finder::new(n.as_bytes());
            if finder.find(&out).is_none() {
                continue;
            }
            let mut v = Vec::with_capacity(out.len());
            let mut rest: &[u8] = &out;
            while let Some(i) = finder.find(rest) {
                v.extend_from_slice(&rest[..i]);
                v.extend_from_slice(REDACTED.as_bytes());
                rest = &rest[i + n.len()..];
            }
            v.extend_from_slice(rest);
            out = Cow::Owned(v);
        }
        out
    }
}

static GLOBAL: LazyLock<RwLock<Redactor>> = LazyLock::new(Default::default);

/// Redact `secret` from everything this process writes from now on (files through
/// [`crate::fsutil`], and whatever the CLI prints through [`redact`]).
pub fn register(secret: &str) {
    if secret.is_empty() {
        return;
    }
    if let Ok(mut g) = GLOBAL.write() {
        g.add(secret);
    }
}

/// `s` without any registered secret.
pub fn redact(s: &str) -> Cow<'_, str> {
    match GLOBAL.read() {
        Ok(g) if !g.is_empty() => Cow::Owned(g.redact(s).into_owned()),
        _ => Cow::Borrowed(s),
    }
}

/// `bytes` without any registered secret.
pub fn redact_bytes(bytes: &[u8]) -> Cow<'_, [u8]> {
    match GLOBAL.read() {
        Ok(g) if !g.is_empty() => Cow::Owned(g.redact_bytes(bytes).into_owned()),
        _ => Cow::Borrowed(bytes),
    }
}

/// Whether any secret is registered (writers may then buffer output to redact it whole).
pub fn any_registered() -> bool {
    GLOBAL.read().is_ok_and(|g| !g.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_written_form_is_redacted() {
        let key = r#"sk-"quoted"\back<&>'slash"#;
        let r = Redactor::new([key, ""]);
        let json = serde_json::to_string(&serde_json::json!({ "error": format!("bad key {key}") })).unwrap();
        assert!(json.contains(r#"sk-\"quoted\"\\back"#), "{json}");
        let html = "sk-&quot;quoted&quot;\\back&lt;&amp;&gt;&#39;slash";
        let url = percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC).to_string();
        for text in [format!("raw {key} end"), json, format!("<p>{html}</p>"), format!("http://u:{url}@h/")] {
            let out = r.redact(&text);
            assert!(out.contains(REDACTED), "{out}");
            assert!(!out.contains("quoted") && !out.contains("back"), "{out}");
            assert_eq!(r.redact_bytes(text.as_bytes()).as_ref(), out.as_bytes());
        }
        assert!(matches!(r.redact("nothing secret"), Cow::Borrowed(_)));
        assert!(!format!("{r:?}").contains("sk-"));
        assert!(Redactor::new([""]).is_empty());
    }

    #[test]
    fn registered_secrets_are_redacted_process_wide() {
        let secret = "chimera-test-registered-secret-1f9e";
        assert_eq!(redact(&format!("a {secret} b")), format!("a {secret} b"));
        register(secret);
        assert!(any_registered());
        assert_eq!(redact(&format!("a {secret} b")), format!("a {REDACTED} b"));
        assert_eq!(redact_bytes(format!("{secret}{secret}").as_bytes()).as_ref(), b"[redacted][redacted]");
    }
}
