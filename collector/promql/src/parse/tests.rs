//! Hostile query text: long, deep, and with extreme numbers. Every check must refuse it
//! with `bad_data` and never recurse on its own; every tree within the limits must parse,
//! evaluate, print and drop on a 2 MiB stack.

use std::sync::Arc;

use super::*;
use crate::{Engine, EngineOptions};
use vigil_store::memory::MemoryStore;
use vigil_store::{Labels, SeriesSamples, Store};

/// The stack tokio gives every thread by default (workers and `spawn_blocking`).
const TOKIO_STACK: usize = 2 << 20;

/// Runs `f` on a thread with `stack` bytes of stack, so that recursion shows up as a
/// failed test here rather than as an abort in production.
fn on_stack<T: Send + 'static>(stack: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("the thread panicked")
}

/// No length limit: only the nesting check is tested.
fn unlimited_length() -> ParseLimits {
    ParseLimits {
        max_bytes: usize::MAX,
        ..ParseLimits::default()
    }
}

fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

/// The hostile shapes, each `n` deep (or long).
fn hostile(n: usize) -> Vec<(&'static str, String)> {
    vec![
        ("parentheses", nested("(", "1", ")", n)),
        ("sum of terms", format!("1{}", "+1".repeat(n))),
        ("vector sum", format!("x{}", " + x".repeat(n))),
        ("or chain", format!("x{}", " or x".repeat(n))),
        ("unary minus", format!("{}x", "-".repeat(n))),
        ("unary minus in parentheses", nested("-(", "x", ")", n)),
        ("unary plus", format!("{}x", "+".repeat(n))),
        ("function calls", nested("abs(", "x", ")", n)),
        ("aggregations", nested("sum(", "x", ")", n)),
        ("right-nested sums", nested("(1+", "1", ")", n)),
        ("power tower", format!("2{}", "^2".repeat(n))),
        ("subqueries", nested("max_over_time(", "x", "[1m:])", n)),
        ("mixed", nested("sum by (a) (-abs(1 + ", "x", "))", n)),
    ]
}

fn is_refusal(e: &QueryError, limit: &str) -> bool {
    matches!(e, QueryError::BadArgument(m) if m.contains(limit)) && e.kind() == "bad_data"
}

#[test]
fn hundred_thousand_deep_or_long_is_refused_without_recursion() {
    // 256 KiB: the checks must not use stack per level.
    on_stack(256 << 10, || {
        for (shape, query) in hostile(100_000) {
            let e = parse(&query, &unlimited_length()).expect_err(shape);
            assert!(is_refusal(&e, "limits.max_query_depth"), "{shape}: {e}");
        }
    });
}

#[test]
fn long_queries_are_refused_before_anything_else() {
    let query = format!("1{}", "+1".repeat(100_000));
    let e = parse(&query, &ParseLimits::default()).unwrap_err();
    assert!(is_refusal(&e, "limits.max_query_bytes"), "{e}");
    assert!(e.to_string().contains("200001 bytes"), "{e}");
    assert!(
        e.to_string().contains(&DEFAULT_MAX_QUERY_BYTES.to_string()),
        "{e}"
    );
    let limits = ParseLimits {
        max_bytes: 9,
        ..ParseLimits::default()
    };
    assert!(check("up{a=\"b\"}", &limits).is_ok());
    assert!(check("up{a=\"bc\"}", &limits).is_err());
}

#[test]
fn the_depth_message_names_the_depth_and_the_limit() {
    let limits = ParseLimits {
        max_bytes: usize::MAX,
        max_depth: 10,
    };
    let e = parse(&nested("(", "1", ")", 10), &limits).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the query nests 11 levels deep, over the limit of 10 (limits.max_query_depth; \
         every parenthesis, function call, and operator chained in one expression adds a \
         level); simplify it or split it up"
    );
    assert!(parse(&nested("(", "1", ")", 9), &limits).is_ok());
}

#[test]
fn the_bound_is_never_below_the_real_depth() {
    let mut queries: Vec<String> = hostile(50).into_iter().map(|(_, q)| q).collect();
    queries.extend(
        [
            "1",
            "up",
            "sum by (host) (rate(node_cpu_seconds_total{mode!=\"idle\"}[5m]))",
            "a + b * c ^ d ^ e - f / g",
            "clamp_max(a, scalar(b))",
            "label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")",
            "topk(3, -sum without (cpu) (x))",
            "a > bool on (h) group_left (m) b or c unless d",
            "clamp(-(x), -(1+1), 2 * (3 + 4))",
            "(a + (b + (c + d))) + e",
            "x offset -5m + y @ 100 - rate(z[5m]) * 0",
            "rate(x[5m:1m] offset 1h)",
            "-(-(-1))",
        ]
        .map(String::from),
    );
    for query in queries {
        let expr = promql_parser::parser::parse(&query).expect(&query);
        let tokens = lex(&query).expect(&query);
        let (bound, real) = (depth_bound(&tokens), depth(&expr));
        assert!(bound >= real, "{query}: bound {bound} < depth {real}");
    }
}

#[test]
fn strings_and_comments_do_not_count() {
    let tricky = "label_replace(x, \"a\", \"((((((((((\", \"b\", \")))))\") # ((((((((((((\n";
    let tokens = lex(tricky).expect("lexes");
    assert_eq!(depth_bound(&tokens), 2);
    // Closing brackets in a string cannot hide real nesting.
    let hidden = format!(
        "label_join(x, \"a\", \"))))))))))\", \"b\") + {}",
        nested("(", "1", ")", 20)
    );
    let limits = ParseLimits {
        max_bytes: usize::MAX,
        max_depth: 20,
    };
    assert!(parse(&hidden, &limits).is_err());
}

