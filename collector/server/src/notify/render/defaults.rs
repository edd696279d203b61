//! Vigil's default email subject and bodies, modelled on Alertmanager's: the subject
//! names the status, the count of firing alerts and the group; the bodies list every
//! alert, firing first, with labels, annotations, start, end and source link.

use super::rfc3339;
use crate::notify::model::{Alert, LabelMap, Notification};
use std::fmt::Write as _;

/// The default subject: `[FIRING:2] HighCpu (severity=page)`, `[RESOLVED] HighCpu`.
/// The group's label values name it (the alert name when the route does not group); the
/// labels every alert shares beyond those follow in parentheses.
pub fn default_subject(n: &Notification) -> String {
    let status = match n.status() {
        "firing" => format!("FIRING:{}", n.firing().count()),
        _ => "RESOLVED".to_owned(),
    };
    let common = n.common_labels();
    let mut name: Vec<&str> = n.group_labels.values().map(String::as_str).collect();
    if name.is_empty() {
        name.push(common.get("alertname").map_or("alerts", String::as_str));
    }
    let rest: Vec<String> = common
        .iter()
        .filter(|(k, _)| !n.group_labels.contains_key(*k) && *k != "alertname")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let prefix = if n.test { "[TEST] " } else { "" };
    let mut subject = format!("{prefix}[{status}] {}", name.join(" "));
    if !rest.is_empty() {
        let _ = write!(subject, " ({})", rest.join(" "));
    }
    subject
}

/// The default plain-text body: every alert with labels, annotations, start and end.
pub fn default_text(n: &Notification) -> String {
    let common = n.common_labels();
    let mut out = String::new();
    let _ = writeln!(out, "{}", default_subject(n));
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", counts(n));
    if n.test {
        let _ = writeln!(
            out,
            "This is a test notification sent by `vigil notify test`; no alert fires."
        );
    }
    if !n.external_url.is_empty() {
        let _ = writeln!(out, "Vigil: {}", n.external_url);
    }
    for (title, alerts) in [
        ("Firing", n.firing().collect::<Vec<_>>()),
        ("Resolved", n.resolved().collect()),
    ] {
        if alerts.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title}\n{}", "=".repeat(title.len()));
        for a in alerts {
            let _ = writeln!(out, "\n{}", heading(a, &common));
            let _ = writeln!(out, "  Labels:");
            for (k, v) in &a.labels {
                let _ = writeln!(out, "    {k} = {v}");
            }
            if !a.annotations.is_empty() {
                let _ = writeln!(out, "  Annotations:");
                for (k, v) in &a.annotations {
                    let _ = writeln!(out, "    {k} = {v}");
                }
            }
            let _ = writeln!(out, "  Started: {}", rfc3339(a.starts_at_ms));
            if let Some(end) = a.ends_at_ms {
                let _ = writeln!(out, "  Ended:   {}", rfc3339(end));
            }
            if !a.generator_url.is_empty() {
                let _ = writeln!(out, "  Source:  {}", a.generator_url);
            }
        }
    }
    out
}

