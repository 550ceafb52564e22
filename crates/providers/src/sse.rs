//! An incremental Server-Sent Events parser (the WHATWG event-stream rules,
//! minus `id`/`retry`, which chat completions never use).
//!
//! Bytes are buffered until a whole line is present and only then decoded, so
//! a read that ends inside a multi-byte Hebrew character, inside `data:`, or
//! between the `\r` and `\n` of a line ending is harmless.

use crate::error::ProviderError;

/// A line longer than this without a terminator is treated as a broken
/// stream rather than buffered forever.
const MAX_LINE_BYTES: usize = 1 << 20;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field, `message` when absent.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Feed it chunks in order; it hands back the events they complete.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    buf: Vec<u8>,
    event: String,
    data: String,
    has_data: bool,
    /// The last chunk ended in `\r`; a leading `\n` in the next one belongs
    /// to the same line ending.
    skip_lf: bool,
    bom_checked: bool,
}

impl SseParser {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds a chunk and returns every event it completed.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, ProviderError> {
        self.buf.extend_from_slice(chunk);
        if !self.bom_checked {
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            if self.buf.len() < BOM.len() && BOM.starts_with(&self.buf) {
                return Ok(Vec::new());
            }
            if self.buf.starts_with(BOM) {
                self.buf.drain(..BOM.len());
            }
            self.bom_checked = true;
        }
        let mut events = Vec::new();
        let mut pos = 0;
        loop {
            if self.skip_lf && pos < self.buf.len() {
                if self.buf[pos] == b'\n' {
                    pos += 1;
                }
                self.skip_lf = false;
            }
            let Some(off) = self.buf[pos..]
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
            else {
                break;
            };
            let end = pos + off;
            let line = String::from_utf8_lossy(&self.buf[pos..end]).into_owned();
            pos = end + 1;
            if self.buf[end] == b'\r' {
                self.skip_lf = true;
            }
            if let Some(ev) = self.line(&line) {
                events.push(ev);
            }
        }
        self.buf.drain(..pos);
        if self.buf.len() > MAX_LINE_BYTES {
            return Err(ProviderError::Malformed("SSE line too long".into()));
        }
        Ok(events)
    }

    /// Ends the stream. A last event without its blank line is still
    /// dispatched: some servers close right after the final `data:` line.
    pub(crate) fn finish(&mut self) -> Option<SseEvent> {
        let rest = std::mem::take(&mut self.buf);
        let mut ev = None;
        if !rest.is_empty() {
            ev = self.line(&String::from_utf8_lossy(&rest));
        }
        ev.or_else(|| self.line(""))
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            if !self.has_data {
                self.event.clear();
                return None;
            }
            let mut data = std::mem::take(&mut self.data);
            if data.ends_with('\n') {
                data.pop();
            }
            let event = match std::mem::take(&mut self.event) {
                e if e.is_empty() => "message".to_owned(),
                e => e,
            };
            self.has_data = false;
            return Some(SseEvent { event, data });
        }
        if line.starts_with(':') {
            return None; // comment / keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            "event" => self.event = value.to_owned(),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(input: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let mut last = 0;
        for &c in cuts.iter().chain(std::iter::once(&input.len())) {
            out.extend(p.push(&input[last..c]).unwrap());
            last = c;
        }
        out.extend(p.finish());
        out
    }

    const STREAM: &str = ": keep-alive\r\n\r\ndata: {\"a\":\"שלום\"}\r\n\r\nevent: error\ndata: x\ndata: y\n\ndata: [DONE]\n\n";

    fn expected() -> Vec<SseEvent> {
        vec![
            SseEvent {
                event: "message".into(),
                data: "{\"a\":\"שלום\"}".into(),
            },
            SseEvent {
                event: "error".into(),
                data: "x\ny".into(),
            },
            SseEvent {
                event: "message".into(),
                data: "[DONE]".into(),
            },
        ]
    }

    #[test]
    fn every_single_split_point_gives_the_same_events() {
        let bytes = STREAM.as_bytes();
        for cut in 0..=bytes.len() {
            assert_eq!(parse_in_pieces(bytes, &[cut]), expected(), "cut at {cut}");
        }
    }

    #[test]
    fn byte_at_a_time_feeding_gives_the_same_events() {
        let bytes = STREAM.as_bytes();
        let cuts: Vec<usize> = (1..bytes.len()).collect();
        assert_eq!(parse_in_pieces(bytes, &cuts), expected());
    }

    #[test]
    fn a_final_event_without_blank_line_is_still_dispatched() {
        assert_eq!(
            parse_in_pieces(b"data: last", &[]),
            vec![SseEvent {
                event: "message".into(),
                data: "last".into()
            }]
        );
    }

    #[test]
    fn a_leading_byte_order_mark_is_ignored() {
        let input = b"\xEF\xBB\xBFdata: x\n\n";
        assert_eq!(parse_in_pieces(input, &[1, 2])[0].data, "x");
    }

    #[test]
    fn a_runaway_line_is_an_error() {
        let mut p = SseParser::new();
        assert!(p.push(&vec![b'a'; MAX_LINE_BYTES + 1]).is_err());
    }
}
