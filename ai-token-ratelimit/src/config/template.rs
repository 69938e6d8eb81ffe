//! APISIX variable templates (`rules[].key`): `$http_x_api_key`,
//! `${http_x_trial_id}`, `$remote_addr $consumer_name`,
//! `${http_x_team ?? default}`.

use crate::config::model::{IpSource, ValueSource};

/// Longest template accepted, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 1024;

/// A piece of a key template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    /// Text copied as is.
    Literal(String),
    /// A request value; `default` stands in when the request has none.
    Var {
        /// Where the value comes from.
        source: ValueSource,
        /// The `?? text` of `${name ?? text}`.
        default: Option<String>,
    },
}

impl TemplatePart {
    /// Whether this part reads the request body's model.
    pub fn needs_model(&self) -> bool {
        matches!(
            self,
            TemplatePart::Var {
                source: ValueSource::Model,
                ..
            }
        )
    }
}

/// The variables a template may use, for error messages.
pub const SUPPORTED_VARIABLES: &str = "$http_<header>, $arg_<query param>, $cookie_<name>, \
     $remote_addr, $consumer_name, $request_llm_model";

/// Parses a template. `${...}` and `$name` (letters, digits, `_`) are
/// variables; everything else is literal text.
///
/// # Errors
/// A message for an empty or too long template, a `$` that starts no
/// variable, an unclosed `${`, and an unsupported variable (with the list
/// of supported ones).
pub fn parse_template(text: &str) -> Result<Vec<TemplatePart>, String> {
    if text.trim().is_empty() {
        return Err("must not be empty; use a variable such as $http_x_api_key".to_owned());
    }
    if text.len() > MAX_TEMPLATE_BYTES {
        return Err(format!("longer than {MAX_TEMPLATE_BYTES} bytes"));
    }
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        let (before, from_dollar) = rest.split_at_checked(dollar).unwrap_or((rest, ""));
        literal.push_str(before);
        let after = from_dollar.get(1..).unwrap_or("");
        let (inner, remaining) = if let Some(braced) = after.strip_prefix('{') {
            let Some((inner, remaining)) = braced.split_once('}') else {
                return Err(format!("unclosed `${{` in {text:?}"));
            };
            (inner, remaining)
        } else {
            let len = after
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            after.split_at_checked(len).unwrap_or((after, ""))
        };
        if inner.is_empty() {
            return Err(format!(
                "`$` must start a variable such as $http_x_api_key or ${{http_x_api_key}}, in {text:?}"
            ));
        }
        if !literal.is_empty() {
            parts.push(TemplatePart::Literal(std::mem::take(&mut literal)));
        }
        parts.push(parse_var(inner)?);
        rest = remaining;
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        parts.push(TemplatePart::Literal(literal));
    }
    Ok(parts)
}

/// `name` or `name ?? default` (inside `${}`).
fn parse_var(inner: &str) -> Result<TemplatePart, String> {
    let (name, default) = match inner.split_once("??") {
        Some((name, default)) => (name.trim(), Some(default.trim().to_owned())),
        None => (inner.trim(), None),
    };
    let source = variable_source(name)?;
    Ok(TemplatePart::Var { source, default })
}

/// Maps an APISIX variable name to a request value.
///
/// # Errors
/// For names we do not support, listing the supported ones.
pub fn variable_source(name: &str) -> Result<ValueSource, String> {
    let named = |prefix: &str| {
        name.strip_prefix(prefix)
            .filter(|rest| !rest.is_empty())
            .map(str::to_owned)
    };
    if let Some(header) = named("http_") {
        // nginx: `$http_x_api_key` is header `X-Api-Key`.
        return Ok(ValueSource::Header(
            header.replace('_', "-").to_ascii_lowercase(),
        ));
    }
    if let Some(param) = named("arg_") {
        return Ok(ValueSource::Param(param));
    }
    if let Some(cookie) = named("cookie_") {
        return Ok(ValueSource::Cookie(cookie));
    }
    match name {
        "remote_addr" => Ok(ValueSource::Ip(IpSource::RemoteAddr)),
        "consumer_name" => Ok(ValueSource::Consumer),
        "request_llm_model" => Ok(ValueSource::Model),
        _ => Err(format!(
            "variable ${name} is not supported here; use {SUPPORTED_VARIABLES}"
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn var(source: ValueSource) -> TemplatePart {
        TemplatePart::Var {
            source,
            default: None,
        }
    }

    #[test]
    fn plain_and_braced_variables_map_to_request_values() {
        assert_eq!(
            parse_template("$http_x_api_key").unwrap(),
            [var(ValueSource::Header("x-api-key".into()))]
        );
        assert_eq!(
            parse_template("${http_X_Trial_ID}").unwrap(),
            [var(ValueSource::Header("x-trial-id".into()))]
        );
        assert_eq!(
            parse_template("$arg_user_id").unwrap(),
            [var(ValueSource::Param("user_id".into()))]
        );
        assert_eq!(
            parse_template("${cookie_session}").unwrap(),
            [var(ValueSource::Cookie("session".into()))]
        );
    }

    #[test]
    fn combinations_keep_the_literal_text_between_variables() {
        assert_eq!(
            parse_template("$remote_addr $consumer_name").unwrap(),
            [
                var(ValueSource::Ip(IpSource::RemoteAddr)),
                TemplatePart::Literal(" ".into()),
                var(ValueSource::Consumer),
            ]
        );
        assert_eq!(
            parse_template("team-${http_x_team ?? none}/x").unwrap(),
            [
                TemplatePart::Literal("team-".into()),
                TemplatePart::Var {
                    source: ValueSource::Header("x-team".into()),
                    default: Some("none".into())
                },
                TemplatePart::Literal("/x".into()),
            ]
        );
        assert!(parse_template("$request_llm_model")
            .unwrap()
            .iter()
            .any(TemplatePart::needs_model));
    }

    #[test]
    fn unsupported_variables_name_the_supported_ones() {
        let err = parse_template("$uri").unwrap_err();
        assert!(err.contains("$uri is not supported"), "{err}");
        assert!(err.contains("$http_<header>"), "{err}");
        assert!(parse_template("$http_").is_err());
    }

    #[test]
    fn malformed_templates_are_refused() {
        for bad in ["", "  ", "$", "a $ b", "${}", "${http_x", "$-x"] {
            assert!(parse_template(bad).is_err(), "{bad:?}");
        }
        assert!(parse_template(&"$http_a".repeat(200)).is_err());
    }

    #[test]
    fn literal_only_template_is_a_constant_key() {
        assert_eq!(
            parse_template("everyone").unwrap(),
            [TemplatePart::Literal("everyone".into())]
        );
    }
}
