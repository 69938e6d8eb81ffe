//! The `cost_expr` language: grammar, names, evaluation and limits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

use cost::{CostError, Expr, ExprError, Field, UsageNumbers, MAX_EXPR_CHARS, MAX_EXPR_DEPTH};

fn usage() -> UsageNumbers {
    UsageNumbers {
        input_tokens: Some(100),
        output_tokens: Some(20),
        total_tokens: Some(130),
        cached_input_tokens: Some(40),
        cache_creation_input_tokens: Some(8),
        reasoning_tokens: Some(5),
    }
}

fn eval(source: &str) -> f64 {
    Expr::compile(source).unwrap().eval(&usage()).unwrap()
}

fn compile_error(source: &str) -> String {
    Expr::compile(source).unwrap_err().to_string()
}

#[test]
fn multiplication_binds_tighter_than_addition() {
    assert_eq!(eval("2 + 3 * 4"), 14.0);
    assert_eq!(eval("2 * 3 + 4"), 10.0);
    assert_eq!(eval("(2 + 3) * 4"), 20.0);
    assert_eq!(eval("10 - 6 / 2"), 7.0);
}

#[test]
fn operators_of_one_level_associate_left() {
    assert_eq!(eval("10 - 4 - 3"), 3.0);
    assert_eq!(eval("64 / 4 / 2"), 8.0);
    assert_eq!(eval("2 - 3 + 4"), 3.0);
    assert_eq!(eval("8 / 2 * 4"), 16.0);
}

#[test]
fn unary_minus_binds_tighter_than_binary_operators() {
    assert_eq!(eval("-2 * 3"), -6.0);
    assert_eq!(eval("-2 + 3"), 1.0);
    assert_eq!(eval("2 - -3"), 5.0);
    assert_eq!(eval("--2"), 2.0);
    assert_eq!(eval("-(2 + 3)"), -5.0);
    assert_eq!(eval("3 * -input_tokens"), -300.0);
}

#[test]
fn functions_take_any_expression_as_arguments() {
    assert_eq!(eval("min(3, 1 + 1, 5)"), 2.0);
    assert_eq!(eval("max(input_tokens, output_tokens * 10)"), 200.0);
    assert_eq!(eval("min(input_tokens)"), 100.0);
    assert_eq!(eval("max(1, min(input_tokens, 7), -3)"), 7.0);
    assert_eq!(eval("ceil(output_tokens / 3)"), 7.0);
    assert_eq!(eval("floor(output_tokens / 3)"), 6.0);
    assert_eq!(eval("round(2.5)"), 3.0);
    assert_eq!(eval("round(-2.5)"), -3.0);
    assert_eq!(eval("round(output_tokens / 8)"), 3.0);
    assert_eq!(eval("ceil(-0.5)"), 0.0);
}

#[test]
fn decimals_and_whitespace_are_accepted() {
    assert_eq!(eval("0.5 * input_tokens"), 50.0);
    assert_eq!(eval("\tinput_tokens*1.25\n+\r\n output_tokens "), 145.0);
    assert_eq!(eval("007.50"), 7.5);
    assert_eq!(eval("min( 1 ,2 )"), 1.0);
}

#[test]
fn provider_names_are_aliases_of_the_normalized_fields() {
    let groups: [(&[&str], f64); 6] = [
        (
            &[
                "input_tokens",
                "prompt_tokens",
                "promptTokenCount",
                "inputTokens",
                "prompt_eval_count",
            ],
            100.0,
        ),
        (
            &[
                "output_tokens",
                "completion_tokens",
                "candidatesTokenCount",
                "outputTokens",
                "eval_count",
            ],
            20.0,
        ),
        (&["total_tokens", "totalTokenCount", "totalTokens"], 130.0),
        (
            &[
                "cached_tokens",
                "cache_read_input_tokens",
                "cached_input_tokens",
                "cachedContentTokenCount",
            ],
            40.0,
        ),
        (&["cache_creation_input_tokens"], 8.0),
        (&["reasoning_tokens", "thoughtsTokenCount"], 5.0),
    ];
    for (names, value) in groups {
        for name in names {
            assert_eq!(eval(name), value, "{name}");
        }
    }
    assert_eq!(Field::from_name("eval_count"), Some(Field::Output));
    assert_eq!(cost::FIELD_NAMES.len(), 20);
}

