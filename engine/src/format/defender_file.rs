//! Scripted defender files (`bulkhead run --defender FILE`): a RON list of `TimedCommand`s,
//! parsed and checked with the same located diagnostics as scenarios and topologies.

use std::path::Path;

use crate::defender::TimedCommand;
use crate::format::load::{LoadError, SourceFile};

/// Parse a defender script from its text. `path` names the file in diagnostics. Syntax errors
/// and semantic ones (a time that is not a finite number of seconds from 0 up) name
/// file:line:column and show the offending text.
pub fn parse_defender_file(text: &str, path: &str) -> Result<Vec<TimedCommand>, LoadError> {
    defender_from_source(&SourceFile::new(path, text))
}

/// Read and parse a defender script file (a file that is not UTF-8 is a located error too).
pub fn read_defender_file(path: &Path) -> Result<Vec<TimedCommand>, LoadError> {
    defender_from_source(&SourceFile::read(path)?)
}

/// Parse and check an already read defender script.
pub fn defender_from_source(file: &SourceFile) -> Result<Vec<TimedCommand>, LoadError> {
    let commands: Vec<TimedCommand> = file.parse("defender script")?;
    // Each command writes `at_s` once, in order: the n-th `at_s` of the file is the n-th
    // command's (comments naming at_s could shift this; the message still names the value).
    let mut at = file.text.match_indices("at_s").map(|(i, _)| i);
    let mut problems = Vec::new();
    for (n, c) in commands.iter().enumerate() {
        let start = at.next().unwrap_or(0);
        if !c.at_s.is_finite() || c.at_s < 0.0 {
            let end = file.text[start..]
                .find([',', ')'])
                .map_or(file.text.len(), |i| start + i);
            problems.push(file.error(
                start..end,
                format!(
                    "command {} runs at {} s, which is not a time in the live phase",
                    n + 1,
                    c.at_s
                ),
                "this time",
                Some("write at_s as seconds from the start of the live phase: 0 or more".into()),
            ));
        }
    }
    if problems.is_empty() {
        Ok(commands)
    } else {
        Err(LoadError::from_problems(file, problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_script_parses() {
        let text = "[\n  TimedCommand(at_s: 40.0, command: Hint),\n  TimedCommand(at_s: 41.5, command: Attribute(entity: Source(\"198.51.100.23\"))),\n]\n";
        let commands = parse_defender_file(text, "d.ron").unwrap();
        assert_eq!(commands.len(), 2);
        assert_eq!(commands[1].at_s, 41.5);
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let text = "[\n  TimedCommand(at_s: 1.0, command: Explode),\n]\n";
        let err = parse_defender_file(text, "d.ron").unwrap_err().to_string();
        assert!(err.starts_with("d.ron:2:"), "{err}");
    }

    #[test]
    fn negative_and_infinite_times_are_located() {
        let text = "[\n  TimedCommand(at_s: 1.0, command: Hint),\n  TimedCommand(at_s: -3.0, command: Hint),\n]\n";
        let err = parse_defender_file(text, "d.ron").unwrap_err().to_string();
        assert!(err.starts_with("d.ron:3:16:"), "{err}");
        assert!(err.contains("-3"), "{err}");
        let text = "[TimedCommand(at_s: inf, command: Hint)]";
        let err = parse_defender_file(text, "d.ron").unwrap_err().to_string();
        assert!(err.starts_with("d.ron:1:15:"), "{err}");
    }
}
