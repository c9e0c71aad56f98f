//! Type checking: turns the untyped tree into the typed [`Cond`] tree, or explains which
//! expression has the wrong type. Every identifier and function has a fixed type, so all type
//! errors are found here, before any connection is looked at.

use super::FilterError;
use super::expr::{CompareOp, Cond, IntExpr, Operand, StrExpr, TextTest};
use super::syntax::{Field, Func, InSet, Literal, Node, NodeKind};

/// The static type of an expression. `Null` is the type of the `null` literal, which fits
/// wherever a string or an int does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Str,
    Int,
    Bool,
    Null,
    Collection,
}

impl Type {
    fn of(node: &Node) -> Type {
        match &node.kind {
            NodeKind::Literal(Literal::Str(_)) => Type::Str,
            NodeKind::Literal(Literal::Int(_)) => Type::Int,
            NodeKind::Literal(Literal::Bool(_)) => Type::Bool,
            NodeKind::Literal(Literal::Null) => Type::Null,
            NodeKind::Field(Field::UserId | Field::ConnectionId) => Type::Str,
            NodeKind::Field(Field::Groups) => Type::Collection,
            NodeKind::Call(func, _) => match func {
                Func::ToLower | Func::ToUpper | Func::Trim | Func::Substring | Func::Concat => {
                    Type::Str
                }
                Func::IndexOf | Func::Length => Type::Int,
                Func::StartsWith | Func::EndsWith | Func::Contains => Type::Bool,
            },
            NodeKind::Not(_)
            | NodeKind::And(_)
            | NodeKind::Or(_)
            | NodeKind::Compare(..)
            | NodeKind::In(..) => Type::Bool,
        }
    }

    /// The type in words, with an article: "a string", "null".
    fn described(self) -> &'static str {
        match self {
            Type::Str => "a string",
            Type::Int => "an int",
            Type::Bool => "a bool",
            Type::Null => "null",
            Type::Collection => "a collection",
        }
    }
}

/// Type-checks the whole filter `tree` parsed from `text`; it must be a bool.
pub(super) fn check(tree: &Node, text: &str) -> Result<Cond, FilterError> {
    Checker { text }.cond(tree, "the filter")
}

struct Checker<'t> {
    text: &'t str,
}

