//! The V.250 line discipline: turns the bytes a DTE sends into command lines (in command
//! state) or payloads (in the data-entry states a command opens with a `>` or `>>` prompt).
//!
//! It never allocates without bound: a command line longer than [`LineConfig::max_line`] is
//! swallowed up to its terminator and reported as [`Event::LineTooLong`], and free text is
//! capped at the limit given to [`LineDiscipline::expect_text`].
//!
//! Input is consumed one step at a time with [`LineDiscipline::feed`], which stops after each
//! event so the caller can switch modes (e.g. enter fixed-length data mode after a command
//! line that opened a `>` prompt) before the following bytes are interpreted.

/// Ctrl-Z, the end of free-text entry.
pub const SUB: u8 = 0x1A;
/// ESC, which cancels free-text entry.
pub const ESC: u8 = 0x1B;
/// 0x03 (ETX), the escape of an escaped stream ([`LineDiscipline::expect_stream_escaped`]).
const ETX: u8 = 0x03;
/// Line feed: when it comes right after the S3 that ended a command line, it is part of
/// that line's terminator (see [`LineDiscipline::feed`]).
pub const LF: u8 = 0x0A;
/// Carriage return: ends a line of 27.005 text entry.
const CR: u8 = 0x0D;

/// Settings the discipline reads on every byte; the owner updates them as S-registers and
/// ATE change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineConfig {
    /// S3: command line termination character (default CR).
    pub s3: u8,
    /// S5: command line editing character (default backspace).
    pub s5: u8,
    /// ATE: echo received characters in command state.
    pub echo: bool,
    /// Longest command line body (after `AT`) accepted.
    pub max_line: usize,
}

impl Default for LineConfig {
    fn default() -> Self {
        Self { s3: b'\r', s5: 0x08, echo: true, max_line: 1024 }
    }
}

/// What a call to [`LineDiscipline::feed`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete command line; the bytes after the `AT` prefix, before S3.
    Line(Vec<u8>),
    /// `A/`: the caller repeats its last command line.
    Repeat,
    /// A command line that exceeded `max_line`; its bytes were discarded.
    LineTooLong,
    /// Part of a fixed-length payload.
    Data(Vec<u8>),
    /// The fixed-length payload is complete (all its `Data` have been delivered).
    DataEnd,
    /// Free text ended with Ctrl-Z (backspace edits already applied).
    Text(Vec<u8>),
    /// Free text entry cancelled with ESC.
    TextCancelled,
    /// A CR ended a line of free text entered with [`LineDiscipline::expect_text_lines`]:
    /// the caller prints the continuation prompt. The CR is kept in the text.
    TextNewLine,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    /// Command state, waiting for `A`.
    Idle,
    /// Saw `A`/`a`; waiting for `T` or `/`.
    GotA,
    /// Inside a command line after `AT`.
    InLine { overflow: bool },
    /// Fixed-length data entry: this many bytes still expected.
    Data { remaining: u64 },
    /// Free text entry up to Ctrl-Z, at most `max` bytes kept. With `lines`, a CR ends a
    /// line of the text ([`Event::TextNewLine`]) and an LF right after it is dropped
    /// (`after_cr`), as the LF after a command line's CR is.
    Text { max: usize, lines: bool, after_cr: bool },
    /// Unbounded data passed through up to Ctrl-Z (streamed uploads); ESC cancels when
    /// `esc` is set, else it is data. With `dle`, 0x03 makes the next Ctrl-Z, ESC or 0x03
    /// data (`held`: a 0x03 was the last byte so far).
    Stream { esc: bool, dle: bool, held: bool },
}

/// Bytes in, [`Event`]s out. See the module documentation.
#[derive(Debug, Clone)]
pub struct LineDiscipline {
    mode: Mode,
    /// The last command line ended with S3 (not itself LF) and no byte has come since: an
    /// LF next is part of that line's terminator, whatever mode the line opened.
    lf_pending: bool,
    buf: Vec<u8>,
    echo: Vec<u8>,
    /// Largest chunk handed out in one [`Event::Data`].
    data_chunk: usize,
}

impl Default for LineDiscipline {
    fn default() -> Self {
        Self::new()
    }
}

