//! Parsing untrusted query text without letting it take the process down.
//!
//! promql-parser, Display, Drop and the evaluator all recurse once per level of the syntax
//! tree, and a thread's stack is a few megabytes: a thousand nested parentheses, a long
//! chain of `1+1+…` or of unary minus, overflows it, and a stack overflow aborts the
//! whole process. So before the parser sees a query, [`check`]:
//!
//! - refuses text longer than [`ParseLimits::max_bytes`];
//! - lexes it with promql-parser's own (iterative) lexer and bounds the depth of the tree
//!   the parser would build ([`ParseLimits::max_depth`]): each `(`, `[` or `{` opens a
//!   level, and within a level every operator token (`+ - * / % ^ atan2 == != > < >= <=
//!   and or unless`, unary signs, and the `[` of a range or subquery) may add one more,
//!   counted per comma-separated argument. The count is an upper bound on the tree's
//!   depth, so everything that walks the tree later is bounded too;
//! - refuses a number used as a duration (`x[1e300]`, `offset Inf`) that the parser would
//!   turn into a panic.
//!
//! After parsing, every range, subquery step, `offset` and `@` time must lie within
//! ±[`crate::time::QUERY_TIME_LIMIT_MS`], so the evaluator's time arithmetic cannot
//! overflow. Parsing, printing and dropping a tree within the limit fit a 2 MiB stack;
//! the evaluator, whose frames are larger, runs a deep tree on a thread with a stack
//! sized for it (`with_stack_for` in the crate root). Prometheus has none of these limits
//! (Go's stacks grow); the defaults are far above any real query: Grafana dashboards nest
//! a handful of levels and chain tens of operators, and even generated queries stay in
//! the low hundreds.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lrpar::{Lexeme, Lexer};
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_COLON, T_COMMA, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LEFT_BRACE,
    T_LEFT_BRACKET, T_LEFT_PAREN, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD, T_MUL, T_NEQ, T_NUMBER,
    T_OFFSET, T_POW, T_RIGHT_BRACE, T_RIGHT_BRACKET, T_RIGHT_PAREN, T_SUB, TokenId,
};
use promql_parser::parser::{AtModifier, Expr, Offset};

use crate::QueryError;
use crate::time::QUERY_TIME_LIMIT_MS;

/// Default for [`ParseLimits::max_bytes`]: 128 KiB. Hand-written and dashboard queries
/// are well under 10 KiB; generated ones (long `or` lists, big regex alternations) reach
/// tens of KiB. Past this size a query costs more to lex, parse and print in errors than
/// any dashboard needs.
pub const DEFAULT_MAX_QUERY_BYTES: usize = 128 << 10;

/// Default for [`ParseLimits::max_depth`]: far above real queries (a handful of levels,
/// operator chains of tens), and [`MAX_QUERY_DEPTH`] leaves room on the smallest stack
/// a query runs on.
pub const DEFAULT_MAX_QUERY_DEPTH: usize = 512;

/// The most [`ParseLimits::max_depth`] may be set to: a tree this deep parses, prints and
/// drops within a 2 MiB stack (tokio's default for every thread a query runs on) even in
/// an unoptimised build, and evaluates on a thread sized for it; the tests check both.
pub const MAX_QUERY_DEPTH: usize = 1024;

/// Bounds on a query's text, checked before it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Longest query accepted, in bytes (the collector's `limits.max_query_bytes`).
    pub max_bytes: usize,
    /// Deepest syntax tree accepted, counted as the module docs say (the collector's
    /// `limits.max_query_depth`); values above [`MAX_QUERY_DEPTH`] count as it.
    pub max_depth: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_QUERY_BYTES,
            max_depth: DEFAULT_MAX_QUERY_DEPTH,
        }
    }
}

/// Parses `query` after [`check`], then refuses times and durations out of range and
/// what Prometheus 2.42 does not know (`parse::dialect`: `holt_winters` is read as
/// promql-parser's `double_exponential_smoothing`, newer functions are unknown).
pub fn parse(query: &str, limits: &ParseLimits) -> Result<Expr, QueryError> {
    check(query, limits)?;
    let text = dialect::to_parser_text(query)?;
    let parsed =
        catch_unwind(AssertUnwindSafe(|| promql_parser::parser::parse(&text))).map_err(|_| {
            QueryError::Parse(
                "the PromQL parser failed on this expression; check its numbers and durations"
                    .into(),
            )
        })?;
    let expr = parsed.map_err(|e| QueryError::Parse(e.trim().to_owned()))?;
    check_times(&expr)?;
    dialect::check(&expr)?;
    Ok(expr)
}

