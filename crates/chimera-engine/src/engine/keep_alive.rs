//! Ollama's keep_alive: how long a model stays loaded after a request.

use std::time::Duration;

/// How long a model stays loaded after a call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeepAlive {
    Forever,
    For(Duration),
}

/// Parse Ollama's keep_alive: a number of seconds, a Go-style duration ("5m", "1h30m", "10s",
/// "500ms"), "0" to unload right away, or a negative value to keep forever.
pub fn parse_keep_alive(s: &str) -> Option<KeepAlive> {
    let s = s.trim();
    if s.starts_with('-') {
        return Some(KeepAlive::Forever);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return secs.is_finite().then(|| longest(secs));
    }
    let mut total = 0.0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * mult;
        rest = &rest[unit_end..];
    }
    Some(longest(total))
}

/// `secs` as a keep_alive; a time longer than any `Duration` (`1e300`, found by the `serve`
/// fuzz target: it panicked the request) keeps the model forever.
fn longest(secs: f64) -> KeepAlive {
    Duration::try_from_secs_f64(secs).map_or(KeepAlive::Forever, KeepAlive::For)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alive_parsing() {
        assert_eq!(parse_keep_alive("0"), Some(KeepAlive::For(Duration::ZERO)));
        assert_eq!(parse_keep_alive("300"), Some(KeepAlive::For(Duration::from_secs(300))));
        assert_eq!(parse_keep_alive("5m"), Some(KeepAlive::For(Duration::from_secs(300))));
        assert_eq!(parse_keep_alive("1h30m"), Some(KeepAlive::For(Duration::from_secs(5400))));
        assert_eq!(parse_keep_alive("500ms"), Some(KeepAlive::For(Duration::from_millis(500))));
        assert_eq!(parse_keep_alive("-1"), Some(KeepAlive::Forever));
        assert_eq!(parse_keep_alive("-1m"), Some(KeepAlive::Forever));
        assert_eq!(parse_keep_alive("5 parsecs"), None);
        // Longer than any Duration: forever, never a panic (fuzz corpus `serve/keep-alive-huge-*`).
        assert_eq!(parse_keep_alive("1e300"), Some(KeepAlive::Forever));
        assert_eq!(parse_keep_alive("9999999999999999h"), Some(KeepAlive::Forever));
    }
}