#[test]
fn missing_counts_are_zero_and_missing_total_is_input_plus_output() {
    let e = Expr::compile("cached_tokens + reasoning_tokens + 1").unwrap();
    assert_eq!(e.eval(&UsageNumbers::default()), Ok(1.0));
    let t = Expr::compile("total_tokens").unwrap();
    let partial = UsageNumbers {
        input_tokens: Some(3),
        output_tokens: Some(4),
        ..UsageNumbers::default()
    };
    assert_eq!(t.eval(&partial), Ok(7.0));
}

#[test]
fn cost_rounds_up_and_clamps_negative_to_zero() {
    let u = usage();
    assert_eq!(Expr::compile("input_tokens / 3").unwrap().cost(&u), Ok(34));
    assert_eq!(
        Expr::compile("output_tokens * 0.7").unwrap().cost(&u),
        Ok(14)
    );
    assert_eq!(
        Expr::compile("output_tokens - input_tokens")
            .unwrap()
            .cost(&u),
        Ok(0)
    );
    assert_eq!(Expr::compile("0.001").unwrap().cost(&u), Ok(1));
}

#[test]
fn division_by_zero_at_run_time_is_an_error_value() {
    let e = Expr::compile("input_tokens / (output_tokens - 20)").unwrap();
    assert_eq!(e.eval(&usage()), Err(CostError::DivisionByZero));
    assert_eq!(e.cost(&usage()), Err(CostError::DivisionByZero));
    // Even where min() would hide an infinity.
    let hidden = Expr::compile("min(1 / reasoning_tokens, 5)").unwrap();
    assert_eq!(
        hidden.eval(&UsageNumbers::default()),
        Err(CostError::DivisionByZero)
    );
}

#[test]
fn overflow_at_run_time_is_not_finite() {
    let nines = "9".repeat(300);
    let big = format!("input_tokens * {nines} * {nines}");
    let e = Expr::compile(&big).unwrap();
    assert_eq!(e.eval(&usage()), Err(CostError::NotFinite));
    assert_eq!(e.eval(&UsageNumbers::default()), Ok(0.0));
}

#[test]
fn constant_division_by_zero_and_overflow_are_rejected() {
    assert_eq!(compile_error("1 / 0"), "division by zero at column 3");
    assert_eq!(
        compile_error("input_tokens / (1 - 1)"),
        "division by zero at column 14"
    );
    assert_eq!(
        compile_error("input_tokens / 0.0"),
        "division by zero at column 14"
    );
    let huge = format!("{0} * {0}", "9".repeat(200));
    assert_eq!(
        compile_error(&huge),
        "constant value is too large at column 202"
    );
    assert_eq!(
        compile_error(&"9".repeat(400)),
        format!("number `{}` is too large at column 1", "9".repeat(400))
    );
}

#[test]
fn unknown_names_are_rejected_with_the_accepted_list() {
    let err = Expr::compile("2 * promt_tokens").unwrap_err();
    assert_eq!(err.column, 5);
    assert!(err.message.starts_with(
        "unknown name `promt_tokens`, expected one of: input_tokens, prompt_tokens, "
    ));
    assert!(err
        .message
        .ends_with("reasoning_tokens, thoughtsTokenCount"));
    assert_eq!(
        compile_error("pow(2, 3)"),
        "unknown function `pow`, expected one of: min, max, ceil, floor, round at column 1"
    );
    assert_eq!(
        compile_error("1 + min"),
        "`min` is a function: call it as `min(...)` at column 5"
    );
    assert!(compile_error("Input_Tokens").starts_with("unknown name `Input_Tokens`"));
}

