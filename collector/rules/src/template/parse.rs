//! Parsing a template: text, `{{ actions }}` (pipelines of commands joined by `|`),
//! `{{ if }} … {{ else }} … {{ end }}` and `{{ range [$k, $v :=] p }} … {{ else }} …
//! {{ end }}` (rule templates refuse `range` when checked; notification templates run it).
//! Trim markers `{{- ` and ` -}}` remove the
//! whitespace before or after an action; `{{/* comments */}}` are dropped.

/// A parsed template.
pub(super) type Nodes = Vec<Node>;

/// A piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    /// Literal text.
    Text(String),
    /// `{{ pipeline }}`: its value is written.
    Action(Pipeline),
    /// `{{ if p }} then {{ else }} otherwise {{ end }}` (`else if` nests).
    If {
        condition: Pipeline,
        then: Nodes,
        otherwise: Nodes,
    },
    /// `{{ range $k, $v := p }} body {{ else }} otherwise {{ end }}`: `vars` holds the
    /// declared names without `$` (none, the value's, or the key's and the value's).
    Range {
        vars: Vec<String>,
        over: Pipeline,
        body: Nodes,
        otherwise: Nodes,
    },
}

/// `command | command | …`: each command's value is the last argument of the next.
pub(super) type Pipeline = Vec<Command>;

/// A function call with its arguments, or a single operand.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Command {
    pub(super) args: Vec<Arg>,
}

/// An operand.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Arg {
    /// `$name.field.field`.
    Var(String, Vec<String>),
    /// `.Field.field` (the fields after the dot).
    Field(Vec<String>),
    /// `"text"` or `` `raw` ``.
    Str(String),
    /// A number without fraction or exponent.
    Int(i64),
    /// Any other number.
    Num(f64),
    /// `true`/`false`.
    Bool(bool),
    /// A function name.
    Func(String),
    /// `( pipeline )`.
    Sub(Pipeline),
}

/// Parses `template`; the error says where and what is wrong.
pub(super) fn parse(template: &str) -> Result<Nodes, String> {
    let pieces = split(template)?;
    let mut pos = 0;
    let (nodes, end) = block(&pieces, &mut pos)?;
    match end {
        None => Ok(nodes),
        Some(word) => Err(format!(
            "unexpected {{{{{word}}}}}: it has no {{{{if}}}} to close"
        )),
    }
}

/// Text or the inside of one `{{ … }}`.
enum Piece {
    Text(String),
    Action(String),
}

fn split(template: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = template;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next {
            text = text.trim_start();
        }
        let mut inner = &rest[start + 2..];
        let trim_before =
            inner.starts_with("- ") || inner.starts_with("-\t") || inner.starts_with("-\n");
        if trim_before {
            text = text.trim_end();
            inner = &inner[1..];
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text.to_owned()));
        }
        let end = find_close(inner).ok_or("unclosed action: a {{ without its }}")?;
        let mut body = &inner[..end];
        trim_next = false;
        if body.ends_with(" -") || body.ends_with("\t-") || body.ends_with("\n-") {
            body = &body[..body.len() - 1];
            trim_next = true;
        }
        let body = body.trim();
        if !(body.starts_with("/*") && body.ends_with("*/")) {
            pieces.push(Piece::Action(body.to_owned()));
        }
        rest = &inner[end + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        pieces.push(Piece::Text(text.to_owned()));
    }
    Ok(pieces)
}

