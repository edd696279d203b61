//! Aggregations folded on several threads give what one thread gives.

use super::*;
use crate::eval::select::{StepPoints, gather};
use promql_parser::parser::Expr;

/// A `by (g)` modifier, parsed as a query would give it.
fn by_g() -> LabelModifier {
    match promql_parser::parser::parse("avg by (g) (x)") {
        Ok(Expr::Aggregate(a)) => a.modifier.expect("a by clause"),
        other => panic!("not an aggregation: {other:?}"),
    }
}

#[test]
fn large_aggregations_fold_on_threads_as_on_one() {
    let series: Vec<Labels> = (0..500)
        .map(|i| {
            Labels::from_pairs(&[
                ("__name__", "x"),
                ("g", &(i % 7).to_string()),
                ("i", &i.to_string()),
            ])
        })
        .collect();
    // Over PARALLEL_FOLD_POINTS, with series missing at some steps.
    let steps: Vec<Vec<(u32, f64)>> = (0..301)
        .map(|step| {
            (0..500u32)
                .filter(|s| (s + step) % 11 != 0)
                .map(|s| (s, f64::from(s) * 0.37 + f64::from(step) / 3.0))
                .collect()
        })
        .collect();
    let input = StepVector { series, steps };
    assert!(input.steps.iter().map(Vec::len).sum::<usize>() >= PARALLEL_FOLD_POINTS);
    let modifier = by_g();
    for agg in [Agg::Avg, Agg::Sum, Agg::Stddev, Agg::Quantile] {
        let phi = vec![0.9; input.steps.len()];
        let param = (agg == Agg::Quantile).then_some(phi.as_slice());
        let (group_of, groups) = groups(&input.series, Some(&modifier));
        let one = fold_steps(agg, &input.steps, 0, &group_of, groups.len(), param);
        let folded = fold(agg, input.clone(), Some(&modifier), param);
        assert_eq!(folded.series, groups);
        assert_eq!(folded.steps.len(), one.len());
        for (a, b) in folded.steps.iter().zip(&one) {
            let bits = |s: &[(u32, f64)]| -> Vec<(u32, u64)> {
                s.iter().map(|&(g, v)| (g, v.to_bits())).collect()
            };
            assert_eq!(bits(a), bits(b), "{agg:?}");
        }
    }
}

#[test]
fn series_by_series_folds_as_the_step_major_fold() {
    let special = [f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -0.0, 1e308];
    let series: Vec<(Labels, StepPoints)> = (0..60u32)
        .map(|i| {
            let labels = Labels::from_pairs(&[
                ("__name__", "x"),
                ("g", &(i % 4).to_string()),
                ("i", &i.to_string()),
            ]);
            // Series 5 has no point; others miss some steps; a few take ±Inf and NaN.
            let points = (0..40u32)
                .filter(|step| i != 5 && (i + step) % 9 != 0)
                .map(|step| {
                    let v = match (i * 7 + step) % 23 {
                        k @ 0..=4 => special[k as usize],
                        _ => f64::from(i) * 0.37 - f64::from(step) / 3.0,
                    };
                    (step, v)
                })
                .collect();
            (labels, points)
        })
        .collect();
    let bits = |v: &StepVector| -> Vec<Vec<(u32, u64)>> {
        v.steps
            .iter()
            .map(|s| s.iter().map(|&(g, x)| (g, x.to_bits())).collect())
            .collect()
    };
    let by = by_g();
    for modifier in [None, Some(&by)] {
        for agg in [
            Agg::Sum,
            Agg::Avg,
            Agg::Min,
            Agg::Max,
            Agg::Count,
            Agg::Group,
            Agg::Stddev,
            Agg::Stdvar,
        ] {
            assert!(by_series::applies(agg));
            let stepwise = fold(agg, gather(series.clone(), 40, None), modifier, None);
            let direct = by_series::aggregate(agg, series.clone(), modifier, 40);
            assert_eq!(direct.series, stepwise.series, "{agg:?}");
            assert_eq!(bits(&direct), bits(&stepwise), "{agg:?} {modifier:?}");
        }
    }
}
