//! kubeadm's question before a reset, answered on standard input.

use crate::workflow::PhaseError;
use std::io::{BufRead, Write};

pub const PROMPT: &str = "[reset] Are you sure you want to proceed? [y/N]: ";

/// Asks on `out` and reads one answer from `input`: y or yes (any case) goes on, anything else stops
/// the run before it changes anything. No answer at all (input closed, or not a terminal and empty)
/// is a stop that names `-f`, since that is how scripts run reset.
/// `typed` is true when the answer comes from a terminal, whose echo already ends the prompt's line.
pub fn ask(input: &mut dyn BufRead, out: &mut dyn Write, typed: bool) -> Result<(), PhaseError> {
    let _ = write!(out, "{PROMPT}");
    let _ = out.flush();
    let mut answer = String::new();
    let read = input.read_line(&mut answer);
    if !typed {
        let _ = writeln!(out);
    }
    match read {
        Ok(0) => Err(PhaseError::Failed(
            "aborted reset operation: no answer on standard input (closed or not a terminal); \
             give -f (--force) to reset without being asked"
                .into(),
        )),
        Err(e) => Err(PhaseError::Failed(format!(
            "aborted reset operation: cannot read the answer from standard input ({e}); \
             give -f (--force) to reset without being asked"
        ))),
        Ok(_) if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") => Ok(()),
        Ok(_) => Err(PhaseError::Failed(format!(
            "aborted reset operation: the answer was {:?}, not y or yes; nothing was changed",
            answer.trim()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(text: &str) -> Result<(), PhaseError> {
        let mut out = Vec::new();
        let result = ask(&mut text.as_bytes(), &mut out, false);
        assert!(String::from_utf8(out).unwrap().starts_with(PROMPT));
        result
    }

    #[test]
    fn only_y_or_yes_goes_on() {
        for yes in ["y\n", "Y\n", "yes\n", " YES \n", "y"] {
            assert!(answer(yes).is_ok(), "{yes:?}");
        }
        for no in ["n\n", "\n", "yep\n", "no\n"] {
            let err = answer(no).unwrap_err().to_string();
            assert!(err.contains("aborted reset operation"), "{err}");
        }
        let err = answer("").unwrap_err().to_string();
        assert!(err.contains("-f (--force)"), "{err}");
    }
}