/// The `}}` that closes an action, skipping quoted strings.
fn find_close(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Nodes up to `{{else}}`/`{{end}}` (returned as the second value) or the end.
fn block(pieces: &[Piece], pos: &mut usize) -> Result<(Nodes, Option<String>), String> {
    let mut nodes = Vec::new();
    while let Some(piece) = pieces.get(*pos) {
        *pos += 1;
        let body = match piece {
            Piece::Text(t) => {
                nodes.push(Node::Text(t.clone()));
                continue;
            }
            Piece::Action(body) => body.as_str(),
        };
        let word = body.split_whitespace().next().unwrap_or("");
        match word {
            "end" | "else" => return Ok((nodes, Some(body.to_owned()))),
            "if" => nodes.push(if_node(pieces, pos, &body[2..])?),
            "range" => nodes.push(range_node(pieces, pos, &body[5..])?),
            "with" | "define" | "template" | "block" | "break" | "continue" => {
                return Err(format!(
                    "{{{{{word}}}}} is not supported in Vigil's templates"
                ));
            }
            "" => return Err("empty action {{ }}".into()),
            _ => nodes.push(Node::Action(pipeline(body)?)),
        }
    }
    Ok((nodes, None))
}

fn if_node(pieces: &[Piece], pos: &mut usize, condition: &str) -> Result<Node, String> {
    let condition = pipeline(condition)?;
    let (then, end) = block(pieces, pos)?;
    let otherwise = match end.as_deref() {
        Some("end") => Vec::new(),
        Some("else") => match block(pieces, pos)? {
            (nodes, Some(e)) if e == "end" => nodes,
            _ => return Err("{{else}} without its {{end}}".into()),
        },
        Some(e) if e.starts_with("else if ") || e.starts_with("else if\t") => {
            vec![if_node(pieces, pos, &e[7..])?]
        }
        Some(other) => return Err(format!("unexpected {{{{{other}}}}}")),
        None => return Err("{{if}} without its {{end}}".into()),
    };
    Ok(Node::If {
        condition,
        then,
        otherwise,
    })
}

fn range_node(pieces: &[Piece], pos: &mut usize, header: &str) -> Result<Node, String> {
    // `$k, $v := pipeline` or `$v := pipeline`: the only assignments Vigil reads.
    let (vars, over) = match header.split_once(":=") {
        Some((names, rest)) => {
            let vars = names
                .split(',')
                .map(|n| {
                    let n = n.trim();
                    match n.strip_prefix('$') {
                        Some(name)
                            if !name.is_empty()
                                && name.chars().all(|c| c.is_alphanumeric() || c == '_') =>
                        {
                            Ok(name.to_owned())
                        }
                        _ => Err(format!("bad variable {n:?} in {{{{range}}}}")),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            if vars.len() > 2 {
                return Err("{{range}} declares at most two variables".into());
            }
            (vars, rest)
        }
        None => (Vec::new(), header),
    };
    let over = pipeline(over)?;
    let (body, end) = block(pieces, pos)?;
    let otherwise = match end.as_deref() {
        Some("end") => Vec::new(),
        Some("else") => match block(pieces, pos)? {
            (nodes, Some(e)) if e == "end" => nodes,
            _ => return Err("{{else}} without its {{end}}".into()),
        },
        Some(other) => return Err(format!("unexpected {{{{{other}}}}} in {{{{range}}}}")),
        None => return Err("{{range}} without its {{end}}".into()),
    };
    Ok(Node::Range {
        vars,
        over,
        body,
        otherwise,
    })
}

/// A lexical token inside an action.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Arg(Arg),
    Pipe,
    Open,
    Close,
}

fn pipeline(body: &str) -> Result<Pipeline, String> {
    let tokens = lex(body)?;
    let mut pos = 0;
    let p = pipeline_tokens(&tokens, &mut pos)?;
    if pos != tokens.len() {
        return Err(format!("unexpected ) in {body:?}"));
    }
    Ok(p)
}

fn pipeline_tokens(tokens: &[Token], pos: &mut usize) -> Result<Pipeline, String> {
    let mut commands = Vec::new();
    let mut args = Vec::new();
    while let Some(t) = tokens.get(*pos) {
        match t {
            Token::Close => break,
            Token::Pipe => {
                *pos += 1;
                if args.is_empty() {
                    return Err("missing command before |".into());
                }
                commands.push(Command {
                    args: std::mem::take(&mut args),
                });
            }
            Token::Open => {
                *pos += 1;
                let inner = pipeline_tokens(tokens, pos)?;
                if tokens.get(*pos) != Some(&Token::Close) {
                    return Err("unclosed left parenthesis".into());
                }
                *pos += 1;
                args.push(Arg::Sub(inner));
            }
            Token::Arg(a) => {
                *pos += 1;
                args.push(a.clone());
            }
        }
    }
    if args.is_empty() {
        return Err("missing value for command".into());
    }
    commands.push(Command { args });
    Ok(commands)
}

fn lex(body: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = body.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let word = |start: usize| {
        let mut j = start;
        while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_' || chars[j] == '.')
        {
            j += 1;
        }
        (chars[start..j].iter().collect::<String>(), j)
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '|' => {
                tokens.push(Token::Pipe);
                i += 1;
            }
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            ':' | '=' => {
                return Err("variable assignments are not supported in Vigil's templates".into());
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated quoted string".into()),
                        Some('"') => break,
                        Some('\\') => {
                            i += 1;
                            s.push(match chars.get(i) {
                                Some('n') => '\n',
                                Some('t') => '\t',
                                Some('r') => '\r',
                                Some(&c @ ('"' | '\\')) => c,
                                other => {
                                    return Err(format!(
                                        "unknown escape \\{}",
                                        other.copied().unwrap_or(' ')
                                    ));
                                }
                            });
                        }
                        Some(&c) => s.push(c),
                    }
                    i += 1;
                }
                i += 1;
                tokens.push(Token::Arg(Arg::Str(s)));
            }
            '`' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|c| *c == '`')
                    .ok_or("unterminated raw string")?;
                tokens.push(Token::Arg(Arg::Str(
                    chars[i + 1..i + 1 + end].iter().collect(),
                )));
                i += end + 2;
            }
            '$' => {
                let (w, j) = word(i + 1);
                let mut parts = w.split('.').map(str::to_owned);
                let name = parts.next().unwrap_or_default();
                tokens.push(Token::Arg(Arg::Var(name, parts.collect())));
                i = j;
            }
            '.' => {
                let (w, j) = word(i + 1);
                let fields = w
                    .split('.')
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
                    .collect();
                tokens.push(Token::Arg(Arg::Field(fields)));
                i = j;
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+')
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let mut j = i + 1;
                while j < chars.len()
                    && (chars[j].is_ascii_alphanumeric()
                        || matches!(chars[j], '.' | '_')
                        || ((chars[j] == '-' || chars[j] == '+')
                            && matches!(chars[j - 1], 'e' | 'E')))
                {
                    j += 1;
                }
                let text: String = chars[i..j].iter().collect();
                let arg = match text.parse::<i64>() {
                    Ok(n) => Arg::Int(n),
                    Err(_) => Arg::Num(
                        text.parse()
                            .map_err(|_| format!("bad number syntax: {text}"))?,
                    ),
                };
                tokens.push(Token::Arg(arg));
                i = j;
            }
            c if c.is_alphabetic() || c == '_' => {
                let (w, j) = word(i);
                tokens.push(Token::Arg(match w.as_str() {
                    "true" => Arg::Bool(true),
                    "false" => Arg::Bool(false),
                    _ => Arg::Func(w),
                }));
                i = j;
            }
            other => return Err(format!("unexpected {other:?} in action")),
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_actions_pipes_and_trimming() {
        let nodes = parse("a {{- $labels.host }}  {{ $value | printf \"%.2f\" -}}  b").unwrap();
        assert_eq!(
            nodes,
            vec![
                Node::Text("a".into()),
                Node::Action(vec![Command {
                    args: vec![Arg::Var("labels".into(), vec!["host".into()])]
                }]),
                Node::Text("  ".into()),
                Node::Action(vec![
                    Command {
                        args: vec![Arg::Var("value".into(), vec![])]
                    },
                    Command {
                        args: vec![Arg::Func("printf".into()), Arg::Str("%.2f".into())]
                    },
                ]),
                Node::Text("b".into()),
            ]
        );
    }

    #[test]
    fn reports_syntax_errors() {
        assert!(parse("{{ $value ").unwrap_err().contains("unclosed action"));
        assert!(
            parse("{{ if $value }}x")
                .unwrap_err()
                .contains("without its {{end}}")
        );
        assert!(parse("{{ end }}").is_err());
        assert!(parse("{{ $x := 1 }}").unwrap_err().contains("assignments"));
        assert!(
            parse("{{ (humanize $value }}")
                .unwrap_err()
                .contains("unclosed left parenthesis")
        );
        assert_eq!(
            parse("{{/* note */}}x").unwrap(),
            vec![Node::Text("x".into())]
        );
    }
}