#[test]
fn the_configured_depth_is_capped_at_what_the_stack_allows() {
    let limits = ParseLimits {
        max_bytes: usize::MAX,
        max_depth: usize::MAX,
    };
    let e = parse(&nested("(", "1", ")", MAX_QUERY_DEPTH), &limits).unwrap_err();
    assert!(is_refusal(&e, "limits.max_query_depth"), "{e}");
    assert!(parse(&nested("(", "1", ")", MAX_QUERY_DEPTH - 1), &limits).is_ok());
}

/// The largest `n` for which `shape(n)` stays within `MAX_QUERY_DEPTH`.
fn deepest_allowed(shape: &str) -> String {
    let make = |n: usize| {
        hostile(n)
            .into_iter()
            .find(|(s, _)| *s == shape)
            .map(|(_, q)| q)
            .expect("shape")
    };
    let fits = |n: usize| depth_bound(&lex(&make(n)).expect("lexes")) <= MAX_QUERY_DEPTH;
    let (mut lo, mut hi) = (1, MAX_QUERY_DEPTH + 1);
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if fits(mid) { lo = mid } else { hi = mid }
    }
    make(lo)
}

#[test]
fn trees_at_the_limit_parse_evaluate_print_and_drop_on_a_tokio_stack() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let labels = Labels::new(vec![
        ("__name__".into(), "x".into()),
        ("a".into(), "1".into()),
    ]);
    let ids = store
        .resolve_series("h", &[labels], u64::MAX)
        .expect("resolve");
    store
        .append(&[SeriesSamples {
            id: ids[0],
            samples: vec![(0, 1.0), (60_000, 2.0)],
        }])
        .expect("append");
    let options = EngineOptions {
        parse: ParseLimits {
            max_bytes: usize::MAX,
            max_depth: MAX_QUERY_DEPTH,
        },
        ..EngineOptions::default()
    };
    let engine = Engine::new(store, options);
    for (shape, _) in hostile(1) {
        let query = deepest_allowed(shape);
        let engine = engine.clone();
        on_stack(TOKIO_STACK, move || {
            let expr = engine
                .parse(&query)
                .unwrap_or_else(|e| panic!("{shape}: {e}"));
            // `+x` is `x`: unary plus builds no node.
            if shape != "unary plus" {
                assert!(depth(&expr) > MAX_QUERY_DEPTH / 3, "{shape} is too shallow");
            }
            assert!(!expr.to_string().is_empty());
            drop(expr);
            // Subqueries are refused by the evaluator; everything else evaluates.
            let _ = engine.instant(&query, 60_000);
            let _ = engine.range(&query, 0, 60_000, 15_000);
        });
    }
}

#[test]
fn numbers_the_parser_would_panic_on_are_refused() {
    for query in [
        "x[1e300]",
        "x[5m:1e300]",
        "x offset 1e300",
        "x offset -1e300",
        "x offset Inf",
        "x offset NaN",
        "rate(x[0x7fffffffffffffff])",
    ] {
        let e = parse(query, &ParseLimits::default()).expect_err(query);
        assert_eq!(e.kind(), "bad_data", "{query}: {e}");
        assert!(e.to_string().contains("out of range"), "{query}: {e}");
    }
}

#[test]
fn times_and_durations_past_the_limit_are_refused() {
    for (query, named) in [
        ("x[4294967295y]", "range"),
        ("x[5m:4294967295y]", "subquery step"),
        ("x[4294967295y:1m]", "subquery range"),
        ("x offset 4294967295y", "offset"),
        ("x offset -4294967295y", "offset"),
        ("x @ 1e15", "@"),
        ("x @ -1e15", "@"),
        ("rate(x[4294967295y] offset 5m)", "range"),
        ("x[9e15s]", ""),
    ] {
        let e = parse(query, &ParseLimits::default()).expect_err(query);
        assert_eq!(e.kind(), "bad_data", "{query}: {e}");
        assert!(e.to_string().contains(named), "{query}: {e}");
    }
    for ok in [
        "x[285y]",
        "x offset -10y",
        "x @ 1e12",
        "x @ -1e12",
        "x[5m:1m]",
    ] {
        parse(ok, &ParseLimits::default()).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn evaluation_times_past_the_limit_are_refused() {
    let engine = Engine::new(Arc::new(MemoryStore::new()), EngineOptions::default());
    let limit = crate::time::QUERY_TIME_LIMIT_MS;
    for t in [
        9_000_000_000_000_000_000,
        -9_000_000_000_000_000_000,
        i64::MIN,
        i64::MAX,
    ] {
        let e = engine.instant("1", t).unwrap_err();
        assert!(e.to_string().contains("evaluation time"), "{e}");
    }
    let e = engine
        .range("1", -9e18 as i64, 9e18 as i64, 1_000)
        .unwrap_err();
    assert!(e.to_string().starts_with("start"), "{e}");
    let e = engine.range("1", 0, i64::MAX, 1_000).unwrap_err();
    assert!(e.to_string().starts_with("end"), "{e}");
    let e = engine.range("1", 0, 1_000, i64::MAX).unwrap_err();
    assert!(e.to_string().starts_with("step"), "{e}");
    let e = engine.range("1", -limit, limit, 1).unwrap_err();
    assert!(e.to_string().contains("maximum resolution"), "{e}");
    // The edges themselves work, and reading back from them cannot overflow.
    engine
        .instant("x offset -285y", limit)
        .expect("at the upper edge");
    engine
        .instant("rate(x[285y] offset 285y)", -limit)
        .expect("at the lower edge");
    let points = engine
        .range("1", limit - 10_000, limit, 1_000)
        .expect("range at the edge");
    assert!(matches!(points, crate::Value::Matrix(m) if m[0].points.len() == 11));
}
