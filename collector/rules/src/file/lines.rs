//! Where things are in a rule file's text, for the line numbers of diagnostics.
//!
//! The YAML parser gives a position only for syntax errors, so this module reads the
//! block structure of the text itself: every line that starts a mapping key (`name:`) or
//! a sequence item (`- `), with its indentation. That is enough to find
//! `groups[1].rules[3].expr` in the files people write (block style). Anything it cannot
//! follow (flow style such as `rules: [{...}]`, multi-document files) only makes the line
//! less precise: a lookup falls back to the nearest enclosing node it did find.

use std::collections::HashMap;

/// A step in a path through the file: a mapping key or a sequence index.
#[derive(Debug, Clone, Copy)]
pub(super) enum Step<'a> {
    /// `key:` in a mapping.
    Key(&'a str),
    /// The n-th (0-based) item of a sequence.
    Index(usize),
}

/// A node of the block structure, with the 1-based line it starts on.
#[derive(Debug, Default)]
pub(super) struct Node {
    line: usize,
    keys: HashMap<String, Node>,
    items: Vec<Node>,
}

impl Node {
    /// The line of the node at `path`, or of the deepest node on the way that was found.
    pub(super) fn line(&self, path: &[Step<'_>]) -> Option<usize> {
        let mut node = self;
        let mut best = (node.line > 0).then_some(node.line);
        for step in path {
            let next = match step {
                Step::Key(k) => node.keys.get(*k),
                Step::Index(i) => node.items.get(*i),
            };
            match next {
                Some(n) => {
                    node = n;
                    best = Some(n.line);
                }
                None => break,
            }
        }
        best
    }
}

/// One line that matters for the structure.
#[derive(Debug)]
enum Token {
    /// `- ` at this column.
    Dash { line: usize, col: usize },
    /// `key:` at this column; `inline` when a value follows on the same line.
    Key {
        line: usize,
        col: usize,
        name: String,
        inline: bool,
    },
    /// Anything else (a scalar on its own line).
    Other { col: usize },
}

impl Token {
    fn col(&self) -> usize {
        match self {
            Token::Dash { col, .. } | Token::Key { col, .. } | Token::Other { col } => *col,
        }
    }
}

/// Reads the block structure of `text`.
pub(super) fn locate(text: &str) -> Node {
    let tokens = tokenize(text);
    let mut pos = 0;
    let mut root = Node::default();
    if let Some(t) = tokens.first() {
        root = parse_node(&tokens, &mut pos, t.col());
    }
    root
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    // Lines more indented than this belong to a scalar (block scalar or continuation).
    let mut skip_deeper_than: Option<usize> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.trim_start();
        let col = raw.len() - content.len();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if let Some(limit) = skip_deeper_than {
            if col > limit {
                continue;
            }
            skip_deeper_than = None;
        }
        if content == "---" || content.starts_with("--- ") || content == "..." {
            continue;
        }
        let mut col = col;
        let mut rest = content;
        while rest == "-" || rest.starts_with("- ") {
            tokens.push(Token::Dash { line, col });
            let after = rest[1..].trim_start();
            col += rest.len() - after.len();
            rest = after;
        }
        if rest.is_empty() {
            continue;
        }
        match split_key(rest) {
            Some((name, value)) => {
                let inline = !value.is_empty();
                if inline {
                    skip_deeper_than = Some(col);
                }
                tokens.push(Token::Key {
                    line,
                    col,
                    name,
                    inline,
                });
            }
            None => {
                tokens.push(Token::Other { col });
                skip_deeper_than = Some(col);
            }
        }
    }
    tokens
}

/// `key: value` → (key, value without a trailing comment); `None` when the line is not a
/// mapping entry.
fn split_key(s: &str) -> Option<(String, &str)> {
    let (name, after) = if let Some(quote) = s.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let end = s[1..].find(quote)? + 1;
        (s[1..end].to_owned(), &s[end + 1..])
    } else {
        let colon = s
            .find(": ")
            .or_else(|| s.strip_suffix(':').map(|k| k.len()))?;
        let name = &s[..colon];
        if name.starts_with(['{', '[', '"', '\'', '|', '>']) {
            return None;
        }
        (name.trim_end().to_owned(), &s[colon..])
    };
    let value = after.strip_prefix(':')?;
    if !(value.is_empty() || value.starts_with([' ', '\t'])) {
        return None;
    }
    let value = value.trim();
    let value = if value.starts_with('#') { "" } else { value };
    Some((name, value))
}