impl Checker<'_> {
    fn error(&self, node: &Node, message: impl Into<String>) -> FilterError {
        FilterError::at(self.text, node.span.clone(), message)
    }

    /// "`what` must be `expected`, found ...".
    fn mismatch(&self, node: &Node, what: &str, expected: &str) -> FilterError {
        let found = Type::of(node);
        let hint = if found == Type::Collection {
            " ('groups' can only be used with 'in' or length())"
        } else {
            ""
        };
        self.error(
            node,
            format!(
                "{what} must be {expected}, found {}{hint}",
                found.described()
            ),
        )
    }

    fn cond(&self, node: &Node, what: &str) -> Result<Cond, FilterError> {
        Ok(match &node.kind {
            NodeKind::Literal(Literal::Bool(b)) => Cond::Const(*b),
            NodeKind::Not(operand) => {
                Cond::Not(Box::new(self.cond(operand, "the operand of 'not'")?))
            }
            NodeKind::And(operands) => Cond::And(self.conds(operands, "and")?),
            NodeKind::Or(operands) => Cond::Or(self.conds(operands, "or")?),
            NodeKind::Compare(op, left, right) => self.compare(node, *op, left, right)?,
            NodeKind::In(left, set) => self.membership(left, set)?,
            NodeKind::Call(func @ (Func::StartsWith | Func::EndsWith | Func::Contains), args) => {
                let test = match func {
                    Func::StartsWith => TextTest::StartsWith,
                    Func::EndsWith => TextTest::EndsWith,
                    _ => TextTest::Contains,
                };
                let [a, b] = self.args(node, *func, args)?;
                Cond::Text(test, self.arg(*func, 1, a)?, self.arg(*func, 2, b)?)
            }
            _ => return Err(self.mismatch(node, what, "a bool")),
        })
    }

    fn conds(&self, operands: &[Node], op: &str) -> Result<Vec<Cond>, FilterError> {
        let what = format!("an operand of '{op}'");
        operands.iter().map(|node| self.cond(node, &what)).collect()
    }

    fn string(&self, node: &Node, what: &str) -> Result<StrExpr, FilterError> {
        Ok(match &node.kind {
            NodeKind::Literal(Literal::Str(text)) => StrExpr::Literal(text.clone()),
            NodeKind::Literal(Literal::Null) => StrExpr::Null,
            NodeKind::Field(Field::UserId) => StrExpr::UserId,
            NodeKind::Field(Field::ConnectionId) => StrExpr::ConnectionId,
            NodeKind::Call(func @ (Func::ToLower | Func::ToUpper | Func::Trim), args) => {
                let [arg] = self.args(node, *func, args)?;
                let arg = Box::new(self.arg(*func, 1, arg)?);
                match func {
                    Func::ToLower => StrExpr::ToLower(arg),
                    Func::ToUpper => StrExpr::ToUpper(arg),
                    _ => StrExpr::Trim(arg),
                }
            }
            NodeKind::Call(Func::Substring, args) => {
                let (text, start, length) = match args.as_slice() {
                    [text, start] => (text, start, None),
                    [text, start, length] => (text, start, Some(length)),
                    _ => return Err(self.arity(node, Func::Substring, "2 or 3 arguments", args)),
                };
                let what = |n| format!("argument {n} of 'substring'");
                StrExpr::Substring(
                    Box::new(self.arg(Func::Substring, 1, text)?),
                    self.int(start, &what(2))?,
                    length
                        .map(|length| self.int(length, &what(3)))
                        .transpose()?,
                )
            }
            NodeKind::Call(Func::Concat, args) => {
                let [a, b] = self.args(node, Func::Concat, args)?;
                StrExpr::Concat(
                    Box::new(self.arg(Func::Concat, 1, a)?),
                    Box::new(self.arg(Func::Concat, 2, b)?),
                )
            }
            _ => return Err(self.mismatch(node, what, "a string")),
        })
    }

    fn int(&self, node: &Node, what: &str) -> Result<IntExpr, FilterError> {
        Ok(match &node.kind {
            NodeKind::Literal(Literal::Int(n)) => IntExpr::Literal(*n),
            NodeKind::Literal(Literal::Null) => IntExpr::Null,
            NodeKind::Call(Func::Length, args) => {
                let [arg] = self.args(node, Func::Length, args)?;
                if let NodeKind::Field(Field::Groups) = arg.kind {
                    IntExpr::GroupCount
                } else if Type::of(arg) == Type::Str || Type::of(arg) == Type::Null {
                    IntExpr::Length(Box::new(self.arg(Func::Length, 1, arg)?))
                } else {
                    let what = "the argument of 'length'";
                    return Err(self.mismatch(arg, what, "a string or a collection"));
                }
            }
            NodeKind::Call(Func::IndexOf, args) => {
                let [a, b] = self.args(node, Func::IndexOf, args)?;
                IntExpr::IndexOf(
                    Box::new(self.arg(Func::IndexOf, 1, a)?),
                    Box::new(self.arg(Func::IndexOf, 2, b)?),
                )
            }
            _ => return Err(self.mismatch(node, what, "an int")),
        })
    }

    /// The string argument number `n` (from 1) of `func`.
    fn arg(&self, func: Func, n: usize, node: &Node) -> Result<StrExpr, FilterError> {
        self.string(node, &format!("argument {n} of '{}'", func.name()))
    }

    /// Exactly `N` arguments of the call `node`.
    fn args<'n, const N: usize>(
        &self,
        node: &Node,
        func: Func,
        args: &'n [Node],
    ) -> Result<&'n [Node; N], FilterError> {
        args.try_into().map_err(|_| {
            let expected = if N == 1 {
                "1 argument".to_owned()
            } else {
                format!("{N} arguments")
            };
            self.arity(node, func, &expected, args)
        })
    }

    fn arity(&self, node: &Node, func: Func, expected: &str, args: &[Node]) -> FilterError {
        self.error(
            node,
            format!("'{}' takes {expected}, found {}", func.name(), args.len()),
        )
    }

    /// `left op right`: both sides of one type (or null); bools only with `eq`/`ne`.
    fn compare(
        &self,
        node: &Node,
        op: CompareOp,
        left: &Node,
        right: &Node,
    ) -> Result<Cond, FilterError> {
        let what = format!("an operand of '{}'", op.name());
        let (left_value, ty) = self.value(left, &what)?;
        let (right_value, right_ty) = self.value(right, &what)?;
        let ty = self.join(ty, right_ty, right)?;
        if ty == Type::Bool && !op.is_equality() {
            return Err(self.error(
                node,
                format!("'{}' can't order bools; use 'eq' or 'ne'", op.name()),
            ));
        }
        Ok(Cond::Compare(op, left_value, right_value))
    }

    /// `left in groups` or `left in (a, b, ...)`.
    fn membership(&self, left: &Node, set: &InSet) -> Result<Cond, FilterError> {
        let items = match set {
            InSet::Expr(collection) => return self.in_groups(left, collection),
            InSet::List(items) => match items.as_slice() {
                [only] if Type::of(only) == Type::Collection => {
                    return self.in_groups(left, only);
                }
                _ => items,
            },
        };
        let what = "a value in an 'in' list";
        let (left_value, mut ty) = self.value(left, what)?;
        let mut values = Vec::with_capacity(items.len());
        for item in items {
            let (value, item_ty) = self.value(item, what)?;
            ty = self.join(ty, item_ty, item)?;
            values.push(value);
        }
        Ok(Cond::InList(left_value, values))
    }

    /// `left in collection`, where the only collection is `groups`.
    fn in_groups(&self, left: &Node, collection: &Node) -> Result<Cond, FilterError> {
        let what = "a value looked up in 'groups'";
        let Operand::Str(value) = self.value(left, what)?.0 else {
            return Err(self.mismatch(left, what, "a string"));
        };
        if !matches!(collection.kind, NodeKind::Field(Field::Groups)) {
            let what = "the right side of 'in'";
            return Err(self.mismatch(collection, what, "a parenthesized list or 'groups'"));
        }
        Ok(Cond::InGroups(value))
    }

    /// `node` as a comparable value, and its type.
    fn value(&self, node: &Node, what: &str) -> Result<(Operand, Type), FilterError> {
        let ty = Type::of(node);
        let value = match ty {
            // A null operand evaluates to null whatever it is compared with.
            Type::Str | Type::Null => Operand::Str(self.string(node, what)?),
            Type::Int => Operand::Int(self.int(node, what)?),
            Type::Bool => Operand::Bool(Box::new(self.cond(node, what)?)),
            Type::Collection => return Err(self.mismatch(node, what, "a value")),
        };
        Ok((value, ty))
    }

    /// The type values compare as when those so far are of type `ty` and `node` is of type
    /// `found`; null compares with anything.
    fn join(&self, ty: Type, found: Type, node: &Node) -> Result<Type, FilterError> {
        match (ty, found) {
            (Type::Null, _) => Ok(found),
            (_, Type::Null) => Ok(ty),
            _ if ty == found => Ok(ty),
            _ => Err(self.error(
                node,
                format!(
                    "can't compare {} with {}",
                    ty.described(),
                    found.described()
                ),
            )),
        }
    }
}
