//! Recursive-descent parser from tokens to an untyped tree, with the Web PubSub precedence
//! `not` > comparisons and `in` > `and` > `or`. Nesting depth and clause count are bounded, so
//! hostile input can't exhaust the stack or make evaluation expensive.

use std::ops::Range;

use super::expr::CompareOp;
use super::lexer::{Token, TokenKind, tokenize};
use super::{FilterError, MAX_CLAUSES, MAX_DEPTH};

/// A parsed expression and the bytes of the filter it spans.
#[derive(Debug)]
pub(super) struct Node {
    pub(super) kind: NodeKind,
    pub(super) span: Range<usize>,
}

/// What a [`Node`] is, before type checking.
#[derive(Debug)]
pub(super) enum NodeKind {
    Literal(Literal),
    Field(Field),
    Call(Func, Vec<Node>),
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
    Compare(CompareOp, Box<Node>, Box<Node>),
    /// `x in (a, b)`, `x in groups`, `x in (groups)`.
    In(Box<Node>, InSet),
}

/// The right side of `in`.
#[derive(Debug)]
pub(super) enum InSet {
    /// A parenthesized list; a single collection-valued item means the collection itself.
    List(Vec<Node>),
    /// An unparenthesized expression, which must be a collection.
    Expr(Box<Node>),
}

#[derive(Debug)]
pub(super) enum Literal {
    Str(String),
    Int(i64),
    Bool(bool),
    Null,
}

/// A property of the connection.
#[derive(Debug, Clone, Copy)]
pub(super) enum Field {
    UserId,
    ConnectionId,
    Groups,
}

/// A built-in function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
    ToLower,
    ToUpper,
    Trim,
    Substring,
    Concat,
    IndexOf,
    Length,
    StartsWith,
    EndsWith,
    Contains,
}

impl Func {
    const ALL: [Func; 10] = [
        Func::ToLower,
        Func::ToUpper,
        Func::Trim,
        Func::Substring,
        Func::Concat,
        Func::IndexOf,
        Func::Length,
        Func::StartsWith,
        Func::EndsWith,
        Func::Contains,
    ];

    /// The function's name as written in filters.
    pub(super) fn name(self) -> &'static str {
        match self {
            Func::ToLower => "tolower",
            Func::ToUpper => "toupper",
            Func::Trim => "trim",
            Func::Substring => "substring",
            Func::Concat => "concat",
            Func::IndexOf => "indexof",
            Func::Length => "length",
            Func::StartsWith => "startswith",
            Func::EndsWith => "endswith",
            Func::Contains => "contains",
        }
    }

    fn from_word(word: &str) -> Option<Func> {
        Func::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(word))
    }
}

/// Parses the whole filter `text`.
pub(super) fn parse(text: &str) -> Result<Node, FilterError> {
    let mut parser = Parser {
        text,
        tokens: tokenize(text)?,
        next: 0,
        depth: 0,
        clauses: 1,
    };
    let node = parser.or()?;
    let token = parser.peek();
    match token.kind {
        TokenKind::End => Ok(node),
        TokenKind::Close => Err(parser.error_at(token, "unmatched ')'")),
        _ => Err(parser.error_at(
            token,
            "expected a comparison operator, 'in', 'and', 'or' or the end of the filter",
        )),
    }
}

