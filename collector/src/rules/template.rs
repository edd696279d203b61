//! Alert templates: `{{ $labels.x }}`, `{{ $value }}`, `{{ $eta }}` and the `humanize*`
//! helpers, as Prometheus's Go templates write them. Placeholder: being written.

use std::collections::BTreeMap;

/// What a template can refer to.
#[derive(Debug, Clone, Default)]
pub struct TemplateData<'a> {
    /// `$labels`.
    pub labels: Option<&'a BTreeMap<String, String>>,
    /// `$value`.
    pub value: f64,
    /// Further variables by name without `$` (`eta`, `eta_lower`, `eta_upper`, `model`).
    pub vars: BTreeMap<String, String>,
}

/// Checks that `template` parses (used when loading rule files).
pub fn check(template: &str) -> Result<(), String> {
    let _ = template;
    Ok(())
}

/// Expands `template`.
pub fn expand(template: &str, data: &TemplateData<'_>) -> Result<String, String> {
    let _ = data;
    Ok(template.to_owned())
}
