//! Writing a record so that a full disk loses nothing: each line is serialised whole before any
//! byte of it is written; a line the disk refuses is kept in memory, in order, with every line
//! after it, and written as soon as the disk takes it again. A record file never holds half a
//! line: a write that failed part-way is cut back to the last whole line.

use std::io::{Seek, SeekFrom, Write};

use super::RecordLine;

/// Most bytes of lines kept in memory while the record cannot be written: hours of a busy
/// Docker session. Past it, later lines are dropped and the record ends early (it still reads).
pub const BACKLOG_MAX_BYTES: usize = 256 << 20;

/// Where the lines go.
enum Sink {
    /// Any writer (memory, a pipe, nowhere): one that fails part-way cannot be cut back.
    Stream(Box<dyn Write + Send>),
    /// A file, cut back to its last whole line (`whole` bytes) when a write fails part-way.
    File { file: std::fs::File, whole: u64 },
}

/// How the writing of a record stands, for the session's host to tell the trainee.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordHealth {
    /// Lines kept in memory because the disk refused them.
    pub waiting: u64,
    /// Lines dropped because too many waited (the record ends early).
    pub dropped: u64,
    /// Why the last write failed, while lines wait.
    pub why: Option<String>,
}

impl RecordHealth {
    pub fn is_ok(&self) -> bool {
        self.waiting == 0 && self.dropped == 0
    }

    /// Where the writing stands, in the few states a trainee is told about.
    pub fn state(&self) -> RecordState {
        match (self.waiting, self.dropped) {
            (0, _) => RecordState::Writing,
            (_, 0) => RecordState::Waiting,
            _ => RecordState::Dropping,
        }
    }
}

/// Where the writing of a record stands: each change is worth a word to the trainee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordState {
    /// Every line so far is written.
    #[default]
    Writing,
    /// The disk refuses lines; they wait in memory.
    Waiting,
    /// So many wait that later ones are dropped: the record will end early.
    Dropping,
}

/// Appends lines to a sink, flushing each one so that nothing is lost if the run dies.
pub struct RecordWriter {
    sink: Sink,
    /// Whole lines not written yet, oldest first.
    backlog: Vec<u8>,
    waiting: u64,
    dropped: u64,
    /// Why the backlog could not be written, while it cannot.
    stalled: Option<std::io::Error>,
    lines: u64,
}

impl std::fmt::Debug for RecordWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordWriter")
            .field("lines", &self.lines)
            .field("waiting", &self.waiting)
            .finish()
    }
}

impl RecordWriter {
    pub fn new(sink: Box<dyn Write + Send>) -> Self {
        Self::with(Sink::Stream(sink))
    }

    /// A writer to a file: a write the disk refuses part-way is cut back to the last whole
    /// line, and the lines wait in memory until the disk takes them.
    pub fn file(file: std::fs::File) -> std::io::Result<Self> {
        let mut file = file;
        let whole = file.seek(SeekFrom::End(0))?;
        Ok(Self::with(Sink::File { file, whole }))
    }

    fn with(sink: Sink) -> Self {
        RecordWriter {
            sink,
            backlog: Vec::new(),
            waiting: 0,
            dropped: 0,
            stalled: None,
            lines: 0,
        }
    }

    /// A writer that keeps nothing (benchmarks).
    pub fn discard() -> Self {
        Self::new(Box::new(std::io::sink()))
    }

    pub fn write(&mut self, line: &RecordLine) {
        let before = self.backlog.len();
        if before >= BACKLOG_MAX_BYTES {
            self.dropped += 1;
            return;
        }
        match serde_json::to_writer(&mut self.backlog, line) {
            Ok(()) => {
                self.backlog.push(b'\n');
                self.waiting += 1;
            }
            // Nothing in a record line fails to serialise; if one did, it is left out whole.
            Err(_) => self.backlog.truncate(before),
        }
        self.write_backlog();
    }

