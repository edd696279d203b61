//! Aggregations folded on several threads give what one thread gives.

use super::*;
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
        let (group_of, groups) = groups(&input, Some(&modifier));
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
