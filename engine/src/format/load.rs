//! Reading RON files into scenarios and topologies, with diagnostics that name
//! file:line:column, show the offending text and say what to do.

use std::path::Path;

use miette::{Diagnostic, NamedSource, SourceSpan};
use serde::de::DeserializeOwned;

/// Where in a file something is (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A problem in a data file, pointing at the offending text.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{location}: {message}")]
pub struct FormatError {
    pub message: String,
    pub location: Location,
    #[source_code]
    pub source_code: NamedSource<String>,
    #[label("{label}")]
    pub span: SourceSpan,
    pub label: String,
    #[help]
    pub help: Option<String>,
}

/// Anything that can go wrong loading data files.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    #[diagnostic(help("check the path; `bulkhead list` shows the scenarios it can find"))]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Format(Box<FormatError>),
    #[error("{first}, and {more} more problem(s) in {file}")]
    Invalid {
        file: String,
        first: Box<FormatError>,
        more: usize,
        #[related]
        errors: Vec<FormatError>,
    },
    #[error("{0}")]
    #[diagnostic(help(
        "`bulkhead list` shows the scenarios there are; add your own to the user's data folder \
         (e.g. ~/.local/share/bulkhead/scenarios/ and topologies/), or set BULKHEAD_DATA to a \
         folder holding scenarios/ and labs/topologies/"
    ))]
    NotFound(String),
}

impl LoadError {
    /// One error for a file's list of problems (which must not be empty).
    pub fn from_problems(file: &SourceFile, mut errors: Vec<FormatError>) -> Self {
        if errors.len() == 1 {
            return LoadError::Format(Box::new(errors.remove(0)));
        }
        let first = Box::new(errors.remove(0));
        LoadError::Invalid {
            file: file.name.clone(),
            more: errors.len(),
            first,
            errors,
        }
    }
}

impl From<FormatError> for LoadError {
    fn from(e: FormatError) -> Self {
        LoadError::Format(Box::new(e))
    }
}

/// The text of one data file, kept for pointing into it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

impl SourceFile {
    pub fn read(path: &Path) -> Result<Self, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(path.display().to_string(), bytes)
    }

    /// A file's text from its raw bytes. Text that is not UTF-8 is an error located at the
    /// first bad byte (line:column and byte offset), so the author can find it in an editor.
    pub fn from_bytes(name: impl Into<String>, bytes: Vec<u8>) -> Result<Self, LoadError> {
        let name = name.into();
        match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceFile { name, text }),
            Err(e) => {
                let bad = e.utf8_error();
                let offset = bad.valid_up_to();
                let len = bad.error_len().unwrap_or(e.as_bytes().len() - offset);
                let value = e.as_bytes()[offset..offset + len]
                    .iter()
                    .map(|b| format!("0x{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                // Show the file as far as it can be shown; the valid prefix keeps its offsets,
                // so the span and the line:column still point at the bad byte.
                let file = SourceFile {
                    name,
                    text: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                };
                let at = file.location_of_prefix(&e.as_bytes()[..offset]);
                let mut err = file.error(
                    offset..offset,
                    format!(
                        "not UTF-8 text: {} {value} at byte offset {offset}",
                        if len == 1 { "byte" } else { "bytes" }
                    ),
                    "first byte that is not UTF-8",
                    Some(
                        "save the file as UTF-8 (data files are UTF-8 RON); the byte may come \
                         from a copy-paste or an editor set to another encoding"
                            .to_string(),
                    ),
                );
                err.location = at;
                Err(err.into())
            }
        }
    }

    /// Location just after a valid UTF-8 prefix of this file's bytes.
    fn location_of_prefix(&self, prefix: &[u8]) -> Location {
        let before = std::str::from_utf8(prefix).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            file: self.name.clone(),
            line,
            column: before[line_start..].chars().count() + 1,
        }
    }

    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        SourceFile {
            name: name.into(),
            text: text.into(),
        }
    }

    /// Byte offset of a 1-based line and column (clamped to the text).
    pub fn offset_of(&self, line: usize, column: usize) -> usize {
        let mut offset = 0;
        for (i, l) in self.text.split_inclusive('\n').enumerate() {
            if i + 1 == line {
                let col_bytes: usize = l
                    .chars()
                    .take(column.saturating_sub(1))
                    .map(char::len_utf8)
                    .sum();
                return (offset + col_bytes).min(self.text.len());
            }
            offset += l.len();
        }
        self.text.len()
    }

    /// The nearest char boundary at or before `offset` (clamped to the text), so that a
    /// computed offset can never slice through a multibyte character.
    pub fn floor_boundary(&self, offset: usize) -> usize {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }

    /// The nearest char boundary at or after `offset` (clamped to the text).
    pub fn ceil_boundary(&self, offset: usize) -> usize {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset += 1;
        }
        offset
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn location_of(&self, offset: usize) -> Location {
        let offset = self.floor_boundary(offset);
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.text[line_start..offset].chars().count() + 1;
        Location {
            file: self.name.clone(),
            line,
            column,
        }
    }

    /// An error at a byte span of this file.
    pub fn error(
        &self,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
        label: impl Into<String>,
        help: Option<String>,
    ) -> FormatError {
        // Spans are widened to char boundaries: miette slices the source with them.
        let start = self.floor_boundary(span.start);
        let end = self.ceil_boundary(span.end.max(start));
        FormatError {
            message: message.into(),
            location: self.location_of(start),
            source_code: NamedSource::new(self.name.clone(), self.text.clone()),
            span: (start, end - start).into(),
            label: label.into(),
            help,
        }
    }

    /// Find where a value sits: the first `needle` after the first `anchor` (when given).
    /// Semantic errors have no parser span, so they point at the offending text this way.
    pub fn find(&self, anchor: Option<&str>, needle: &str) -> std::ops::Range<usize> {
        // Both offsets come from `str::find` on the same text, so they are char boundaries.
        let from = anchor.and_then(|a| self.text.find(a)).unwrap_or_default();
        match self.text.get(from..).and_then(|rest| rest.find(needle)) {
            Some(i) => from + i..from + i + needle.len(),
            None => match self.text.find(needle) {
                Some(i) => i..i + needle.len(),
                None => from..from,
            },
        }
    }

    /// Deserialize the whole file, turning parser errors into located diagnostics.
    pub fn parse<T: DeserializeOwned>(&self, what: &str) -> Result<T, LoadError> {
        ron::Options::default()
            .from_str::<T>(&self.text)
            .map_err(|e| self.ron_error(e, what).into())
    }

    fn ron_error(&self, e: ron::error::SpannedError, what: &str) -> FormatError {
        let start = self.offset_of(e.span.start.line, e.span.start.col);
        let mut end = self.offset_of(e.span.end.line, e.span.end.col);
        if end <= start {
            // Point at the token at the error position, at least one whole character of it:
            // the character there may be multibyte (or a multibyte space).
            let rest = &self.text[start..];
            let first = rest.chars().next().map_or(0, char::len_utf8);
            end = rest
                .find(|c: char| c.is_whitespace() || c == ',' || c == ')')
                .map_or(self.text.len(), |i| start + i.max(first));
        }
        let code = e.code.to_string();
        let help = help_for(&code, what);
        self.error(start..end, format!("invalid {what}: {code}"), "here", help)
    }
}

