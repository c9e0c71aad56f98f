//! The typed expression tree a filter compiles to, and its evaluation against one connection.
//!
//! Every node has one static type, so evaluation never meets a type mismatch. Strings are
//! `Cow`s borrowing from the connection or the filter; only `tolower`/`toupper` of text that
//! changes and `concat` allocate.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::ops::Range;

use super::Subject;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    const ALL: [CompareOp; 6] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    /// The operator spelled `word` (ASCII case-insensitively).
    pub(super) fn from_word(word: &str) -> Option<CompareOp> {
        CompareOp::ALL
            .into_iter()
            .find(|op| op.name().eq_ignore_ascii_case(word))
    }

    /// The operator as written in filters.
    pub(super) fn name(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// Whether this is `eq` or `ne`, which every type and null support.
    pub(super) fn is_equality(self) -> bool {
        matches!(self, CompareOp::Eq | CompareOp::Ne)
    }

    fn holds(self, a: &Value<'_>, b: &Value<'_>) -> bool {
        match self {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            // Ordering with null is false, whichever way round.
            _ => a.order(b).is_some_and(|ord| match self {
                CompareOp::Gt => ord == Ordering::Greater,
                CompareOp::Ge => ord != Ordering::Less,
                CompareOp::Lt => ord == Ordering::Less,
                _ => ord != Ordering::Greater,
            }),
        }
    }
}

/// A bool-valued expression: what a filter is.
#[derive(Debug, Clone)]
pub(super) enum Cond {
    Const(bool),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Compare(CompareOp, Operand, Operand),
    /// `x in (a, b, ...)`: `x eq a or x eq b ...`, with `x` evaluated once.
    InList(Operand, Vec<Operand>),
    /// `x in groups`.
    InGroups(StrExpr),
    /// `startswith`, `endswith`, `contains`; false when either side is null.
    Text(TextTest, StrExpr, StrExpr),
}

/// A bool function of two strings.
#[derive(Debug, Clone, Copy)]
pub(super) enum TextTest {
    StartsWith,
    EndsWith,
    Contains,
}

/// One side of a comparison or `in`, of a statically known type.
#[derive(Debug, Clone)]
pub(super) enum Operand {
    Str(StrExpr),
    Int(IntExpr),
    Bool(Box<Cond>),
}

/// A string-valued expression; null when `userId` is null or a function gets null.
#[derive(Debug, Clone)]
pub(super) enum StrExpr {
    Literal(String),
    Null,
    UserId,
    ConnectionId,
    ToLower(Box<StrExpr>),
    ToUpper(Box<StrExpr>),
    Trim(Box<StrExpr>),
    /// `substring(s, start[, length])`, counted in characters.
    Substring(Box<StrExpr>, IntExpr, Option<IntExpr>),
    Concat(Box<StrExpr>, Box<StrExpr>),
}

/// An integer-valued expression; null when a function gets null.
#[derive(Debug, Clone)]
pub(super) enum IntExpr {
    Literal(i64),
    Null,
    /// Length of a string in characters.
    Length(Box<StrExpr>),
    /// Number of groups the connection is in.
    GroupCount,
    /// Character index of the second string in the first, or -1.
    IndexOf(Box<StrExpr>, Box<StrExpr>),
}

/// A runtime value. Static typing guarantees both sides of a comparison have the same variant
/// or one is null.
#[derive(Debug, PartialEq)]
enum Value<'s> {
    Null,
    Str(Cow<'s, str>),
    Int(i64),
    Bool(bool),
}

