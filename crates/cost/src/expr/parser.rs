//! Recursive-descent compiler from tokens to stack code, folding constants.
//!
//! Each sub-expression compiles to a [`Piece`]: either a known constant or
//! code that leaves one value on the stack. Left-associative chains are
//! loops, so recursion only deepens with nesting, which is bounded by
//! [`MAX_EXPR_DEPTH`].

use super::lexer::{tokenize, Kind, Token};
use super::{apply, ExprError, Field, Op, FIELD_NAMES, MAX_EXPR_CHARS, MAX_EXPR_DEPTH};
use crate::CostError;

const FUNCTIONS: &str = "min, max, ceil, floor, round";

/// Compiles `source` into stack code and the stack depth it needs.
pub(super) fn compile(source: &str) -> Result<(Vec<Op>, usize), ExprError> {
    if source.chars().nth(MAX_EXPR_CHARS).is_some() {
        return Err(ExprError::new(
            MAX_EXPR_CHARS + 1,
            format!("expression longer than {MAX_EXPR_CHARS} characters"),
        ));
    }
    let tokens = tokenize(source)?;
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
        depth: 0,
    };
    let piece = parser.sum()?;
    let next = parser.peek();
    match next.kind {
        Kind::End => Ok((piece.code, piece.height)),
        Kind::Close => Err(ExprError::new(next.column, "unmatched `)`")),
        _ => Err(ExprError::new(
            next.column,
            format!("expected an operator, found {}", next.describe()),
        )),
    }
}

/// A compiled sub-expression.
struct Piece {
    code: Vec<Op>,
    /// Stack depth needed to run `code`.
    height: usize,
    /// Its value, when it does not depend on usage.
    constant: Option<f64>,
}

impl Piece {
    fn op(op: Op) -> Self {
        let constant = match op {
            Op::Num(n) => Some(n),
            _ => None,
        };
        Piece {
            code: vec![op],
            height: 1,
            constant,
        }
    }

    /// A constant, refused when not finite.
    fn constant(value: f64, column: usize) -> Result<Self, ExprError> {
        if value.is_finite() {
            Ok(Piece::op(Op::Num(value)))
        } else {
            Err(ExprError::new(column, "constant value is too large"))
        }
    }
}

struct Parser<'t, 's> {
    tokens: &'t [Token<'s>],
    at: usize,
    depth: usize,
}

