//! Splits a `cost_expr` into tokens, each with its column.

use super::ExprError;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind<'a> {
    Num(f64),
    Name(&'a str),
    Plus,
    Minus,
    Star,
    Slash,
    Open,
    Close,
    Comma,
    End,
}

/// A token, its 1-based character column and its text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Token<'a> {
    pub kind: Kind<'a>,
    pub column: usize,
    pub text: &'a str,
}

impl Token<'_> {
    /// How an error message names the token.
    pub fn describe(&self) -> String {
        match self.kind {
            Kind::Num(_) => format!("number `{}`", self.text),
            Kind::Name(name) => format!("name `{name}`"),
            Kind::End => "end of expression".to_owned(),
            _ => format!("`{}`", self.text),
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// Tokenizes `source`; the list always ends with one [`Kind::End`].
pub(super) fn tokenize(source: &str) -> Result<Vec<Token<'_>>, ExprError> {
    let mut tokens = Vec::new();
    let mut chars = source.char_indices().peekable();
    let mut column = 0;
    while let Some((start, c)) = chars.next() {
        column += 1;
        if c.is_ascii_whitespace() {
            continue;
        }
        let token_column = column;
        let mut end = start + c.len_utf8();
        if c.is_ascii_alphanumeric() || c == '_' {
            // A word: a name, or a number when it starts with a digit.
            while let Some(&(at, next)) = chars.peek() {
                if !is_word_char(next) || (next == '.' && !c.is_ascii_digit()) {
                    break;
                }
                end = at + next.len_utf8();
                column += 1;
                chars.next();
            }
        }
        let text = source.get(start..end).unwrap_or_default();
        let kind = match c {
            '+' => Kind::Plus,
            '-' => Kind::Minus,
            '*' => Kind::Star,
            '/' => Kind::Slash,
            '(' => Kind::Open,
            ')' => Kind::Close,
            ',' => Kind::Comma,
            '0'..='9' => Kind::Num(number(text, token_column)?),
            c if c.is_ascii_alphabetic() || c == '_' => Kind::Name(text),
            other => {
                return Err(ExprError::new(
                    token_column,
                    format!("unexpected character `{other}`"),
                ))
            }
        };
        tokens.push(Token {
            kind,
            column: token_column,
            text,
        });
    }
    tokens.push(Token {
        kind: Kind::End,
        column: column + 1,
        text: "",
    });
    Ok(tokens)
}

/// Reads `digits` or `digits.digits`.
fn number(text: &str, column: usize) -> Result<f64, ExprError> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !fraction.is_none_or(digits) {
        return Err(ExprError::new(
            column,
            format!("malformed number `{text}`, expected digits with an optional decimal part"),
        ));
    }
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        _ => Err(ExprError::new(
            column,
            format!("number `{text}` is too large"),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code
    use super::*;

    fn kinds(source: &str) -> Vec<Kind<'_>> {
        tokenize(source)
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn splits_numbers_names_and_symbols_with_columns() {
        let tokens = tokenize(" 1.5*\tx_1 ,(").unwrap();
        let summary: Vec<_> = tokens.iter().map(|t| (t.column, t.text)).collect();
        assert_eq!(
            summary,
            [
                (2, "1.5"),
                (5, "*"),
                (7, "x_1"),
                (11, ","),
                (12, "("),
                (13, "")
            ]
        );
        assert_eq!(
            kinds("a-b/)"),
            [
                Kind::Name("a"),
                Kind::Minus,
                Kind::Name("b"),
                Kind::Slash,
                Kind::Close,
                Kind::End
            ]
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let err = tokenize("é + $").unwrap_err();
        assert_eq!(err, ExprError::new(1, "unexpected character `é`"));
        let err = tokenize("1 + $").unwrap_err();
        assert_eq!(err.column, 5);
    }

    #[test]
    fn malformed_numbers_are_rejected() {
        for bad in ["1.", "1.2.3", "12abc", "1._"] {
            let err = tokenize(bad).unwrap_err();
            assert_eq!(err.column, 1, "{bad}");
            assert!(err.message.starts_with("malformed number"), "{bad}");
        }
        assert_eq!(
            tokenize(".5").unwrap_err(),
            ExprError::new(1, "unexpected character `.`")
        );
        assert_eq!(
            tokenize(&"9".repeat(400)).unwrap_err().message,
            format!("number `{}` is too large", "9".repeat(400))
        );
    }

    #[test]
    fn a_dot_after_a_name_is_not_part_of_it() {
        assert_eq!(
            tokenize("a.b").unwrap_err(),
            ExprError::new(2, "unexpected character `.`")
        );
    }
}