#[test]
fn syntax_errors_point_at_the_column() {
    let cases: [(&str, &str); 12] = [
        (
            "",
            "expected a number, a name or `(`, found end of expression at column 1",
        ),
        (
            "1 +",
            "expected a number, a name or `(`, found end of expression at column 4",
        ),
        ("1 2", "expected an operator, found number `2` at column 3"),
        ("(1 + 2", "unclosed `(` at column 1"),
        ("(1 2)", "expected `)`, found number `2` at column 4"),
        ("1 + 2)", "unmatched `)` at column 6"),
        (
            "* 2",
            "expected a number, a name or `(`, found `*` at column 1",
        ),
        (
            "min(1,)",
            "expected a number, a name or `(`, found `)` at column 7",
        ),
        (
            "max(1 2)",
            "expected `,` or `)`, found number `2` at column 7",
        ),
        ("min(1, 2", "unclosed `(` at column 4"),
        (
            "ceil(1, 2)",
            "`ceil` takes exactly 1 argument, got 2 at column 1",
        ),
        (
            "max()",
            "`max` takes at least 1 argument, got 0 at column 1",
        ),
    ];
    for (source, expected) in cases {
        assert_eq!(compile_error(source), expected, "{source:?}");
    }
    assert_eq!(
        compile_error("1 + 2 $"),
        "unexpected character `$` at column 7"
    );
    assert_eq!(
        compile_error("1 ^ 2"),
        "unexpected character `^` at column 3"
    );
    assert_eq!(
        compile_error("+1"),
        "expected a number, a name or `(`, found `+` at column 1"
    );
}

#[test]
fn nesting_deeper_than_the_limit_is_rejected() {
    let ok = format!(
        "{}1{}",
        "(".repeat(MAX_EXPR_DEPTH),
        ")".repeat(MAX_EXPR_DEPTH)
    );
    assert_eq!(eval(&ok), 1.0);
    let deep = format!(
        "{}1{}",
        "(".repeat(MAX_EXPR_DEPTH + 1),
        ")".repeat(MAX_EXPR_DEPTH + 1)
    );
    assert_eq!(
        Expr::compile(&deep).unwrap_err(),
        ExprError {
            column: MAX_EXPR_DEPTH + 1,
            message: format!("expression nested deeper than {MAX_EXPR_DEPTH} levels"),
        }
    );
    let minus = format!("{}1", "-".repeat(MAX_EXPR_DEPTH + 1));
    assert!(Expr::compile(&minus)
        .unwrap_err()
        .message
        .contains("nested deeper"));
    let calls = format!(
        "{}1{}",
        "ceil(".repeat(MAX_EXPR_DEPTH + 1),
        ")".repeat(MAX_EXPR_DEPTH + 1)
    );
    assert!(Expr::compile(&calls)
        .unwrap_err()
        .message
        .contains("nested deeper"));
}

#[test]
fn expressions_longer_than_the_limit_are_rejected() {
    let long_chain = format!("1{}", " + input_tokens".repeat(60)); // 901 characters
    assert_eq!(
        Expr::compile(&long_chain).unwrap().eval(&usage()),
        Ok(6001.0)
    );
    let too_long = "1".repeat(MAX_EXPR_CHARS + 1);
    assert_eq!(
        compile_error(&too_long),
        format!("expression longer than {MAX_EXPR_CHARS} characters at column 1001")
    );
}

#[test]
fn wide_min_max_and_long_chains_evaluate() {
    let args = vec!["input_tokens"; 60].join(",");
    assert_eq!(eval(&format!("max({args})")), 100.0);
    let nested = "min(input_tokens, max(output_tokens, min(3, cached_tokens)) * 2) - 1";
    assert_eq!(eval(nested), 39.0);
    let e = Expr::compile("input_tokens").unwrap();
    assert_eq!(e.source(), "input_tokens");
}

#[test]
fn constant_expressions_are_folded_and_still_evaluate() {
    assert_eq!(eval("min(3, 2) * ceil(1.2) - -1"), 5.0);
    assert_eq!(
        Expr::compile("2 * 3")
            .unwrap()
            .cost(&UsageNumbers::default()),
        Ok(6)
    );
}