impl<'s> Parser<'_, 's> {
    fn peek(&self) -> Token<'s> {
        // `tokenize` always ends the list with `End`; never read past it.
        self.tokens
            .get(self.at)
            .or(self.tokens.last())
            .copied()
            .unwrap_or(Token {
                kind: Kind::End,
                column: 1,
                text: "",
            })
    }

    fn next(&mut self) -> Token<'s> {
        let token = self.peek();
        if self.at < self.tokens.len() {
            self.at += 1;
        }
        token
    }

    fn enter(&mut self, column: usize) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_EXPR_DEPTH {
            return Err(ExprError::new(
                column,
                format!("expression nested deeper than {MAX_EXPR_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// `term (('+' | '-') term)*`
    fn sum(&mut self) -> Result<Piece, ExprError> {
        let mut lhs = self.product()?;
        loop {
            let token = self.peek();
            let op = match token.kind {
                Kind::Plus => Op::Add,
                Kind::Minus => Op::Sub,
                _ => return Ok(lhs),
            };
            self.next();
            let rhs = self.product()?;
            lhs = binary(op, lhs, rhs, token.column)?;
        }
    }

    /// `unary (('*' | '/') unary)*`
    fn product(&mut self) -> Result<Piece, ExprError> {
        let mut lhs = self.unary()?;
        loop {
            let token = self.peek();
            let op = match token.kind {
                Kind::Star => Op::Mul,
                Kind::Slash => Op::Div,
                _ => return Ok(lhs),
            };
            self.next();
            let rhs = self.unary()?;
            lhs = binary(op, lhs, rhs, token.column)?;
        }
    }

    /// `'-' unary | primary`
    fn unary(&mut self) -> Result<Piece, ExprError> {
        let token = self.peek();
        if token.kind != Kind::Minus {
            return self.primary();
        }
        self.next();
        self.enter(token.column)?;
        let operand = self.unary()?;
        self.leave();
        Ok(match operand.constant {
            Some(value) => Piece::op(Op::Num(-value)),
            None => append(operand, Op::Neg),
        })
    }

    /// A number, a field name, a call or a parenthesized expression.
    fn primary(&mut self) -> Result<Piece, ExprError> {
        let token = self.next();
        match token.kind {
            Kind::Num(value) => Piece::constant(value, token.column),
            Kind::Name(name) if self.peek().kind == Kind::Open => self.call(name, token.column),
            Kind::Name(name) => field(name, token.column),
            Kind::Open => {
                self.enter(token.column)?;
                let inner = self.sum()?;
                self.leave();
                let close = self.next();
                match close.kind {
                    Kind::Close => Ok(inner),
                    Kind::End => Err(ExprError::new(token.column, "unclosed `(`")),
                    _ => Err(ExprError::new(
                        close.column,
                        format!("expected `)`, found {}", close.describe()),
                    )),
                }
            }
            _ => Err(ExprError::new(
                token.column,
                format!(
                    "expected a number, a name or `(`, found {}",
                    token.describe()
                ),
            )),
        }
    }

    /// `name '(' sum (',' sum)* ')'`; the name is known to be followed by `(`.
    fn call(&mut self, name: &str, column: usize) -> Result<Piece, ExprError> {
        let (unary, min_args, max_args) = match name {
            "min" | "max" => (None, 1, usize::MAX),
            "ceil" => (Some(Op::Ceil), 1, 1),
            "floor" => (Some(Op::Floor), 1, 1),
            "round" => (Some(Op::Round), 1, 1),
            _ => {
                return Err(ExprError::new(
                    column,
                    format!("unknown function `{name}`, expected one of: {FUNCTIONS}"),
                ))
            }
        };
        let open = self.next();
        self.enter(open.column)?;
        let mut args = Vec::new();
        if self.peek().kind == Kind::Close {
            self.next();
        } else {
            loop {
                args.push(self.sum()?);
                let token = self.next();
                match token.kind {
                    Kind::Comma => {}
                    Kind::Close => break,
                    Kind::End => return Err(ExprError::new(open.column, "unclosed `(`")),
                    _ => {
                        return Err(ExprError::new(
                            token.column,
                            format!("expected `,` or `)`, found {}", token.describe()),
                        ))
                    }
                }
            }
        }
        self.leave();
        if args.len() < min_args || args.len() > max_args {
            let wanted = if max_args == 1 {
                "exactly 1 argument"
            } else {
                "at least 1 argument"
            };
            return Err(ExprError::new(
                column,
                format!("`{name}` takes {wanted}, got {}", args.len()),
            ));
        }
        match unary {
            Some(op) => {
                let arg = args.pop().unwrap_or_else(|| Piece::op(Op::Num(0.0)));
                Ok(match arg.constant {
                    Some(value) => Piece::op(Op::Num(round_op(op, value))),
                    None => append(arg, op),
                })
            }
            None => Ok(min_max(name == "min", args)),
        }
    }
}

/// A field name, or an error listing the accepted names.
fn field(name: &str, column: usize) -> Result<Piece, ExprError> {
    if let Some(field) = Field::from_name(name) {
        return Ok(Piece::op(Op::Field(field)));
    }
    if matches!(name, "min" | "max" | "ceil" | "floor" | "round") {
        return Err(ExprError::new(
            column,
            format!("`{name}` is a function: call it as `{name}(...)`"),
        ));
    }
    let names: Vec<&str> = FIELD_NAMES.iter().map(|(n, _)| *n).collect();
    Err(ExprError::new(
        column,
        format!(
            "unknown name `{name}`, expected one of: {}",
            names.join(", ")
        ),
    ))
}

fn round_op(op: Op, value: f64) -> f64 {
    match op {
        Op::Ceil => value.ceil(),
        Op::Floor => value.floor(),
        _ => value.round(),
    }
}

fn append(mut piece: Piece, op: Op) -> Piece {
    piece.code.push(op);
    piece.constant = None;
    piece
}

/// `lhs op rhs`, computed now when both are constants.
fn binary(op: Op, lhs: Piece, rhs: Piece, column: usize) -> Result<Piece, ExprError> {
    if op == Op::Div && rhs.constant == Some(0.0) {
        return Err(ExprError::new(column, "division by zero"));
    }
    if let (Some(a), Some(b)) = (lhs.constant, rhs.constant) {
        return match apply(op, a, b) {
            Ok(value) => Piece::constant(value, column),
            Err(CostError::DivisionByZero) => Err(ExprError::new(column, "division by zero")),
            Err(_) => Err(ExprError::new(column, "constant value is too large")),
        };
    }
    let height = lhs.height.max(rhs.height.saturating_add(1));
    let mut code = lhs.code;
    code.extend(rhs.code);
    code.push(op);
    Ok(Piece {
        code,
        height,
        constant: None,
    })
}

/// `min(args)` or `max(args)`; one argument is itself.
fn min_max(is_min: bool, args: Vec<Piece>) -> Piece {
    let count = args.len();
    let constants: Option<Vec<f64>> = args.iter().map(|a| a.constant).collect();
    let pick = if is_min { f64::min } else { f64::max };
    if let Some(values) = constants {
        let value = values.into_iter().reduce(pick).unwrap_or(0.0);
        return Piece::op(Op::Num(value));
    }
    let mut code = Vec::new();
    let mut height = 0;
    for (i, arg) in args.into_iter().enumerate() {
        height = height.max(i.saturating_add(arg.height));
        code.extend(arg.code);
    }
    if count > 1 {
        code.push(if is_min {
            Op::Min(count)
        } else {
            Op::Max(count)
        });
    }
    Piece {
        code,
        height,
        constant: None,
    }
}
