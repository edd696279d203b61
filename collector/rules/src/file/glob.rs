//! Expanding rule-file paths that are globs (`/etc/vigil/rules/*.yml`), as Prometheus's
//! `rule_files` does: `*` (any run of characters but `/`), `?` (one character) and
//! `[abc]`/`[a-z]`/`[!a-z]` in any path component; matches sorted. A pattern that matches
//! nothing gives nothing (an empty rules directory is not an error); a path without
//! wildcards is returned as it is, so that a missing file is reported when it is read.

use std::path::{Component, Path, PathBuf};

/// The files `pattern` names.
pub(super) fn expand(pattern: &Path) -> Vec<PathBuf> {
    if !has_wildcard(&pattern.to_string_lossy()) {
        return vec![pattern.to_owned()];
    }
    let mut found = vec![PathBuf::new()];
    for component in pattern.components() {
        let part = component.as_os_str().to_string_lossy();
        let wild = matches!(component, Component::Normal(_)) && has_wildcard(&part);
        if !wild {
            for path in &mut found {
                path.push(component.as_os_str());
            }
            continue;
        }
        let mut next = Vec::new();
        for dir in &found {
            let listing = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir.as_path()
            };
            let Ok(entries) = std::fs::read_dir(listing) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                // Like the shell and Go, `*` does not match a leading dot unless asked to.
                .filter(|n| !n.starts_with('.') || part.starts_with('.'))
                .filter(|n| matches(part.as_bytes(), n.as_bytes()))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| dir.join(n)));
        }
        found = next;
    }
    found.retain(|p| p.is_file());
    found
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Whether `name` matches the glob `pattern` (one path component).
fn matches(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| matches(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && matches(rest, &name[1..]),
        Some((b'[', rest)) => {
            let Some((&c, name_rest)) = name.split_first() else {
                return false;
            };
            match class(rest, c) {
                Some((true, after)) => matches(after, name_rest),
                Some((false, _)) => false,
                // An unclosed `[` is a literal.
                None => c == b'[' && matches(rest, name_rest),
            }
        }
        Some((&p, rest)) => name.first() == Some(&p) && matches(rest, &name[1..]),
    }
}

/// Matches `c` against the class after `[`: (matched, pattern after `]`).
fn class(pattern: &[u8], c: u8) -> Option<(bool, &[u8])> {
    let (negate, mut body) = match pattern.first() {
        Some(b'!' | b'^') => (true, &pattern[1..]),
        _ => (false, pattern),
    };
    let mut hit = false;
    let mut first = true;
    loop {
        match body {
            [] => return None,
            [b']', rest @ ..] if !first => return Some((hit != negate, rest)),
            [lo, b'-', hi, rest @ ..] if *hi != b']' => {
                hit |= (*lo..=*hi).contains(&c);
                body = rest;
            }
            [x, rest @ ..] => {
                hit |= *x == c;
                body = rest;
            }
        }
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_a_shell() {
        let m = |p: &str, n: &str| matches(p.as_bytes(), n.as_bytes());
        assert!(m("*.yml", "host.yml"));
        assert!(!m("*.yml", "host.yaml"));
        assert!(m("*.y*ml", "host.yaml"));
        assert!(m("rule?.yml", "rule1.yml"));
        assert!(!m("rule?.yml", "rule10.yml"));
        assert!(m("r[0-9].yml", "r7.yml"));
        assert!(!m("r[!0-9].yml", "r7.yml"));
        assert!(m("r[!0-9].yml", "rx.yml"));
        assert!(m("[ab]*", "b"));
    }

    #[test]
    fn expands_in_any_component_sorted() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["a", "b"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
            for f in ["2.yml", "1.yml", "x.txt", ".hidden.yml"] {
                std::fs::write(dir.path().join(sub).join(f), "").unwrap();
            }
        }
        let got = expand(&dir.path().join("*/*.yml"));
        let want: Vec<PathBuf> = ["a/1.yml", "a/2.yml", "b/1.yml", "b/2.yml"]
            .iter()
            .map(|p| dir.path().join(p))
            .collect();
        assert_eq!(got, want);
        assert!(expand(&dir.path().join("none/*.yml")).is_empty());
        let plain = dir.path().join("missing.yml");
        assert_eq!(expand(&plain), vec![plain.clone()]);
    }
}
