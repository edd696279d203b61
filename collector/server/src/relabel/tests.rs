use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

fn relabeler(toml_text: &str) -> Relabeler {
    #[derive(Deserialize)]
    struct File {
        relabel: Vec<RelabelConfig>,
    }
    let file: File = toml::from_str(toml_text).expect("parses");
    Relabeler::new(&file.relabel).expect("valid")
}

fn cpu() -> Labels {
    labels(&[
        ("__name__", "node_cpu_seconds_total"),
        ("host", "web-1"),
        ("job", "node"),
        ("instance", "web-1"),
        ("cpu", "0"),
        ("mode", "idle"),
    ])
}

#[test]
fn no_steps_keep_the_series_as_it_is() {
    assert_eq!(Relabeler::default().apply(cpu()), Outcome::Keep(cpu()));
}

#[test]
fn replace_writes_the_target_from_captures() {
    let r = relabeler(
        r#"
        [[relabel]]
        source_labels = ["instance", "cpu"]
        regex = "web-(\\d+);(.*)"
        target_label = "where"
        replacement = "w${1}c$2"
        "#,
    );
    let Outcome::Keep(out) = r.apply(cpu()) else {
        panic!("kept")
    };
    assert_eq!(out.get("where"), "w1c0");
    assert_eq!(out.get("mode"), "idle");
}

#[test]
fn replace_without_a_match_changes_nothing_and_an_empty_result_removes_the_label() {
    let r = relabeler(
        r#"
        [[relabel]]
        source_labels = ["mode"]
        regex = "user"
        target_label = "mode"
        replacement = "u"

        [[relabel]]
        source_labels = ["nothing"]
        target_label = "cpu"
        "#,
    );
    let Outcome::Keep(out) = r.apply(cpu()) else {
        panic!("kept")
    };
    assert_eq!(out.get("mode"), "idle");
    assert_eq!(out.get("cpu"), "", "an empty replacement removes cpu");
    assert_eq!(out.len(), 5);
}

#[test]
fn keep_and_drop_select_series_by_anchored_regex() {
    let keep = relabeler(
        r#"
        [[relabel]]
        action = "keep"
        source_labels = ["__name__"]
        regex = "node_cpu_.*"
        "#,
    );
    assert!(matches!(keep.apply(cpu()), Outcome::Keep(_)));
    let anchored = relabeler(
        r#"
        [[relabel]]
        action = "keep"
        source_labels = ["__name__"]
        regex = "cpu"
        "#,
    );
    assert_eq!(anchored.apply(cpu()), Outcome::Dropped);
    let drop = relabeler(
        r#"
        [[relabel]]
        action = "drop"
        source_labels = ["mode"]
        regex = "idle|iowait"
        "#,
    );
    assert_eq!(drop.apply(cpu()), Outcome::Dropped);
}

#[test]
fn labeldrop_labelkeep_and_labelmap_rename_and_remove_labels() {
    let r = relabeler(
        r#"
        [[relabel]]
        action = "labelmap"
        regex = "(mode|cpu)"
        replacement = "cpu_$1"

        [[relabel]]
        action = "labeldrop"
        regex = "mode|cpu"
        "#,
    );
    let Outcome::Keep(out) = r.apply(cpu()) else {
        panic!("kept")
    };
    assert_eq!(out.get("cpu_mode"), "idle");
    assert_eq!(out.get("cpu_cpu"), "0");
    assert_eq!(out.get("mode"), "");
    let keep = relabeler(
        r#"
        [[relabel]]
        action = "labelkeep"
        regex = "__name__|cpu"
        "#,
    );
    let Outcome::Keep(out) = keep.apply(cpu()) else {
        panic!("kept")
    };
    assert_eq!(
        out,
        labels(&[
            ("__name__", "node_cpu_seconds_total"),
            ("cpu", "0"),
            ("host", "web-1")
        ]),
        "host stays whatever labelkeep says"
    );
}

#[test]
fn host_cannot_be_dropped_or_rewritten() {
    let r = relabeler(
        r#"
        [[relabel]]
        action = "labeldrop"
        regex = "h.*"

        [[relabel]]
        action = "labelmap"
        regex = "instance"
        replacement = "host"
        "#,
    );
    let Outcome::Keep(out) = r.apply(cpu()) else {
        panic!("kept")
    };
    assert_eq!(out.get("host"), "web-1");
    let err = Relabeler::new(&[RelabelConfig {
        source_labels: vec!["instance".into()],
        target_label: "host".into(),
        ..RelabelConfig::default()
    }])
    .expect_err("host is refused");
    assert!(err.contains("relabel[0].target_label"), "{err}");
}

#[test]
fn equal_and_case_actions() {
    let r = relabeler(
        r#"
        [[relabel]]
        action = "keepequal"
        source_labels = ["host"]
        target_label = "instance"

        [[relabel]]
        action = "uppercase"
        source_labels = ["mode"]
        target_label = "mode_upper"
        "#,
    );
    let Outcome::Keep(out) = r.apply(cpu()) else {
        panic!("kept")
    };
    assert_eq!(out.get("mode_upper"), "IDLE");
    let other = labels(&[("__name__", "x"), ("host", "a"), ("instance", "b")]);
    assert_eq!(r.apply(other.clone()), Outcome::Dropped);
}

#[test]
fn losing_the_name_or_making_a_bad_label_name_is_invalid() {
    let r = relabeler(
        r#"
        [[relabel]]
        action = "labeldrop"
        regex = "__name__"
        "#,
    );
    assert!(matches!(r.apply(cpu()), Outcome::Invalid(m) if m.contains("__name__")));
}

#[test]
fn bad_configs_name_the_entry_and_the_key() {
    let bad_regex = RelabelConfig {
        regex: "(".into(),
        ..RelabelConfig::default()
    };
    let no_target = RelabelConfig {
        source_labels: vec!["a".into()],
        ..RelabelConfig::default()
    };
    let keep_without_sources = RelabelConfig {
        action: Action::Keep,
        ..RelabelConfig::default()
    };
    let bad_source = RelabelConfig {
        source_labels: vec!["a-b".into()],
        target_label: "x".into(),
        ..RelabelConfig::default()
    };
    for (config, key) in [
        (bad_regex, "relabel[1].regex"),
        (no_target, "relabel[1].target_label"),
        (keep_without_sources, "relabel[1].source_labels"),
        (bad_source, "relabel[1].source_labels"),
    ] {
        let ok = RelabelConfig {
            source_labels: vec!["a".into()],
            target_label: "b".into(),
            ..RelabelConfig::default()
        };
        let err = Relabeler::new(&[ok, config]).expect_err("refused");
        assert!(err.starts_with(key), "{err} names {key}");
    }
    let unknown: Result<RelabelConfig, _> = toml::from_str("action = \"hashmod\"");
    assert!(unknown.is_err());
}