fn help_for(code: &str, what: &str) -> Option<String> {
    let lower = code.to_lowercase();
    let text = if lower.contains("unexpected end") || lower.contains("eof") {
        "the file ends too early: a bracket or parenthesis is not closed".to_string()
    } else if lower.contains("unknown field") || lower.contains("no field") {
        format!("check the spelling against the {what} format reference in README.md")
    } else if lower.contains("unknown variant") {
        "use one of the listed variants".to_string()
    } else if lower.contains("expected") {
        format!("check the value's type against the {what} format reference in README.md")
    } else {
        format!("see the {what} format reference in README.md")
    };
    Some(text)
}

/// Parse a RON file of any serde type (used for scripted defenders too).
pub fn parse_file<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T, LoadError> {
    let file = SourceFile::read(path)?;
    file.parse(what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_is_not_utf8_is_located_at_its_first_bad_byte() {
        // "é" is fine; 0xff on line 2, after two characters, is not.
        let bytes = b"Topology(\n  \xc3\xa9x\xff id: 1)\n".to_vec();
        let err = SourceFile::from_bytes("t.ron", bytes).unwrap_err();
        let LoadError::Format(f) = &err else {
            panic!("expected a located error, got {err:?}");
        };
        assert_eq!((f.location.line, f.location.column), (2, 5));
        assert_eq!(f.span.offset(), 15);
        let text = err.to_string();
        assert!(text.starts_with("t.ron:2:5: not UTF-8"), "{text}");
        assert!(
            text.contains("0xff") && text.contains("byte offset 15"),
            "{text}"
        );
    }

    #[test]
    fn a_truncated_multibyte_character_at_the_end_is_located() {
        let err = SourceFile::from_bytes("t.ron", b"ab\n\xe2\x82".to_vec()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("t.ron:2:1: not UTF-8 text: bytes 0xe2 0x82 at byte offset 3"),
            "{text}"
        );
    }

    #[test]
    fn offsets_inside_a_character_are_moved_to_its_boundaries() {
        let f = SourceFile::new("x", "a€b");
        assert_eq!(f.location_of(2).column, 2);
        let e = f.error(2..3, "m", "l", None);
        assert_eq!((e.span.offset(), e.span.len()), (1, 3));
    }

    #[test]
    fn parse_errors_at_a_multibyte_character_span_the_whole_character() {
        let f = SourceFile::new("x", "(a: \u{a0}1)");
        let err = f.parse::<std::collections::BTreeMap<String, u32>>("map");
        let LoadError::Format(e) = err.unwrap_err() else {
            panic!("expected a format error");
        };
        let start = e.span.offset();
        assert!(f.text.is_char_boundary(start) && f.text.is_char_boundary(start + e.span.len()));
    }
}