/// Parses the node whose tokens start at `pos` and sit at column `col` or deeper.
fn parse_node(tokens: &[Token], pos: &mut usize, col: usize) -> Node {
    let mut node = Node::default();
    match tokens.get(*pos) {
        Some(Token::Dash { line, col: c }) if *c >= col => {
            let c = *c;
            node.line = *line;
            while let Some(Token::Dash { line, col: dc }) = tokens.get(*pos) {
                if *dc != c {
                    break;
                }
                let line = *line;
                *pos += 1;
                let mut item = match tokens.get(*pos) {
                    Some(t) if t.col() > c => parse_node(tokens, pos, c + 1),
                    _ => Node::default(),
                };
                item.line = line;
                node.items.push(item);
                skip_deeper(tokens, pos, c);
            }
        }
        Some(Token::Key { line, col: c, .. }) if *c >= col => {
            let c = *c;
            node.line = *line;
            while let Some(Token::Key {
                line,
                col: kc,
                name,
                inline,
            }) = tokens.get(*pos)
            {
                if *kc != c {
                    break;
                }
                let (line, name, inline) = (*line, name.clone(), *inline);
                *pos += 1;
                let mut child = Node::default();
                if !inline {
                    match tokens.get(*pos) {
                        // `key:` followed by `- item` at the key's own column.
                        Some(Token::Dash { col: dc, .. }) if *dc >= c => {
                            child = parse_node(tokens, pos, c);
                        }
                        Some(t) if t.col() > c => child = parse_node(tokens, pos, c + 1),
                        _ => {}
                    }
                }
                child.line = line;
                node.keys.entry(name).or_insert(child);
                skip_deeper(tokens, pos, c);
            }
        }
        Some(Token::Other { .. }) => {
            *pos += 1;
        }
        _ => {}
    }
    node
}

/// Skips whatever this parser did not understand below column `col`.
fn skip_deeper(tokens: &[Token], pos: &mut usize, col: usize) {
    while tokens.get(*pos).is_some_and(|t| t.col() > col) {
        *pos += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# comment
groups:
- name: first
  interval: 1m
  rules:
    - alert: A
      expr: |
        up == 0
        - not: an item
      labels:
        severity: page
    - record: b
      expr: >-
        sum(x)
- name: 'second'
  rules:
  - alert: C
    expr: up
      == 1
    forecast: {expr: x}
";

    #[test]
    fn finds_lines_of_nested_keys() {
        let root = locate(FILE);
        let at = |path: &[Step<'_>]| root.line(path);
        use Step::*;
        assert_eq!(at(&[Key("groups")]), Some(2));
        assert_eq!(at(&[Key("groups"), Index(0)]), Some(3));
        assert_eq!(at(&[Key("groups"), Index(0), Key("interval")]), Some(4));
        assert_eq!(
            at(&[Key("groups"), Index(0), Key("rules"), Index(0)]),
            Some(6)
        );
        let r0 = [Key("groups"), Index(0), Key("rules"), Index(0)];
        assert_eq!(
            at(&[&r0[..], &[Key("labels"), Key("severity")]].concat()),
            Some(11)
        );
        assert_eq!(
            at(&[Key("groups"), Index(0), Key("rules"), Index(1), Key("expr")]),
            Some(13)
        );
        assert_eq!(at(&[Key("groups"), Index(1), Key("name")]), Some(15));
        assert_eq!(
            at(&[Key("groups"), Index(1), Key("rules"), Index(0)]),
            Some(17)
        );
        let r = [Key("groups"), Index(1), Key("rules"), Index(0)];
        assert_eq!(at(&[&r[..], &[Key("forecast")]].concat()), Some(20));
        // Flow style: falls back to the enclosing key.
        assert_eq!(
            at(&[&r[..], &[Key("forecast"), Key("expr")]].concat()),
            Some(20)
        );
        assert_eq!(at(&[Key("groups"), Index(5)]), Some(2));
    }
}
