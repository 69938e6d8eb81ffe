//! `cost_expr`: a small, safe arithmetic language over usage numbers.

mod lexer;
mod parser;

use crate::decimal::ceil_to_u64;
use crate::{CostError, UsageNumbers};

/// Longest accepted expression, in characters.
pub const MAX_EXPR_CHARS: usize = 1000;

/// Deepest accepted nesting of parentheses, function calls and unary
/// minus signs.
pub const MAX_EXPR_DEPTH: usize = 32;

/// A usage number an expression can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// [`UsageNumbers::input_tokens`].
    Input,
    /// [`UsageNumbers::output_tokens`].
    Output,
    /// [`UsageNumbers::total_tokens`], else input + output.
    Total,
    /// [`UsageNumbers::cached_input_tokens`].
    CachedInput,
    /// [`UsageNumbers::cache_creation_input_tokens`].
    CacheCreationInput,
    /// [`UsageNumbers::reasoning_tokens`].
    Reasoning,
}

/// Every name an expression accepts, normalized and provider spellings,
/// with the field each one reads.
pub const FIELD_NAMES: &[(&str, Field)] = &[
    ("input_tokens", Field::Input),
    ("prompt_tokens", Field::Input),
    ("promptTokenCount", Field::Input),
    ("inputTokens", Field::Input),
    ("prompt_eval_count", Field::Input),
    ("output_tokens", Field::Output),
    ("completion_tokens", Field::Output),
    ("candidatesTokenCount", Field::Output),
    ("outputTokens", Field::Output),
    ("eval_count", Field::Output),
    ("total_tokens", Field::Total),
    ("totalTokenCount", Field::Total),
    ("totalTokens", Field::Total),
    ("cached_tokens", Field::CachedInput),
    ("cache_read_input_tokens", Field::CachedInput),
    ("cached_input_tokens", Field::CachedInput),
    ("cachedContentTokenCount", Field::CachedInput),
    ("cache_creation_input_tokens", Field::CacheCreationInput),
    ("reasoning_tokens", Field::Reasoning),
    ("thoughtsTokenCount", Field::Reasoning),
];

impl Field {
    /// The field a name reads (case-sensitive), if it is one of
    /// [`FIELD_NAMES`].
    pub fn from_name(name: &str) -> Option<Field> {
        FIELD_NAMES
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, field)| *field)
    }

    /// The field's value in `usage`; a missing count is 0, a missing total
    /// is input + output.
    pub fn value(self, usage: &UsageNumbers) -> u64 {
        match self {
            Field::Input => usage.input(),
            Field::Output => usage.output(),
            Field::Total => usage.total(),
            Field::CachedInput => usage.cached_input(),
            Field::CacheCreationInput => usage.cache_creation_input(),
            Field::Reasoning => usage.reasoning(),
        }
    }
}

/// Why a `cost_expr` was refused: what is wrong and the 1-based character
/// column where it is. Displayed as `unknown name `x` ... at column 7`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at column {column}")]
pub struct ExprError {
    /// Where the problem is, counting characters from 1.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl ExprError {
    pub(crate) fn new(column: usize, message: impl Into<String>) -> Self {
        ExprError {
            column,
            message: message.into(),
        }
    }
}

/// One step of a compiled expression, run on a value stack.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Num(f64),
    Field(Field),
    Add,
    Sub,
    Mul,
    Div,
    Neg,
    Min(usize),
    Max(usize),
    Ceil,
    Floor,
    Round,
}