struct Parser<'t> {
    text: &'t str,
    tokens: Vec<Token>,
    /// Index of the next unconsumed token; the last token is `End` and is never consumed.
    next: usize,
    depth: usize,
    clauses: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.tokens[self.next]
    }

    fn advance(&mut self) -> Token {
        let token = self.tokens[self.next].clone();
        if token.kind != TokenKind::End {
            self.next += 1;
        }
        token
    }

    fn text_of(&self, token: &Token) -> &str {
        &self.text[token.span.clone()]
    }

    /// Whether the next token is the keyword `word`.
    fn at_keyword(&self, word: &str) -> bool {
        let token = self.peek();
        token.kind == TokenKind::Word && self.text_of(token).eq_ignore_ascii_case(word)
    }

    /// Consumes the keyword `word` if it is next.
    fn eat_keyword(&mut self, word: &str) -> Option<Token> {
        self.at_keyword(word).then(|| self.advance())
    }

    fn error_at(&self, token: &Token, message: impl Into<String>) -> FilterError {
        FilterError::at(self.text, token.span.clone(), message)
    }

    /// Enters one level of nesting at `token`, or fails past [`MAX_DEPTH`].
    fn descend(&mut self, token: &Token) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(
                token,
                format!("expressions may be nested at most {MAX_DEPTH} levels deep"),
            ));
        }
        Ok(())
    }

    fn ascend(&mut self) {
        self.depth -= 1;
    }

    /// `and_expr ('or' and_expr)*`
    fn or(&mut self) -> Result<Node, FilterError> {
        self.chain("or", Parser::and, NodeKind::Or)
    }

    /// `comparison ('and' comparison)*`
    fn and(&mut self) -> Result<Node, FilterError> {
        self.chain("and", Parser::comparison, NodeKind::And)
    }

    /// Operands of the logical operator `word`, flattened into one node.
    fn chain(
        &mut self,
        word: &str,
        operand: fn(&mut Self) -> Result<Node, FilterError>,
        build: fn(Vec<Node>) -> NodeKind,
    ) -> Result<Node, FilterError> {
        let first = operand(self)?;
        if !self.at_keyword(word) {
            return Ok(first);
        }
        let start = first.span.start;
        let mut operands = vec![first];
        while let Some(token) = self.eat_keyword(word) {
            self.clauses += 1;
            if self.clauses > MAX_CLAUSES {
                return Err(self.error_at(
                    &token,
                    format!("a filter may combine at most {MAX_CLAUSES} clauses"),
                ));
            }
            operands.push(operand(self)?);
        }
        let end = operands.last().map_or(start, |node| node.span.end);
        Ok(Node {
            kind: build(operands),
            span: start..end,
        })
    }

    /// `unary [comparison_operator unary | 'in' in_set]`. Comparisons don't chain (as in the
    /// Web PubSub grammar), which also keeps the tree shallow.
    fn comparison(&mut self) -> Result<Node, FilterError> {
        let left = self.unary()?;
        let start = left.span.start;
        let kind = if let Some(op) = self.compare_op() {
            self.advance();
            let right = self.unary()?;
            NodeKind::Compare(op, Box::new(left), Box::new(right))
        } else if self.eat_keyword("in").is_some() {
            let set = self.in_set()?;
            NodeKind::In(Box::new(left), set)
        } else {
            return Ok(left);
        };
        if self.compare_op().is_some() || self.at_keyword("in") {
            return Err(self.error_at(
                self.peek(),
                "comparisons can't be chained; combine them with 'and'/'or' or use parentheses",
            ));
        }
        Ok(Node {
            kind,
            span: start..self.tokens[self.next - 1].span.end,
        })
    }

    /// The comparison operator that is the next token, if it is one.
    fn compare_op(&self) -> Option<CompareOp> {
        let token = self.peek();
        match token.kind {
            TokenKind::Word => CompareOp::from_word(self.text_of(token)),
            _ => None,
        }
    }

    /// `'(' expr (',' expr)* ')'` or a single primary expression.
    fn in_set(&mut self) -> Result<InSet, FilterError> {
        if self.peek().kind != TokenKind::Open {
            return Ok(InSet::Expr(Box::new(self.primary()?)));
        }
        let open = self.advance();
        self.descend(&open)?;
        let items = self.list("expected ',' or ')' in the 'in' list")?;
        self.ascend();
        Ok(InSet::List(items))
    }

    /// Comma-separated expressions up to and including `)`, at least one.
    fn list(&mut self, unclosed: &str) -> Result<Vec<Node>, FilterError> {
        let mut items = vec![self.or()?];
        loop {
            let token = self.advance();
            match token.kind {
                TokenKind::Comma => items.push(self.or()?),
                TokenKind::Close => return Ok(items),
                _ => return Err(self.error_at(&token, unclosed)),
            }
        }
    }

    /// `'not' unary | primary`
    fn unary(&mut self) -> Result<Node, FilterError> {
        let Some(not) = self.eat_keyword("not") else {
            return self.primary();
        };
        self.descend(&not)?;
        let operand = self.unary()?;
        self.ascend();
        Ok(Node {
            span: not.span.start..operand.span.end,
            kind: NodeKind::Not(Box::new(operand)),
        })
    }

    /// A literal, identifier, function call or parenthesized expression.
    fn primary(&mut self) -> Result<Node, FilterError> {
        let token = self.peek().clone();
        let kind = match &token.kind {
            TokenKind::Open => return self.parenthesized(),
            TokenKind::Str(text) => NodeKind::Literal(Literal::Str(text.clone())),
            TokenKind::Int(n) => NodeKind::Literal(Literal::Int(*n)),
            TokenKind::Word => return self.word(token),
            TokenKind::Close | TokenKind::Comma | TokenKind::End => {
                return Err(self.missing_operand(&token));
            }
        };
        self.advance();
        Ok(Node {
            kind,
            span: token.span,
        })
    }

    /// `'(' or_expr ')'`; the node keeps the span of the parentheses.
    fn parenthesized(&mut self) -> Result<Node, FilterError> {
        let open = self.advance();
        self.descend(&open)?;
        let inner = self.or()?;
        let close = self.advance();
        if close.kind != TokenKind::Close {
            let position = self.text[..open.span.start].chars().count();
            return Err(self.error_at(
                &close,
                format!("expected ')' to close the '(' at position {position}"),
            ));
        }
        self.ascend();
        Ok(Node {
            kind: inner.kind,
            span: open.span.start..close.span.end,
        })
    }

    /// A keyword literal, an identifier or a function call.
    fn word(&mut self, token: Token) -> Result<Node, FilterError> {
        let word = self.text_of(&token).to_ascii_lowercase();
        let kind = match word.as_str() {
            "true" => NodeKind::Literal(Literal::Bool(true)),
            "false" => NodeKind::Literal(Literal::Bool(false)),
            "null" => NodeKind::Literal(Literal::Null),
            "userid" => NodeKind::Field(Field::UserId),
            "connectionid" => NodeKind::Field(Field::ConnectionId),
            "groups" => NodeKind::Field(Field::Groups),
            "and" | "or" | "not" | "in" => return Err(self.missing_operand(&token)),
            _ if CompareOp::from_word(&word).is_some() => {
                return Err(self.missing_operand(&token));
            }
            _ => return self.function(token, &word),
        };
        self.advance();
        Ok(Node {
            kind,
            span: token.span,
        })
    }

    /// A call of the function `word`, the lower-cased text of the token `name`, from its name.
    fn function(&mut self, name: Token, word: &str) -> Result<Node, FilterError> {
        self.advance();
        let called = self.peek().kind == TokenKind::Open;
        match Func::from_word(word) {
            Some(func) if called => self.call(name, func),
            Some(_) => Err(self.error_at(
                self.peek(),
                format!("expected '(' after the function name '{word}'"),
            )),
            None if called => {
                let known: Vec<_> = Func::ALL.iter().map(|f| f.name()).collect();
                let message = format!(
                    "unknown function '{}'; the functions are {}",
                    self.text_of(&name),
                    known.join(", ")
                );
                Err(self.error_at(&name, message))
            }
            None => {
                let message = format!(
                    "unknown identifier '{}'; the identifiers are userId, connectionId and groups",
                    self.text_of(&name)
                );
                Err(self.error_at(&name, message))
            }
        }
    }

    /// The arguments of `func`, whose name is `name`, from its `(`.
    fn call(&mut self, name: Token, func: Func) -> Result<Node, FilterError> {
        let open = self.advance();
        self.descend(&open)?;
        let args = if self.peek().kind == TokenKind::Close {
            self.advance();
            Vec::new()
        } else {
            self.list(&format!(
                "expected ',' or ')' in the arguments of '{}'",
                func.name()
            ))?
        };
        self.ascend();
        Ok(Node {
            kind: NodeKind::Call(func, args),
            span: name.span.start..self.tokens[self.next - 1].span.end,
        })
    }

    /// The error for a missing value or expression at `token`, naming what came before it.
    fn missing_operand(&self, token: &Token) -> FilterError {
        let message = match self.next.checked_sub(1).map(|i| &self.tokens[i]) {
            None => "expected an expression".to_owned(),
            Some(prev) => {
                let prev_text = self.text_of(prev);
                let is_operator = prev.kind == TokenKind::Word
                    && (CompareOp::from_word(prev_text).is_some()
                        || prev_text.eq_ignore_ascii_case("in"));
                let what = if is_operator || prev.kind == TokenKind::Comma {
                    "a value"
                } else {
                    "an expression"
                };
                format!("expected {what} after '{prev_text}'")
            }
        };
        self.error_at(token, message)
    }
}