impl LineDiscipline {
    pub fn new() -> Self {
        Self { mode: Mode::Idle, lf_pending: false, buf: Vec::new(), echo: Vec::new(), data_chunk: 64 * 1024 }
    }

    /// Enter fixed-length data mode: the next `len` bytes are payload, not commands.
    /// A zero length produces [`Event::DataEnd`] on the next `feed`.
    pub fn expect_data(&mut self, len: u64) {
        self.buf.clear();
        self.mode = Mode::Data { remaining: len };
    }

    /// Enter free-text mode (`>>` prompt): bytes up to Ctrl-Z, ESC cancels, S5 erases.
    pub fn expect_text(&mut self, max: usize) {
        self.buf.clear();
        self.mode = Mode::Text { max, lines: false, after_cr: false };
    }

    /// Free text entry as 27.005 text-mode SMS entry has it: as [`Self::expect_text`], and
    /// each CR also produces [`Event::TextNewLine`] (the module prints another prompt).
    pub fn expect_text_lines(&mut self, max: usize) {
        self.buf.clear();
        self.mode = Mode::Text { max, lines: true, after_cr: false };
    }

    /// Enter streaming mode: every byte up to Ctrl-Z is payload, handed out as it arrives
    /// ([`Event::Data`]), then [`Event::DataEnd`] for the Ctrl-Z (which is not payload).
    /// With `esc_cancels`, ESC ends it with [`Event::TextCancelled`] instead.
    pub fn expect_stream(&mut self, esc_cancels: bool) {
        self.buf.clear();
        self.mode = Mode::Stream { esc: esc_cancels, dle: false, held: false };
    }

    /// As [`Self::expect_stream`], with the escape SIMCom's `AT+CIPSEND=<link>` Ctrl-Z form
    /// documents: 0x03 before a Ctrl-Z, an ESC or a 0x03 makes that byte data (the 0x03
    /// itself is dropped); a 0x03 before any other byte is data, as is that byte.
    pub fn expect_stream_escaped(&mut self, esc_cancels: bool) {
        self.buf.clear();
        self.mode = Mode::Stream { esc: esc_cancels, dle: true, held: false };
    }

    /// True while a `>`/`>>` data entry or a stream is in progress.
    pub fn in_data_mode(&self) -> bool {
        matches!(self.mode, Mode::Data { .. } | Mode::Text { .. } | Mode::Stream { .. })
    }

    /// The last command line ended with S3 and no byte has come since: an LF next would
    /// belong to its terminator (a caller that takes the following bytes itself, as the
    /// online data state does, drops it).
    pub fn lf_pending(&self) -> bool {
        self.lf_pending
    }

    /// True while part of a command line has been received but not its terminator.
    pub fn mid_line(&self) -> bool {
        matches!(self.mode, Mode::GotA | Mode::InLine { .. })
    }