    /// Write what waits, all of it or none of it.
    fn write_backlog(&mut self) {
        if self.backlog.is_empty() {
            return;
        }
        let written = match &mut self.sink {
            Sink::Stream(sink) => sink.write_all(&self.backlog).and_then(|()| sink.flush()),
            Sink::File { file, whole } => match file.write_all(&self.backlog) {
                Ok(()) => {
                    *whole += self.backlog.len() as u64;
                    Ok(())
                }
                Err(e) => {
                    // Cut back to the last whole line and write from there next time.
                    let _ = file.set_len(*whole);
                    let _ = file.seek(SeekFrom::Start(*whole));
                    Err(e)
                }
            },
        };
        match written {
            Ok(()) => {
                self.lines += self.waiting;
                self.waiting = 0;
                self.backlog.clear();
                self.stalled = None;
            }
            Err(e) => self.stalled = Some(e),
        }
    }

    /// Lines waiting, dropped, and why.
    pub fn health(&self) -> RecordHealth {
        RecordHealth {
            waiting: self.waiting,
            dropped: self.dropped,
            why: self.stalled.as_ref().map(ToString::to_string),
        }
    }

    /// At the end: write what waits one last time; an error when lines could not be written
    /// (still waiting, or dropped), with why.
    pub fn take_error(&mut self) -> Option<std::io::Error> {
        self.write_backlog();
        if self.waiting == 0 && self.dropped == 0 {
            return None;
        }
        let why = self
            .stalled
            .as_ref()
            .map_or_else(|| "too many lines waited".to_string(), ToString::to_string);
        Some(std::io::Error::other(format!(
            "{} line(s) could not be written ({} kept until the end, {} dropped): {why}",
            self.waiting + self.dropped,
            self.waiting,
            self.dropped
        )))
    }

    /// Lines written to the sink so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        // A last chance for lines that waited: the disk may have room by now.
        self.write_backlog();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Millis;
    use crate::phase::Phase;

    /// A sink that refuses writes while `full`, after taking part of them.
    #[derive(Clone, Default)]
    struct Flaky {
        bytes: std::sync::Arc<std::sync::Mutex<(Vec<u8>, bool)>>,
    }

    impl Write for Flaky {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut b = self.bytes.lock().unwrap();
            if b.1 {
                return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
            }
            b.0.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn phase(t_ms: Millis) -> RecordLine {
        RecordLine::Phase {
            t_ms,
            phase: Phase::Live,
        }
    }

    #[test]
    fn lines_refused_wait_in_order_and_are_written_when_the_sink_takes_them() {
        let flaky = Flaky::default();
        let mut w = RecordWriter::new(Box::new(flaky.clone()));
        w.write(&phase(1));
        flaky.bytes.lock().unwrap().1 = true;
        w.write(&phase(2));
        w.write(&phase(3));
        let health = w.health();
        assert_eq!(health.waiting, 2);
        assert!(health.why.is_some() && !health.is_ok());
        flaky.bytes.lock().unwrap().1 = false;
        w.write(&phase(4));
        assert!(w.health().is_ok());
        assert!(w.take_error().is_none());
        let text = String::from_utf8(flaky.bytes.lock().unwrap().0.clone()).unwrap();
        let times: Vec<&str> = text
            .lines()
            .map(|l| &l[l.find("t_ms").unwrap()..])
            .collect();
        assert_eq!(times.len(), 4);
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
        assert_eq!(w.lines(), 4);
    }

    #[test]
    fn lines_still_waiting_at_the_end_are_an_error_that_counts_them() {
        let flaky = Flaky::default();
        let mut w = RecordWriter::new(Box::new(flaky.clone()));
        flaky.bytes.lock().unwrap().1 = true;
        w.write(&phase(1));
        let e = w.take_error().expect("a line waits");
        assert!(
            e.to_string().contains("1 line(s) could not be written"),
            "{e}"
        );
    }
}
