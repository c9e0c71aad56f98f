//! Building readable error texts out of details that come from elsewhere (a client's error, a
//! library's message): a detail that already ends a sentence gets no second full stop.

use std::fmt::Display;

/// `detail` as the end of a sentence: a full stop is added unless the text (ignoring trailing
/// white space) already ends with `.`, `!` or `?`, so `Boom.` never becomes `Boom..`.
pub fn sentence_end(detail: impl Display) -> String {
    let text = detail.to_string();
    let trimmed = text.trim_end();
    if trimmed.ends_with(['.', '!', '?']) {
        trimmed.to_owned()
    } else {
        format!("{trimmed}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_a_full_stop_only_where_none_is() {
        assert_eq!(sentence_end("Boom"), "Boom.");
        assert_eq!(sentence_end("Boom."), "Boom.");
        assert_eq!(sentence_end("Boom. "), "Boom.");
        assert_eq!(sentence_end("Really?"), "Really?");
        assert_eq!(sentence_end("Stop!"), "Stop!");
        assert_eq!(sentence_end(""), ".");
        assert_eq!(sentence_end(42), "42.");
    }
}