/// The default HTML body: the same content as [`default_text`], escaped.
pub fn default_html(n: &Notification) -> String {
    let common = n.common_labels();
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    out.push_str(&escape_html(&default_subject(n)));
    out.push_str("</title></head>\n<body style=\"font-family: sans-serif\">\n");
    let _ = writeln!(out, "<h2>{}</h2>", escape_html(&default_subject(n)));
    let _ = writeln!(out, "<p>{}</p>", escape_html(&counts(n)));
    if n.test {
        out.push_str(
            "<p>This is a test notification sent by <code>vigil notify test</code>; no alert \
             fires.</p>\n",
        );
    }
    if !n.external_url.is_empty() {
        let url = escape_html(&n.external_url);
        let _ = writeln!(out, "<p><a href=\"{url}\">Open Vigil</a></p>");
    }
    for (title, color, alerts) in [
        ("Firing", "#d9534f", n.firing().collect::<Vec<_>>()),
        ("Resolved", "#5cb85c", n.resolved().collect()),
    ] {
        if alerts.is_empty() {
            continue;
        }
        let _ = writeln!(out, "<h3 style=\"color: {color}\">{title}</h3>");
        for a in alerts {
            out.push_str("<table style=\"border-collapse: collapse; margin-bottom: 1em\">\n");
            let _ = writeln!(
                out,
                "<tr><th colspan=\"2\" style=\"text-align: left\">{}</th></tr>",
                escape_html(&heading(a, &common))
            );
            let row = |out: &mut String, k: &str, v: &str| {
                let _ = writeln!(
                    out,
                    "<tr><td style=\"padding-right: 1em\">{}</td><td>{}</td></tr>",
                    escape_html(k),
                    escape_html(v)
                );
            };
            rows(&mut out, "Labels", &a.labels, row);
            rows(&mut out, "Annotations", &a.annotations, row);
            row(&mut out, "Started", &rfc3339(a.starts_at_ms));
            if let Some(end) = a.ends_at_ms {
                row(&mut out, "Ended", &rfc3339(end));
            }
            if !a.generator_url.is_empty() {
                let url = escape_html(&a.generator_url);
                let _ = writeln!(
                    out,
                    "<tr><td>Source</td><td><a href=\"{url}\">{url}</a></td></tr>"
                );
            }
            out.push_str("</table>\n");
        }
    }
    out.push_str("</body></html>\n");
    out
}

fn rows(out: &mut String, title: &str, map: &LabelMap, row: impl Fn(&mut String, &str, &str)) {
    if map.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<tr><td colspan=\"2\"><i>{}</i></td></tr>",
        escape_html(title)
    );
    for (k, v) in map {
        row(out, k, v);
    }
}

fn counts(n: &Notification) -> String {
    let (firing, resolved) = (n.firing().count(), n.resolved().count());
    let mut parts = Vec::new();
    if firing > 0 {
        parts.push(format!("{firing} firing"));
    }
    if resolved > 0 {
        parts.push(format!("{resolved} resolved"));
    }
    format!("{} (receiver {})", parts.join(", "), n.receiver)
}

/// The alert's name and the labels that set it apart from the others of the group:
/// `HighCpu (instance=a:1)`.
fn heading(a: &Alert, common: &LabelMap) -> String {
    let name = a
        .labels
        .get("alertname")
        .map_or("(no alertname)", String::as_str);
    let own: Vec<String> = a
        .labels
        .iter()
        .filter(|(k, v)| *k != "alertname" && common.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if own.is_empty() {
        name.to_owned()
    } else {
        format!("{name} ({})", own.join(" "))
    }
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::render::tests::sample;

    #[test]
    fn subject_counts_firing_and_names_the_group() {
        let mut n = sample();
        assert_eq!(
            default_subject(&n),
            "[FIRING:1] HighCpu (host=a severity=page)"
        );
        n.alerts[0].ends_at_ms = Some(1_700_000_090_000);
        assert_eq!(
            default_subject(&n),
            "[RESOLVED] HighCpu (host=a severity=page)"
        );
        n.group_labels.clear();
        n.alerts.truncate(1);
        assert!(default_subject(&n).starts_with("[RESOLVED] HighCpu (host=a instance=a:1"));
    }

    #[test]
    fn bodies_list_every_alert() {
        let n = sample();
        let text = default_text(&n);
        assert!(
            text.contains("1 firing, 1 resolved (receiver ops)"),
            "{text}"
        );
        assert!(text.contains("    instance = a:1"), "{text}");
        assert!(
            text.contains("\nHighCpu (instance=a:1)\n  Labels:\n"),
            "{text}"
        );
        assert!(text.contains("\nHighCpu (instance=a:2)\n"), "{text}");
        assert!(text.contains("    instance = a:2"), "{text}");
        assert!(text.contains("    summary = CPU <busy> on a"), "{text}");
        assert!(text.contains("  Started: 2023-11-14T22:13:20Z"), "{text}");
        assert!(text.contains("  Ended:   2023-11-14T22:14:20.5Z"), "{text}");
        assert!(text.find("Firing").unwrap() < text.find("Resolved").unwrap());
        let html = default_html(&n);
        assert!(html.contains("CPU &lt;busy&gt; on a"), "{html}");
        assert!(!html.contains("<busy>"), "{html}");
        assert!(html.contains("<td>a:2</td>"), "{html}");
    }
}