/// Checks `text` (a query, or a selector such as `match[]`) against `limits` without
/// parsing it: its length, the depth of the tree it would parse to, and numbers used as
/// durations. Text that does not lex gets the lexer's error.
pub fn check(text: &str, limits: &ParseLimits) -> Result<(), QueryError> {
    if text.len() > limits.max_bytes {
        return Err(QueryError::BadArgument(format!(
            "the query is {} bytes, over the limit of {} (limits.max_query_bytes); \
             shorten it, or raise the limit in the collector's config",
            text.len(),
            limits.max_bytes
        )));
    }
    let tokens = lex(text)?;
    let max_depth = limits.max_depth.min(MAX_QUERY_DEPTH);
    let depth = depth_bound(&tokens);
    if depth > max_depth {
        return Err(QueryError::BadArgument(format!(
            "the query nests {depth} levels deep, over the limit of {max_depth} \
             (limits.max_query_depth; every parenthesis, function call, and operator \
             chained in one expression adds a level); simplify it or split it up"
        )));
    }
    check_duration_numbers(&tokens)
}

/// One lexeme: its token kind and its text.
type Token<'a> = (TokenId, &'a str);

/// The tokens of `text` as promql-parser's lexer reads them.
fn lex(text: &str) -> Result<Vec<Token<'_>>, QueryError> {
    let lexer =
        promql_parser::parser::lexer(text).map_err(|e| QueryError::Parse(e.trim().into()))?;
    let mut tokens = Vec::new();
    for lexeme in lexer.iter() {
        // The lexer drops its own errors but the last (which fails `lexer()` itself).
        let Ok(lexeme) = lexeme else { continue };
        let span = lexeme.span();
        tokens.push((
            lexeme.tok_id(),
            text.get(span.start()..span.end()).unwrap_or(""),
        ));
    }
    Ok(tokens)
}

/// Whether a token can add a level to the tree within its bracket level.
fn deepens(token: TokenId) -> bool {
    matches!(
        token,
        T_ADD
            | T_SUB
            | T_MUL
            | T_DIV
            | T_MOD
            | T_POW
            | T_ATAN2
            | T_EQLC
            | T_NEQ
            | T_GTR
            | T_GTE
            | T_LSS
            | T_LTE
            | T_LAND
            | T_LOR
            | T_LUNLESS
            | T_LEFT_BRACKET
    )
}

/// A bracket level while scanning.
#[derive(Default)]
struct Level {
    /// Operators in the current comma-separated argument.
    operators: usize,
    /// Most operators in any finished argument.
    most_operators: usize,
    /// Deepest bound of a bracket level inside this one.
    deepest_inner: usize,
}

impl Level {
    /// The bound of this level: itself, its longest operator chain, its deepest child.
    fn bound(&self) -> usize {
        1 + self.operators.max(self.most_operators) + self.deepest_inner
    }
}

/// An upper bound on the depth of the tree `tokens` parse to (module docs). Linear, with
/// an explicit stack.
fn depth_bound(tokens: &[Token<'_>]) -> usize {
    let mut levels = vec![Level::default()];
    for &(token, _) in tokens {
        if deepens(token)
            && let Some(level) = levels.last_mut()
        {
            level.operators += 1;
        }
        match token {
            T_LEFT_PAREN | T_LEFT_BRACE | T_LEFT_BRACKET => levels.push(Level::default()),
            T_RIGHT_PAREN | T_RIGHT_BRACE | T_RIGHT_BRACKET if levels.len() > 1 => {
                close(&mut levels)
            }
            T_COMMA => {
                if let Some(level) = levels.last_mut() {
                    level.most_operators = level.most_operators.max(level.operators);
                    level.operators = 0;
                }
            }
            _ => {}
        }
    }
    // Unclosed levels count as closed at the end: the parser fails there, but only after
    // building what came before.
    while levels.len() > 1 {
        close(&mut levels);
    }
    levels.last().map_or(1, Level::bound)
}

/// Closes the innermost level, handing its bound to the one around it.
fn close(levels: &mut Vec<Level>) {
    if let Some(inner) = levels.pop()
        && let Some(outer) = levels.last_mut()
    {
        outer.deepest_inner = outer.deepest_inner.max(inner.bound());
    }
}

/// The depth of a parsed tree (a lone literal or selector is 1), walked with an explicit
/// stack.
pub fn depth(expr: &Expr) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(expr, 1)];
    while let Some((expr, depth)) = pending.pop() {
        deepest = deepest.max(depth);
        pending.extend(children(expr).into_iter().map(|child| (child, depth + 1)));
    }
    deepest
}