    /// Echo bytes produced so far; the caller writes them before any response.
    pub fn take_echo(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.echo)
    }

    /// Abandon any data entry and partial line, back to command state.
    pub fn reset(&mut self) {
        self.mode = Mode::Idle;
        self.lf_pending = false;
        self.buf.clear();
    }

    /// Consume bytes from `input` up to and including the one that completes an event.
    /// Returns the number of bytes consumed and the event, if any. When no event is
    /// returned, all of `input` was consumed.
    ///
    /// Line endings: a command line ends at S3 (CR). If the very next byte the DTE sends
    /// is LF, that LF belongs to the line just ended (DTEs that end lines with CR LF, as
    /// Arduino `println` does), whenever it arrives and whatever state the line opened:
    /// in command state it is echoed like any other byte, in a `>`/`>>` data entry or a
    /// stream it is dropped, never taken as payload. Every other byte after the CR,
    /// including those sent before a prompt is printed, is interpreted in the state the
    /// line left.
    pub fn feed(&mut self, input: &[u8], cfg: &LineConfig) -> (usize, Option<Event>) {
        let mut skip = 0;
        if self.lf_pending && !input.is_empty() {
            self.lf_pending = false;
            if input[0] == LF {
                if cfg.echo && self.in_command_state() {
                    self.echo.push(LF);
                }
                skip = 1;
            }
        }
        let (n, ev) = self.feed_after_terminator(&input[skip..], cfg);
        (skip + n, ev)
    }

    fn in_command_state(&self) -> bool {
        matches!(self.mode, Mode::Idle | Mode::GotA | Mode::InLine { .. })
    }

    fn feed_after_terminator(&mut self, input: &[u8], cfg: &LineConfig) -> (usize, Option<Event>) {
        if let Mode::Data { remaining } = self.mode {
            return self.feed_data(input, remaining);
        }
        if let Mode::Stream { esc, dle, held } = self.mode {
            return if dle { self.feed_stream_escaped(input, esc, held) } else { self.feed_stream(input, esc) };
        }
        for (i, &b) in input.iter().enumerate() {
            if let Some(ev) = self.step(b, cfg) {
                if matches!(ev, Event::Line(_) | Event::LineTooLong) && cfg.s3 != LF {
                    self.lf_pending = true;
                }
                return (i + 1, Some(ev));
            }
            if let Mode::Data { remaining } = self.mode {
                // Cannot happen from `step`, but keep data bytes out of the command path.
                let (n, ev) = self.feed_data(&input[i + 1..], remaining);
                return (i + 1 + n, ev);
            }
        }
        (input.len(), None)
    }

    fn feed_data(&mut self, input: &[u8], remaining: u64) -> (usize, Option<Event>) {
        if remaining == 0 {
            self.mode = Mode::Idle;
            return (0, Some(Event::DataEnd));
        }
        if input.is_empty() {
            return (0, None);
        }
        let n = usize::try_from(remaining).unwrap_or(usize::MAX).min(input.len()).min(self.data_chunk);
        // `n` <= remaining, so this cannot underflow.
        self.mode = Mode::Data { remaining: remaining - n as u64 };
        (n, Some(Event::Data(input[..n].to_vec())))
    }

    fn feed_stream(&mut self, input: &[u8], esc: bool) -> (usize, Option<Event>) {
        match input.iter().position(|b| *b == SUB || (esc && *b == ESC)) {
            Some(0) => {
                self.mode = Mode::Idle;
                let ev = if input[0] == SUB { Event::DataEnd } else { Event::TextCancelled };
                (1, Some(ev))
            }
            Some(n) => {
                let n = n.min(self.data_chunk);
                (n, Some(Event::Data(input[..n].to_vec())))
            }
            None if input.is_empty() => (0, None),
            None => {
                let n = input.len().min(self.data_chunk);
                (n, Some(Event::Data(input[..n].to_vec())))
            }
        }
    }

    fn feed_stream_escaped(&mut self, input: &[u8], esc: bool, mut held: bool) -> (usize, Option<Event>) {
        let mut data = Vec::new();
        let mut used = 0;
        for &b in input {
            if data.len() >= self.data_chunk {
                break;
            }
            if held {
                held = false;
                if !matches!(b, SUB | ESC | ETX) {
                    data.push(ETX);
                }
                data.push(b);
            } else if b == ETX {
                held = true;
            } else if b == SUB || (esc && b == ESC) {
                if !data.is_empty() {
                    // The data first; the end on the next call.
                    break;
                }
                self.mode = Mode::Idle;
                return (used + 1, Some(if b == SUB { Event::DataEnd } else { Event::TextCancelled }));
            } else {
                data.push(b);
            }
            used += 1;
        }
        self.mode = Mode::Stream { esc, dle: true, held };
        (used, (!data.is_empty()).then_some(Event::Data(data)))
    }

    fn step(&mut self, b: u8, cfg: &LineConfig) -> Option<Event> {
        match self.mode {
            Mode::Text { max, lines, after_cr } => return self.step_text(b, max, lines, after_cr, cfg),
            Mode::Data { .. } | Mode::Stream { .. } => return None,
            _ => {}
        }
        if cfg.echo {
            self.echo.push(b);
        }
        match self.mode {
            Mode::Idle => {
                if b.eq_ignore_ascii_case(&b'a') {
                    self.mode = Mode::GotA;
                }
                None
            }
            Mode::GotA => {
                if b.eq_ignore_ascii_case(&b't') {
                    self.buf.clear();
                    self.mode = Mode::InLine { overflow: false };
                    None
                } else if b == b'/' {
                    self.mode = Mode::Idle;
                    Some(Event::Repeat)
                } else if b.eq_ignore_ascii_case(&b'a') {
                    None
                } else {
                    self.mode = Mode::Idle;
                    None
                }
            }
            Mode::InLine { overflow } => {
                if b == cfg.s3 {
                    self.mode = Mode::Idle;
                    let line = std::mem::take(&mut self.buf);
                    Some(if overflow { Event::LineTooLong } else { Event::Line(line) })
                } else if b == cfg.s5 {
                    self.buf.pop();
                    None
                } else if overflow || self.buf.len() >= cfg.max_line {
                    self.buf.clear();
                    self.mode = Mode::InLine { overflow: true };
                    None
                } else {
                    self.buf.push(b);
                    None
                }
            }
            Mode::Text { .. } | Mode::Data { .. } | Mode::Stream { .. } => None,
        }
    }

    fn step_text(&mut self, b: u8, max: usize, lines: bool, after_cr: bool, cfg: &LineConfig) -> Option<Event> {
        if lines {
            self.mode = Mode::Text { max, lines, after_cr: b == CR };
            if after_cr && b == LF {
                return None;
            }
        }
        match b {
            SUB => {
                self.mode = Mode::Idle;
                Some(Event::Text(std::mem::take(&mut self.buf)))
            }
            ESC => {
                self.mode = Mode::Idle;
                self.buf.clear();
                Some(Event::TextCancelled)
            }
            _ if b == cfg.s5 => {
                if self.buf.pop().is_some() && cfg.echo {
                    self.echo.push(b);
                }
                None
            }
            _ => {
                if self.buf.len() < max {
                    self.buf.push(b);
                    if cfg.echo {
                        self.echo.push(b);
                    }
                }
                (lines && b == CR).then_some(Event::TextNewLine)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ld: &mut LineDiscipline, input: &[u8], cfg: &LineConfig) -> Vec<Event> {
        let mut out = Vec::new();
        let mut rest = input;
        loop {
            let (n, ev) = ld.feed(rest, cfg);
            rest = &rest[n..];
            match ev {
                Some(e) => out.push(e),
                None if rest.is_empty() => break,
                None => {}
            }
        }
        out
    }

    #[test]
    fn simple_line_and_echo() {
        let cfg = LineConfig::default();
        let mut ld = LineDiscipline::new();
        assert_eq!(run(&mut ld, b"AT+CSQ\r", &cfg), vec![Event::Line(b"+CSQ".to_vec())]);
        assert_eq!(ld.take_echo(), b"AT+CSQ\r");
    }

    #[test]
    fn byte_by_byte() {
        let cfg = LineConfig::default();
        let mut ld = LineDiscipline::new();
        let mut events = Vec::new();
        for &b in b"xxat+cgmi\r\nAT\r" {
            let (n, ev) = ld.feed(&[b], &cfg);
            assert_eq!(n, 1);
            events.extend(ev);
        }
        assert_eq!(events, vec![Event::Line(b"+cgmi".to_vec()), Event::Line(Vec::new())]);
    }

    #[test]
    fn lowercase_prefix_and_garbage_before() {
        let cfg = LineConfig::default();
        let mut ld = LineDiscipline::new();
        assert_eq!(run(&mut ld, b"\0\xff\x01zaat\r", &cfg), vec![Event::Line(Vec::new())]);
    }

    #[test]
    fn backspace_edits() {
        let cfg = LineConfig::default();
        let mut ld = LineDiscipline::new();
        assert_eq!(run(&mut ld, b"AT+CSX\x08Q\r", &cfg), vec![Event::Line(b"+CSQ".to_vec())]);
    }

    #[test]
    fn custom_terminator_and_editing_char() {
        let cfg = LineConfig { s3: b'!', s5: b'#', ..LineConfig::default() };
        let mut ld = LineDiscipline::new();
        assert_eq!(run(&mut ld, b"ATE1#0\r!", &cfg), vec![Event::Line(b"E0\r".to_vec())]);
    }

    #[test]
    fn repeat() {
        let cfg = LineConfig::default();
        let mut ld = LineDiscipline::new();
        assert_eq!(run(&mut ld, b"A/", &cfg), vec![Event::Repeat]);
        assert_eq!(run(&mut ld, b"a/", &cfg), vec![Event::Repeat]);
    }

    #[test]
    fn no_echo() {
        let cfg = LineConfig { echo: false, ..LineConfig::default() };
        let mut ld = LineDiscipline::new();
        run(&mut ld, b"AT\r", &cfg);
        assert!(ld.take_echo().is_empty());
    }

    #[test]
    fn too_long_is_bounded() {
        let cfg = LineConfig { max_line: 16, ..LineConfig::default() };
        let mut ld = LineDiscipline::new();
        let mut input = b"AT".to_vec();
        input.extend(std::iter::repeat_n(b'x', 65536));
        assert_eq!(run(&mut ld, &input, &cfg), vec![]);
        assert!(ld.buf.capacity() <= 1024);
        assert_eq!(run(&mut ld, b"\rAT\r", &cfg), vec![Event::LineTooLong, Event::Line(vec![])]);
    }

    #[test]
    fn fixed_data_then_command() {
        let cfg = LineConfig::default();
        let mut ld = LineDiscipline::new();
        let input = b"AT+X\rAT\r\x1a\x1bAT\r";
        let (n, ev) = ld.feed(input, &cfg);
        assert_eq!(ev, Some(Event::Line(b"+X".to_vec())));
        ld.expect_data(6);
        let evs = run(&mut ld, &input[n..], &cfg);
        assert_eq!(evs, vec![Event::Data(b"AT\r\x1a\x1bA".to_vec()), Event::DataEnd]);
        // "T\r" left over is not a command line: no `A` before it.
        assert_eq!(run(&mut ld, b"AT\r", &cfg), vec![Event::Line(vec![])]);
    }

    #[test]
    fn stream_until_ctrl_z() {
        let cfg = LineConfig::default();
        let mut ld = LineDiscipline::new();
        ld.expect_stream(false);
        assert_eq!(run(&mut ld, b"ab\r\x1b", &cfg), vec![Event::Data(b"ab\r\x1b".to_vec())]);
        assert!(ld.in_data_mode());
        assert_eq!(
            run(&mut ld, b"cd\x1aAT\r", &cfg),
            vec![Event::Data(b"cd".to_vec()), Event::DataEnd, Event::Line(vec![])]
        );
        assert!(ld.take_echo().ends_with(b"AT\r"), "no echo of stream data");
        ld.expect_stream(true);
        assert_eq!(
            run(&mut ld, b"ab\x1bAT\r", &cfg),
            vec![Event::Data(b"ab".to_vec()), Event::TextCancelled, Event::Line(vec![])]
        );
    }

    #[test]
    fn escaped_stream_takes_ctrl_z_esc_and_etx_after_etx() {
        let cfg = LineConfig::default();
        let mut ld = LineDiscipline::new();
        ld.expect_stream_escaped(true);
        // 0x03 0x1A, 0x03 0x1B, 0x03 0x03: those bytes as data; 0x03 before anything else:
        // both bytes; then the Ctrl-Z that ends it.
        assert_eq!(
            run(&mut ld, b"a\x03\x1ab\x03\x1bc\x03\x03d\x03e\x1aAT\r", &cfg),
            vec![Event::Data(b"a\x1ab\x1bc\x03d\x03e".to_vec()), Event::DataEnd, Event::Line(vec![])]
        );
        // The escape split across two feeds.
        ld.expect_stream_escaped(true);
        assert_eq!(run(&mut ld, b"x\x03", &cfg), vec![Event::Data(b"x".to_vec())]);
        assert_eq!(run(&mut ld, b"\x1a", &cfg), vec![Event::Data(b"\x1a".to_vec())]);
        assert!(ld.in_data_mode());
        // A plain ESC still cancels.
        assert_eq!(run(&mut ld, b"y\x1b", &cfg), vec![Event::Data(b"y".to_vec()), Event::TextCancelled]);
        assert!(!ld.in_data_mode());
        // A plain stream keeps 0x03 as data and ends at the first Ctrl-Z.
        ld.expect_stream(true);
        assert_eq!(run(&mut ld, b"\x03\x1a", &cfg), vec![Event::Data(b"\x03".to_vec()), Event::DataEnd]);
    }

    #[test]
    fn lf_after_cr_belongs_to_the_line() {
        let cfg = LineConfig::default();
        // CR LF then data in the same chunk: the LF is not payload.
        let mut ld = LineDiscipline::new();
        let (n, ev) = ld.feed(b"AT+X=5\r\nhello", &cfg);
        assert_eq!(ev, Some(Event::Line(b"+X=5".to_vec())));
        ld.expect_data(5);
        assert_eq!(run(&mut ld, &b"AT+X=5\r\nhello"[n..], &cfg), vec![Event::Data(b"hello".to_vec()), Event::DataEnd]);
        // The LF arriving on its own, after the prompt: still part of the line.
        let mut ld = LineDiscipline::new();
        assert_eq!(run(&mut ld, b"AT+X\r", &cfg), vec![Event::Line(b"+X".to_vec())]);
        ld.expect_stream(true);
        assert_eq!(run(&mut ld, b"\n", &cfg), vec![]);
        assert_eq!(run(&mut ld, b"ab\x1a", &cfg), vec![Event::Data(b"ab".to_vec()), Event::DataEnd]);
        // Only one LF, only right after the CR: a later or a second LF is payload.
        let mut ld = LineDiscipline::new();
        run(&mut ld, b"AT+X\r", &cfg);
        ld.expect_data(3);
        assert_eq!(run(&mut ld, b"\n\nab", &cfg), vec![Event::Data(b"\nab".to_vec()), Event::DataEnd]);
        let mut ld = LineDiscipline::new();
        run(&mut ld, b"AT+X\r", &cfg);
        ld.expect_data(2);
        assert_eq!(run(&mut ld, b"a\nb", &cfg), vec![Event::Data(b"a\n".to_vec()), Event::DataEnd]);
        // Free text: the LF is neither kept nor echoed.
        let mut ld = LineDiscipline::new();
        run(&mut ld, b"AT+X\r", &cfg);
        ld.take_echo();
        ld.expect_text(10);
        assert_eq!(run(&mut ld, b"\nhi\x1a", &cfg), vec![Event::Text(b"hi".to_vec())]);
        assert_eq!(ld.take_echo(), b"hi");
        // In command state the LF is echoed as before.
        let mut ld = LineDiscipline::new();
        run(&mut ld, b"AT\r\nAT\r", &cfg);
        assert_eq!(ld.take_echo(), b"AT\r\nAT\r");
    }

    #[test]
    fn zero_length_data() {
        let cfg = LineConfig::default();
        let mut ld = LineDiscipline::new();
        ld.expect_data(0);
        assert_eq!(ld.feed(b"", &cfg), (0, Some(Event::DataEnd)));
        assert!(!ld.in_data_mode());
    }

    #[test]
    fn text_lines_prompt_at_each_cr() {
        let cfg = LineConfig { echo: false, ..LineConfig::default() };
        let mut ld = LineDiscipline::new();
        ld.expect_text_lines(100);
        assert_eq!(
            run(&mut ld, b"one\r\ntwo\rthree\x1a", &cfg),
            vec![Event::TextNewLine, Event::TextNewLine, Event::Text(b"one\rtwo\rthree".to_vec())]
        );
        ld.expect_text_lines(100);
        assert_eq!(run(&mut ld, b"a\n\nb\x1a", &cfg), vec![Event::Text(b"a\n\nb".to_vec())]);
    }

    #[test]
    fn text_mode() {
        let cfg = LineConfig::default();
        let mut ld = LineDiscipline::new();
        ld.expect_text(10);
        assert_eq!(run(&mut ld, b"Hellx\x08o\x1a", &cfg), vec![Event::Text(b"Hello".to_vec())]);
        ld.expect_text(3);
        assert_eq!(run(&mut ld, b"abcdef\x1a", &cfg), vec![Event::Text(b"abc".to_vec())]);
        ld.expect_text(3);
        assert_eq!(run(&mut ld, b"ab\x1bAT\r", &cfg), vec![Event::TextCancelled, Event::Line(vec![])]);
    }
}