impl Value<'_> {
    fn order(&self, other: &Value<'_>) -> Option<Ordering> {
        match (self, other) {
            // Ordinal like .NET: by UTF-16 code units, not by UTF-8 bytes.
            (Value::Str(a), Value::Str(b)) => Some(a.encode_utf16().cmp(b.encode_utf16())),
            (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

impl Cond {
    pub(super) fn eval(&self, s: &Subject<'_>) -> bool {
        match self {
            Cond::Const(b) => *b,
            Cond::Not(c) => !c.eval(s),
            Cond::And(cs) => cs.iter().all(|c| c.eval(s)),
            Cond::Or(cs) => cs.iter().any(|c| c.eval(s)),
            Cond::Compare(op, a, b) => op.holds(&a.eval(s), &b.eval(s)),
            Cond::InList(x, items) => {
                let x = x.eval(s);
                items.iter().any(|item| x == item.eval(s))
            }
            Cond::InGroups(x) => x.eval(s).is_some_and(|x| s.groups.iter().any(|g| *g == x)),
            Cond::Text(test, a, b) => match (a.eval(s), b.eval(s)) {
                (Some(a), Some(b)) => match test {
                    TextTest::StartsWith => a.starts_with(&*b),
                    TextTest::EndsWith => a.ends_with(&*b),
                    TextTest::Contains => a.contains(&*b),
                },
                _ => false,
            },
        }
    }
}

impl Operand {
    fn eval<'s>(&'s self, s: &Subject<'s>) -> Value<'s> {
        match self {
            Operand::Str(e) => e.eval(s).map_or(Value::Null, Value::Str),
            Operand::Int(e) => e.eval(s).map_or(Value::Null, Value::Int),
            Operand::Bool(c) => Value::Bool(c.eval(s)),
        }
    }
}

impl StrExpr {
    fn eval<'s>(&'s self, s: &Subject<'s>) -> Option<Cow<'s, str>> {
        Some(match self {
            StrExpr::Literal(text) => Cow::Borrowed(text),
            StrExpr::Null => return None,
            StrExpr::UserId => Cow::Borrowed(s.user_id?),
            StrExpr::ConnectionId => Cow::Borrowed(s.connection_id),
            StrExpr::ToLower(e) => map_case(e.eval(s)?, char::to_lowercase, str::to_lowercase),
            StrExpr::ToUpper(e) => map_case(e.eval(s)?, char::to_uppercase, str::to_uppercase),
            StrExpr::Trim(e) => {
                let text = e.eval(s)?;
                let start = text.len() - text.trim_start().len();
                let end = text.trim_end().len().max(start);
                slice(text, start..end)
            }
            StrExpr::Substring(e, start, length) => {
                let text = e.eval(s)?;
                let start = start.eval(s)?;
                let length = match length {
                    Some(length) => Some(length.eval(s)?),
                    None => None,
                };
                let range = char_range(&text, start, length);
                slice(text, range)
            }
            StrExpr::Concat(a, b) => {
                let (a, b) = (a.eval(s)?, b.eval(s)?);
                Cow::Owned([a, b].concat())
            }
        })
    }
}

impl IntExpr {
    fn eval(&self, s: &Subject<'_>) -> Option<i64> {
        Some(match self {
            IntExpr::Literal(n) => *n,
            IntExpr::Null => return None,
            IntExpr::Length(e) => count(e.eval(s)?.chars().count()),
            IntExpr::GroupCount => count(s.groups.len()),
            IntExpr::IndexOf(a, b) => {
                let (a, b) = (a.eval(s)?, b.eval(s)?);
                a.find(&*b).map_or(-1, |at| count(a[..at].chars().count()))
            }
        })
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `text` case-mapped, borrowed unchanged when no character changes (the common case, e.g.
/// `tolower` of an id that is already lower case).
fn map_case<'s, I: Iterator<Item = char>>(
    text: Cow<'s, str>,
    map_char: fn(char) -> I,
    map_str: fn(&str) -> String,
) -> Cow<'s, str> {
    let unchanged = text.chars().all(|c| {
        let mut mapped = map_char(c);
        mapped.next() == Some(c) && mapped.next().is_none()
    });
    if unchanged {
        text
    } else {
        Cow::Owned(map_str(&text))
    }
}

/// The bytes `range` of `text`, still borrowed if `text` was.
fn slice(text: Cow<'_, str>, range: Range<usize>) -> Cow<'_, str> {
    match text {
        Cow::Borrowed(text) => Cow::Borrowed(&text[range]),
        Cow::Owned(mut text) => {
            text.truncate(range.end);
            text.drain(..range.start);
            Cow::Owned(text)
        }
    }
}

/// Byte range of the characters `start..start + length` of `text`, clamped to the text: a
/// negative start counts as 0, a negative length as 0, a missing length as "to the end".
fn char_range(text: &str, start: i64, length: Option<i64>) -> Range<usize> {
    let byte_of = |from: usize, chars: i64| {
        let chars = usize::try_from(chars.max(0)).unwrap_or(usize::MAX);
        text[from..]
            .char_indices()
            .nth(chars)
            .map_or(text.len(), |(at, _)| from + at)
    };
    let begin = byte_of(0, start);
    let end = length.map_or(text.len(), |length| byte_of(begin, length));
    begin..end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_range_clamps() {
        let text = "aé日b";
        let cut = |start, length| &text[char_range(text, start, length)];
        assert_eq!(cut(1, Some(2)), "é日");
        assert_eq!(cut(2, None), "日b");
        assert_eq!(cut(-5, Some(1)), "a");
        assert_eq!(cut(3, Some(100)), "b");
        assert_eq!(cut(9, None), "");
        assert_eq!(cut(1, Some(-1)), "");
        assert_eq!(cut(i64::MAX, Some(i64::MAX)), "");
    }

    #[test]
    fn case_mapping_borrows_when_unchanged() {
        let lower = map_case(
            Cow::Borrowed("bob-1é"),
            char::to_lowercase,
            str::to_lowercase,
        );
        assert!(matches!(lower, Cow::Borrowed("bob-1é")));
        let lower = map_case(Cow::Borrowed("BOBÉ"), char::to_lowercase, str::to_lowercase);
        assert_eq!(lower, "bobé");
    }

    #[test]
    fn slicing_an_owned_string_keeps_the_range() {
        let owned = slice(Cow::Owned("  hello  ".to_owned()), 2..7);
        assert_eq!(owned, "hello");
    }

    #[test]
    fn ordering_is_by_utf16_code_units() {
        // U+FF5E sorts after U+1F600 in UTF-16 (0xFF5E > 0xD83D) but before it in UTF-8.
        let a = Value::Str(Cow::Borrowed("\u{ff5e}"));
        let b = Value::Str(Cow::Borrowed("\u{1f600}"));
        assert!(CompareOp::Gt.holds(&a, &b));
        assert!(!CompareOp::Gt.holds(&Value::Null, &Value::Int(1)));
        assert!(!CompareOp::Le.holds(&Value::Int(1), &Value::Null));
        assert!(CompareOp::Eq.holds(&Value::Null, &Value::Null));
    }
}
