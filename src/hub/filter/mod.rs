//! The OData `filter` of the `:execute` REST operation: which connections a command applies to.
//!
//! The grammar is Azure Web PubSub's (`reference-odata-filter.md`), which SignalR's swagger
//! points to: the identifiers `userId`, `connectionId` (strings; `userId` is null for anonymous
//! connections) and `groups` (a collection), literals, `eq ne gt ge lt le`, `in`, `not`, `and`,
//! `or`, parentheses and a few string functions. A filter is parsed and type-checked once
//! ([`Filter::parse`]), then evaluated against every connection of a hub ([`Filter::matches`]),
//! so evaluation allocates only where a function builds a new string.
//!
//! Pipeline: `lexer` (text → tokens) → `syntax` (tokens → untyped tree, bounded nesting and
//! clause count) → `typing` (untyped tree → typed `expr` tree, type errors) → evaluation.
//!
//! Decisions where the Web PubSub reference is silent:
//! * Identifiers, keywords and function names are matched ASCII-case-insensitively (the
//!   reference calls the identifiers "case insensitive"); values compare case-sensitively.
//! * Logic is two-valued: `startswith`/`endswith`/`contains` and ordering comparisons with a
//!   null operand are false (so `not` of them is true); `eq`/`ne` treat null as a value
//!   (`userId eq null` selects anonymous connections). Functions returning a string or an int
//!   return null for a null argument (`length(userId) eq null`).
//! * Comparisons don't chain (`a eq b eq c` is rejected, as the Web PubSub grammar implies);
//!   comparing values of different types (`userId eq 1`) is a type error, not false.
//! * Strings compare ordinally by UTF-16 code units, as .NET does; `length`, `indexof` and
//!   `substring` count Unicode scalar values (differs from .NET only outside the BMP).
//! * `substring` clamps out-of-range arguments instead of failing.

mod error;
mod expr;
mod lexer;
mod syntax;
mod typing;

#[cfg(test)]
mod tests;

pub use error::FilterError;

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 4096;
/// Most clauses (operands of `and`/`or`) one filter may combine; Web PubSub documents roughly
/// 100.
pub const MAX_CLAUSES: usize = 100;
/// Deepest nesting of parentheses, `not` and function calls; bounds the parser's recursion.
pub const MAX_DEPTH: usize = 32;

/// A parsed, type-checked filter, reusable across many connections.
#[derive(Debug, Clone)]
pub struct Filter {
    condition: expr::Cond,
}

impl Filter {
    /// Parses and type-checks `text`. Errors name the position (in characters) and the token
    /// where the filter stopped making sense.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        if text.len() > MAX_FILTER_BYTES {
            return Err(FilterError::too_long(text));
        }
        let tree = syntax::parse(text)?;
        let condition = typing::check(&tree, text)?;
        Ok(Filter { condition })
    }

    /// Whether the connection described by `subject` is selected.
    pub fn matches(&self, subject: &Subject<'_>) -> bool {
        self.condition.eval(subject)
    }
}

/// What a filter is evaluated against: one connection.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The user the connection authenticated as; `None` for anonymous connections.
    pub user_id: Option<&'a str>,
    /// The connection's id.
    pub connection_id: &'a str,
    /// The groups the connection is in.
    pub groups: &'a [&'a str],
}