/// The sub-expressions of `expr`.
fn children(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::Aggregate(a) => std::iter::once(a.expr.as_ref())
            .chain(a.param.as_deref())
            .collect(),
        Expr::Unary(u) => vec![&u.expr],
        Expr::Binary(b) => vec![&b.lhs, &b.rhs],
        Expr::Paren(p) => vec![&p.expr],
        Expr::Subquery(s) => vec![&s.expr],
        Expr::Call(c) => c.args.args.iter().map(|a| a.as_ref()).collect(),
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::Extension(_) => Vec::new(),
    }
}

/// Refuses a number where the grammar reads a duration (`x[N]`, `[5m:N]`, `offset N`)
/// unless it is a finite, non-negative count of seconds within the query time limit:
/// the parser would panic converting it.
fn check_duration_numbers(tokens: &[Token<'_>]) -> Result<(), QueryError> {
    for (i, &(token, text)) in tokens.iter().enumerate() {
        if token != T_NUMBER || i == 0 {
            continue;
        }
        let before = tokens[i - 1].0;
        let as_duration = matches!(before, T_LEFT_BRACKET | T_COLON | T_OFFSET)
            || (matches!(before, T_ADD | T_SUB) && i >= 2 && tokens[i - 2].0 == T_OFFSET);
        if !as_duration {
            continue;
        }
        let seconds = promql_parser::util::parse_str_radix(text).unwrap_or(f64::NAN);
        if !(seconds >= 0.0 && seconds * 1000.0 <= QUERY_TIME_LIMIT_MS as f64) {
            return Err(out_of_range(&format!("duration {text}")));
        }
    }
    Ok(())
}

/// Refuses ranges, subquery steps, offsets and `@` times outside ±`QUERY_TIME_LIMIT_MS`.
/// Walks with an explicit stack.
fn check_times(expr: &Expr) -> Result<(), QueryError> {
    let mut pending = vec![expr];
    while let Some(expr) = pending.pop() {
        match expr {
            Expr::VectorSelector(vs) => check_modifiers(&vs.offset, &vs.at)?,
            Expr::MatrixSelector(ms) => {
                check_duration(&format!("range [{}]", display(ms.range)), ms.range)?;
                check_modifiers(&ms.vs.offset, &ms.vs.at)?;
            }
            Expr::Subquery(sq) => {
                check_duration(&format!("subquery range [{}]", display(sq.range)), sq.range)?;
                if let Some(step) = sq.step {
                    check_duration(&format!("subquery step {}", display(step)), step)?;
                }
                check_modifiers(&sq.offset, &sq.at)?;
            }
            _ => {}
        }
        pending.extend(children(expr));
    }
    Ok(())
}

fn check_modifiers(offset: &Option<Offset>, at: &Option<AtModifier>) -> Result<(), QueryError> {
    if let Some(Offset::Pos(d) | Offset::Neg(d)) = offset {
        check_duration(&format!("offset {}", display(*d)), *d)?;
    }
    if let Some(AtModifier::At(t)) = at {
        let within = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        if within.as_millis() > QUERY_TIME_LIMIT_MS as u128 {
            return Err(out_of_range(&format!("@ {}", at_seconds(*t))));
        }
    }
    Ok(())
}

fn check_duration(what: &str, d: Duration) -> Result<(), QueryError> {
    if d.as_millis() > QUERY_TIME_LIMIT_MS as u128 {
        return Err(out_of_range(what));
    }
    Ok(())
}

fn out_of_range(what: &str) -> QueryError {
    QueryError::BadArgument(format!(
        "{what} in the query is out of range: times and durations in a query must be \
         within ±{QUERY_TIME_LIMIT_MS} ms (about 285,000 years) of 1970"
    ))
}

fn display(d: Duration) -> String {
    promql_parser::util::display_duration(&d)
}

/// An `@` time as Unix seconds, for messages.
fn at_seconds(t: SystemTime) -> String {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => format!("{}", d.as_secs_f64()),
        Err(e) => format!("-{}", e.duration().as_secs_f64()),
    }
}

mod dialect;

#[cfg(test)]
mod tests;