/// A compiled cost expression.
///
/// Grammar, loosest binding first: `+` and `-` (left-associative), then
/// `*` and `/` (left-associative), then unary `-`, then numbers (`12`,
/// `0.5`; no exponent), names of usage fields ([`FIELD_NAMES`]),
/// parenthesized expressions, and the functions `min(a, ...)`,
/// `max(a, ...)` (one or more arguments), `ceil(x)`, `floor(x)` and
/// `round(x)` (half away from zero). Spaces, tabs and line breaks are
/// ignored between tokens.
///
/// Names are checked when the expression is compiled: an unknown name is a
/// typo and is refused (APISIX would silently read it as 0). At run time a
/// count the provider did not report is 0, and a missing total is input +
/// output. Constant parts are computed once; a constant division by zero or
/// a constant too large for `f64` is refused at compile time.
///
/// Values are `f64`. Dividing by zero at run time, or overflowing, gives a
/// [`CostError`]; the final value is rounded as described in the crate
/// docs (up, negative → 0).
///
/// ```
/// use cost::{Expr, UsageNumbers};
/// let e = Expr::compile("prompt_tokens + 4 * completion_tokens").unwrap();
/// let usage = UsageNumbers { input_tokens: Some(10), output_tokens: Some(5), ..Default::default() };
/// assert_eq!(e.cost(&usage), Ok(30));
/// assert_eq!(Expr::compile("2 * promt_tokens").unwrap_err().column, 5);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    source: String,
    ops: Vec<Op>,
    max_stack: usize,
}

impl Expr {
    /// Compiles `source`.
    ///
    /// # Errors
    /// A syntax error, unknown name or function, wrong number of
    /// arguments, constant division by zero or overflow, an expression
    /// longer than [`MAX_EXPR_CHARS`] or nested deeper than
    /// [`MAX_EXPR_DEPTH`], with the column of the problem.
    pub fn compile(source: &str) -> Result<Expr, ExprError> {
        let (ops, max_stack) = parser::compile(source)?;
        Ok(Expr {
            source: source.to_owned(),
            ops,
            max_stack,
        })
    }

    /// The text the expression was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The expression's value for `usage`, before rounding; always finite.
    ///
    /// # Errors
    /// [`CostError::DivisionByZero`] when a divisor is 0,
    /// [`CostError::NotFinite`] when a value overflows `f64`.
    pub fn eval(&self, usage: &UsageNumbers) -> Result<f64, CostError> {
        let mut stack: Vec<f64> = Vec::with_capacity(self.max_stack);
        // The compiler only emits well-formed programs, so the stack never
        // runs dry; `unwrap_or(0.0)` just keeps this total.
        let pop = |stack: &mut Vec<f64>| stack.pop().unwrap_or(0.0);
        for op in &self.ops {
            let value = match *op {
                Op::Num(n) => n,
                Op::Field(field) => field.value(usage) as f64,
                Op::Neg => -pop(&mut stack),
                Op::Ceil => pop(&mut stack).ceil(),
                Op::Floor => pop(&mut stack).floor(),
                Op::Round => pop(&mut stack).round(),
                Op::Min(n) => fold(&mut stack, n, f64::min),
                Op::Max(n) => fold(&mut stack, n, f64::max),
                Op::Add | Op::Sub | Op::Mul | Op::Div => {
                    let rhs = pop(&mut stack);
                    let lhs = pop(&mut stack);
                    apply(*op, lhs, rhs)?
                }
            };
            if !value.is_finite() {
                return Err(CostError::NotFinite);
            }
            stack.push(value);
        }
        Ok(pop(&mut stack))
    }

    /// The expression's value for `usage`, rounded up to a whole cost
    /// (negative → 0).
    ///
    /// # Errors
    /// As [`Expr::eval`].
    pub fn cost(&self, usage: &UsageNumbers) -> Result<u64, CostError> {
        self.eval(usage).map(ceil_to_u64)
    }
}

/// `lhs op rhs` for the binary operators; division by zero is an error.
fn apply(op: Op, lhs: f64, rhs: f64) -> Result<f64, CostError> {
    Ok(match op {
        Op::Add => lhs + rhs,
        Op::Sub => lhs - rhs,
        Op::Mul => lhs * rhs,
        Op::Div if rhs == 0.0 => return Err(CostError::DivisionByZero),
        _ => lhs / rhs,
    })
}

/// Replaces the top `n` values of the stack by their min or max.
fn fold(stack: &mut Vec<f64>, n: usize, f: fn(f64, f64) -> f64) -> f64 {
    let from = stack.len().saturating_sub(n);
    stack.drain(from..).reduce(f).unwrap_or(0.0)
}
