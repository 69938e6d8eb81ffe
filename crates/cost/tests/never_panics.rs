//! Property tests: no input makes compiling, parsing or pricing panic, and
//! compiled expressions agree with a direct evaluation of the same tree.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

use config_envelope::FieldPath;
use cost::{CostConfig, CostError, Expr, UsageNumbers, FIELD_NAMES};
use proptest::prelude::*;
use serde_json::{json, Value};

fn any_count() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![
        Just(None),
        Just(Some(0)),
        Just(Some(u64::MAX)),
        (0u64..10_000).prop_map(Some),
        any::<u64>().prop_map(Some),
    ]
}

prop_compose! {
    fn any_usage()(
        input in any_count(), output in any_count(), total in any_count(),
        cached in any_count(), creation in any_count(), reasoning in any_count(),
    ) -> UsageNumbers {
        UsageNumbers {
            input_tokens: input,
            output_tokens: output,
            total_tokens: total,
            cached_input_tokens: cached,
            cache_creation_input_tokens: creation,
            reasoning_tokens: reasoning,
        }
    }
}

/// Fragments that make up mostly-plausible expressions, plus noise.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "+",
            "-",
            "*",
            "/",
            "(",
            ")",
            ",",
            " ",
            "min(",
            "max(",
            "ceil(",
            "floor(",
            "round(",
            "0",
            "0.0",
            "1",
            "2.5",
            "1e5",
            ".",
            "input_tokens",
            "total_tokens",
            "eval_count",
            "cached_tokens",
            "unknown",
            "99999999999999999999999",
            "é",
            "$",
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,4}",
    ]
}

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..40).prop_map(|parts| parts.concat())
}

/// An expression tree, rendered fully parenthesized and evaluated directly.
#[derive(Debug, Clone)]
enum Tree {
    Num(u32, u8),
    Name(usize),
    Neg(Box<Tree>),
    Bin(char, Box<Tree>, Box<Tree>),
    Call(&'static str, Vec<Tree>),
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        (0u32..1000, 0u8..3).prop_map(|(n, d)| Tree::Num(n, d)),
        (0..FIELD_NAMES.len()).prop_map(Tree::Name),
    ];
    leaf.prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| Tree::Neg(Box::new(t))),
            (
                prop::sample::select(vec!['+', '-', '*', '/']),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(op, a, b)| Tree::Bin(op, Box::new(a), Box::new(b))),
            (
                prop::sample::select(vec!["min", "max"]),
                prop::collection::vec(inner.clone(), 1..4)
            )
                .prop_map(|(f, args)| Tree::Call(f, args)),
            (prop::sample::select(vec!["ceil", "floor", "round"]), inner)
                .prop_map(|(f, arg)| Tree::Call(f, vec![arg])),
        ]
    })
}

impl Tree {
    fn render(&self) -> String {
        match self {
            Tree::Num(n, 0) => n.to_string(),
            Tree::Num(n, d) => format!("{n}.{}", "5".repeat(usize::from(*d))),
            Tree::Name(i) => FIELD_NAMES[*i].0.to_owned(),
            Tree::Neg(t) => format!("-({})", t.render()),
            Tree::Bin(op, a, b) => format!("({}) {op} ({})", a.render(), b.render()),
            Tree::Call(f, args) => {
                let args: Vec<String> = args.iter().map(Tree::render).collect();
                format!("{f}({})", args.join(", "))
            }
        }
    }

    fn eval(&self, usage: &UsageNumbers) -> Result<f64, CostError> {
        let value = match self {
            Tree::Num(..) => self.render().parse::<f64>().unwrap(),
            Tree::Name(i) => FIELD_NAMES[*i].1.value(usage) as f64,
            Tree::Neg(t) => -t.eval(usage)?,
            Tree::Bin(op, a, b) => {
                let (a, b) = (a.eval(usage)?, b.eval(usage)?);
                match op {
                    '+' => a + b,
                    '-' => a - b,
                    '*' => a * b,
                    _ if b == 0.0 => return Err(CostError::DivisionByZero),
                    _ => a / b,
                }
            }
            Tree::Call(f, args) => {
                let values = args
                    .iter()
                    .map(|a| a.eval(usage))
                    .collect::<Result<Vec<_>, _>>()?;
                match *f {
                    "min" => values.into_iter().reduce(f64::min).unwrap(),
                    "max" => values.into_iter().reduce(f64::max).unwrap(),
                    "ceil" => values[0].ceil(),
                    "floor" => values[0].floor(),
                    _ => values[0].round(),
                }
            }
        };
        if value.is_finite() {
            Ok(value)
        } else {
            Err(CostError::NotFinite)
        }
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![
            "cost",
            "expression",
            "prompt_tokens",
            "*",
            "-1",
            "1e400",
            "0.5"
        ])
        .prop_map(Value::from),
        soup().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop::collection::btree_map(
            prop::sample::select(vec![
                "*",
                "gpt-*",
                "*-mini",
                "m",
                "input_cost",
                "output_cost",
                "cached_input_cost",
                "x",
            ])
            .prop_map(str::to_owned),
            inner,
            0..4,
        )
        .prop_map(|m| Value::Object(m.into_iter().collect()))
    })
}

proptest! {
    #[test]
    fn random_expressions_and_usage_never_panic(source in soup(), usage in any_usage()) {
        if let Ok(expr) = Expr::compile(&source) {
            let _ = expr.eval(&usage);
            let _ = expr.cost(&usage);
        }
    }

    #[test]
    fn compiled_expressions_match_direct_evaluation(t in tree(), usage in any_usage()) {
        let source = t.render();
        let direct = t.eval(&usage);
        match Expr::compile(&source) {
            Ok(expr) => prop_assert_eq!(expr.eval(&usage), direct, "{}", source),
            Err(err) => {
                let constant_fault = err.message.contains("division by zero")
                    || err.message.contains("too large");
                let over_limit = err.message.contains("nested deeper")
                    || err.message.contains("longer than");
                prop_assert!(constant_fault || over_limit, "{}: {}", source, err);
                if constant_fault {
                    prop_assert!(direct.is_err(), "{}: {}", source, err);
                }
            }
        }
    }

    #[test]
    fn random_configs_and_usage_never_panic(
        strategy in any_json(), weights in any_json(), prices in any_json(),
        expr in any_json(), cached in any_json(), usage in any_usage(),
        model in prop::option::of("[a-z*-]{0,8}"),
    ) {
        let map = json!({
            "limit_strategy": strategy, "model_weights": weights, "model_prices": prices,
            "cost_expr": expr, "count_cached_tokens": cached,
        });
        let map = map.as_object().unwrap();
        if let Ok(config) = CostConfig::parse(map, &FieldPath::root()) {
            let _ = config.cost_numbers(&usage, model.as_deref());
            let _ = config.estimate(usage.input(), usage.output(), model.as_deref());
        }
    }

    #[test]
    fn valid_random_configs_price_every_usage(
        weight in 0.0f64..1000.0, input_cost in 0.0f64..100.0, output_cost in 0.0f64..100.0,
        usage in any_usage(), model in prop::option::of("[a-z-]{0,8}"),
    ) {
        for map in [
            json!({"model_weights": {"*": weight}, "count_cached_tokens": false}),
            json!({"limit_strategy": "cost",
                   "model_prices": {"*": {"input_cost": input_cost, "output_cost": output_cost,
                                          "cached_input_cost": weight}}}),
        ] {
            let config = CostConfig::parse(map.as_object().unwrap(), &FieldPath::root()).unwrap();
            prop_assert!(config.cost_numbers(&usage, model.as_deref()).is_ok());
        }
    }
}
