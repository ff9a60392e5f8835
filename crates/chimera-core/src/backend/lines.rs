//! Line framing for streamed bodies: bytes are buffered across HTTP chunk boundaries and cut
//! only at `\n`, so a line split over two chunks parses once whole (never decode per chunk).

/// Longest line accepted before the stream is called malformed (16 MiB).
pub(crate) const MAX_LINE: usize = 16 << 20;

/// Accumulates bytes and yields complete lines (without `\n` / `\r\n`).
#[derive(Debug, Default)]
pub(crate) struct LineBuffer {
    buf: Vec<u8>,
    start: usize,
}

impl LineBuffer {
    /// Append newly received bytes.
    pub(crate) fn push(&mut self, data: &[u8]) {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete line, if one is buffered.
    pub(crate) fn next_line(&mut self) -> Option<&[u8]> {
        let s = self.start;
        let i = self.buf[s..].iter().position(|&b| b == b'\n')?;
        self.start = s + i + 1;
        let line = &self.buf[s..s + i];
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }

    /// Bytes buffered without a terminating newline yet.
    pub(crate) fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// At end of stream: the unterminated remainder, if any (a last line without `\n`).
    pub(crate) fn take_rest(&mut self) -> Option<Vec<u8>> {
        let rest = self.buf[self.start..].to_vec();
        self.buf.clear();
        self.start = 0;
        let trimmed = rest.strip_suffix(b"\r").unwrap_or(&rest);
        (!trimmed.iter().all(u8::is_ascii_whitespace)).then(|| trimmed.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(b: &mut LineBuffer) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(l) = b.next_line() {
            v.push(String::from_utf8_lossy(l).into_owned());
        }
        v
    }

    #[test]
    fn lines_split_across_pushes_and_many_per_push() {
        let mut b = LineBuffer::default();
        b.push(b"{\"a\":");
        assert!(drain(&mut b).is_empty());
        assert_eq!(b.pending(), 5);
        b.push(b"1}\r\n{\"b\":2}\n{\"c\"");
        assert_eq!(drain(&mut b), vec!["{\"a\":1}", "{\"b\":2}"]);
        b.push(b":3}");
        assert!(drain(&mut b).is_empty());
        assert_eq!(b.take_rest(), Some(b"{\"c\":3}".to_vec()));
        assert_eq!(b.take_rest(), None);
        b.push(b"\n\n");
        assert_eq!(drain(&mut b), vec!["", ""]);
    }
}
