//! Splits filter text into tokens: words (identifiers, keywords, function names), `'string'`
//! literals with `''` escapes, signed integers, `(`, `)` and `,`.

use std::ops::Range;

use super::FilterError;

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TokenKind {
    /// A name: an identifier, keyword or function; its text is the token's span.
    Word,
    /// A string literal, unescaped.
    Str(String),
    /// An integer literal.
    Int(i64),
    /// `(`
    Open,
    /// `)`
    Close,
    /// `,`
    Comma,
    /// The end of the filter (an empty span at its end).
    End,
}

/// One token and where it is.
#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) kind: TokenKind,
    /// Byte offsets into the filter.
    pub(super) span: Range<usize>,
}

/// All tokens of `text`, ending with [`TokenKind::End`].
pub(super) fn tokenize(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let kind = match c {
            '(' | ')' | ',' => {
                chars.next();
                match c {
                    '(' => TokenKind::Open,
                    ')' => TokenKind::Close,
                    _ => TokenKind::Comma,
                }
            }
            '\'' => {
                chars.next();
                string(text, start, &mut chars)?
            }
            '+' | '-' | '0'..='9' => {
                chars.next();
                integer(text, start, &mut chars)?
            }
            c if c.is_alphabetic() || c == '_' => {
                while chars.next_if(|&(_, c)| is_word_char(c)).is_some() {}
                TokenKind::Word
            }
            _ => {
                let end = start + c.len_utf8();
                return Err(FilterError::at(
                    text,
                    start..end,
                    format!("unexpected character '{c}'"),
                ));
            }
        };
        let end = chars.peek().map_or(text.len(), |&(i, _)| i);
        tokens.push(Token {
            kind,
            span: start..end,
        });
    }
    tokens.push(Token {
        kind: TokenKind::End,
        span: text.len()..text.len(),
    });
    Ok(tokens)
}

type Chars<'t> = std::iter::Peekable<std::str::CharIndices<'t>>;

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The rest of a `'...'` literal opened at `start`; `''` inside stands for one quote.
fn string(text: &str, start: usize, chars: &mut Chars<'_>) -> Result<TokenKind, FilterError> {
    let mut value = String::new();
    loop {
        match chars.next() {
            Some((_, '\'')) => {
                if chars.next_if(|&(_, c)| c == '\'').is_none() {
                    return Ok(TokenKind::Str(value));
                }
                value.push('\'');
            }
            Some((_, c)) => value.push(c),
            None => {
                return Err(FilterError::at(
                    text,
                    start..text.len(),
                    "unterminated string literal; strings are quoted with ' and a quote inside is written ''",
                ));
            }
        }
    }
}

/// The rest of an optionally signed run of digits starting at `start`, which must not run into
/// a word.
fn integer(text: &str, start: usize, chars: &mut Chars<'_>) -> Result<TokenKind, FilterError> {
    while chars.next_if(|&(_, c)| c.is_ascii_digit()).is_some() {}
    let end = chars.peek().map_or(text.len(), |&(i, _)| i);
    let literal = &text[start..end];
    if literal == "+" || literal == "-" {
        return Err(FilterError::at(
            text,
            start..end,
            format!("unexpected character '{literal}'; a sign must be followed by digits"),
        ));
    }
    if chars.peek().is_some_and(|&(_, c)| is_word_char(c)) {
        while chars.next_if(|&(_, c)| is_word_char(c)).is_some() {}
        let end = chars.peek().map_or(text.len(), |&(i, _)| i);
        return Err(FilterError::at(
            text,
            start..end,
            "invalid number; integers are digits with an optional sign",
        ));
    }
    literal.parse().map(TokenKind::Int).map_err(|_| {
        FilterError::at(
            text,
            start..end,
            "integer literal out of range (64-bit signed)",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        tokenize(text)
            .expect("tokenizes")
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn splits_words_literals_and_punctuation() {
        assert_eq!(
            kinds("f(x,'a''b') -12 +3"),
            vec![
                TokenKind::Word,
                TokenKind::Open,
                TokenKind::Word,
                TokenKind::Comma,
                TokenKind::Str("a'b".to_owned()),
                TokenKind::Close,
                TokenKind::Int(-12),
                TokenKind::Int(3),
                TokenKind::End,
            ]
        );
    }

    #[test]
    fn spans_are_byte_ranges() {
        let tokens = tokenize("é eq 'ü'").expect("tokenizes");
        let spans: Vec<_> = tokens.iter().map(|t| t.span.clone()).collect();
        assert_eq!(spans, vec![0..2, 3..5, 6..10, 10..10]);
    }

    #[test]
    fn rejects_bad_characters_and_numbers() {
        let err = tokenize("userId eq 'a' & x").unwrap_err();
        assert_eq!((err.position, err.near.as_str()), (14, "&"));
        let err = tokenize("1x").unwrap_err();
        assert_eq!(err.near, "1x");
        let err = tokenize("99999999999999999999").unwrap_err();
        assert!(err.message.contains("out of range"));
        let err = tokenize("- 1").unwrap_err();
        assert!(err.message.contains("sign"));
    }
}
