//! [`FilterError`]: why a filter was rejected, where, and near which token.

use std::ops::Range;

use super::MAX_FILTER_BYTES;

/// Most characters of the filter an error repeats, so a huge filter can't make a huge message.
const SHOWN_FILTER_CHARS: usize = 256;
/// Most characters of the offending token an error repeats.
const SHOWN_NEAR_CHARS: usize = 40;

/// A filter that can't be parsed or doesn't type-check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Invalid syntax for '{filter}' at position {position} near {}: {message}",
    near_text(.near)
)]
pub struct FilterError {
    /// Where the problem starts: a 0-based character offset into the filter.
    pub position: usize,
    /// What was wrong or expected there.
    pub message: String,
    /// The filter, shortened to its first 256 characters.
    pub filter: String,
    /// The token or expression at `position`; empty at the end of the filter.
    pub near: String,
}

impl FilterError {
    /// An error about the bytes `span` of `text`.
    pub(super) fn at(text: &str, span: Range<usize>, message: impl Into<String>) -> FilterError {
        FilterError {
            position: text[..span.start].chars().count(),
            message: message.into(),
            filter: shorten(text, SHOWN_FILTER_CHARS),
            near: shorten(&text[span], SHOWN_NEAR_CHARS),
        }
    }

    /// The error for a filter longer than [`MAX_FILTER_BYTES`].
    pub(super) fn too_long(text: &str) -> FilterError {
        let mut cut = MAX_FILTER_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        FilterError::at(
            text,
            cut..cut,
            format!("a filter may be at most {MAX_FILTER_BYTES} bytes long"),
        )
    }
}

/// `text` cut to at most `max` characters, marked with `...` when cut.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

fn near_text(near: &str) -> String {
    if near.is_empty() {
        "the end".to_owned()
    } else {
        format!("'{near}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_filter_and_token() {
        let err = FilterError::at("userId eq 1", 10..11, "no");
        assert_eq!(
            err.to_string(),
            "Invalid syntax for 'userId eq 1' at position 10 near '1': no"
        );
    }

    #[test]
    fn position_counts_characters_and_end_is_named() {
        let text = "'ü' eq";
        let err = FilterError::at(text, text.len()..text.len(), "expected a value after 'eq'");
        assert_eq!(err.position, 6);
        assert!(
            err.to_string()
                .contains("at position 6 near the end: expected")
        );
    }

    #[test]
    fn long_filters_are_shortened() {
        let text = "x".repeat(5000);
        let err = FilterError::too_long(&text);
        assert_eq!(err.position, MAX_FILTER_BYTES);
        assert_eq!(err.filter.len(), SHOWN_FILTER_CHARS + 3);
        assert!(err.filter.ends_with("..."));
    }
}
