use super::*;
use crate::remote_write::config::RemoteWriteConfig;

fn labeler(ids: &[SeriesId]) -> Labeler {
    let config = RemoteWriteConfig {
        url: "http://127.0.0.1:1/api/v1/write".into(),
        r#match: vec![r#"{__name__="m"}"#.into()],
        ..RemoteWriteConfig::default()
    };
    let mut labeler = Labeler::new(SeriesFilter::new(&config).unwrap());
    let labels = ids
        .iter()
        .map(|id| {
            let name = if *id == 99 { "skipped" } else { "m" };
            Some(Labels::from_pairs(&[
                ("__name__", name),
                ("id", &id.to_string()),
            ]))
        })
        .collect();
    labeler.learn(ids, labels);
    labeler
}

fn decoded(request: &Request) -> Vec<(String, Vec<(i64, f64)>)> {
    wire::decode(&request.body, 1 << 20)
        .unwrap()
        .timeseries
        .into_iter()
        .map(|ts| {
            let id = ts.labels.iter().find(|l| l.name == "id").unwrap();
            let samples = ts.samples.iter().map(|s| (s.timestamp, s.value)).collect();
            (id.value.clone(), samples)
        })
        .collect()
}

#[test]
fn each_series_goes_through_one_shard_sorted_in_batches() {
    let labeler = labeler(&[1, 2, 3, 4, 5, 99]);
    let records: Vec<(SeriesId, Vec<(i64, f64)>)> = vec![
        (1, vec![(30, 3.0), (10, 1.0)]),
        (2, vec![(10, 1.0)]),
        (99, vec![(10, 1.0)]),
        (1, vec![(20, 2.0), (30, 3.5)]),
        (3, (0..7).map(|t| (t, t as f64)).collect()),
        (4, vec![(5, 5.0)]),
        (5, vec![(5, 5.0)]),
    ];
    let series = || records.iter().map(|(id, s)| (*id, &s[..]));
    let plan = plan(series(), &labeler, &LastSent::default(), 3, 4);
    assert_eq!(plan.shards.len(), 3);
    assert_eq!((plan.out_of_order, plan.unknown), (0, 0));
    let mut per_series: HashMap<String, Vec<(i64, f64)>> = HashMap::new();
    for (shard, requests) in plan.shards.iter().enumerate() {
        for request in requests {
            assert!(request.samples <= 4 && request.samples > 0);
            let content = decoded(request);
            let samples: usize = content.iter().map(|(_, s)| s.len()).sum();
            assert_eq!(samples as u64, request.samples);
            for (id, samples) in content {
                assert_eq!(shard_of(id.parse().unwrap(), 3), shard, "series {id}");
                per_series.entry(id).or_default().extend(samples);
            }
        }
    }
    // Sorted, and at an equal time the later written value wins (as in the store).
    assert_eq!(per_series["1"], vec![(10, 1.0), (20, 2.0), (30, 3.5)]);
    assert_eq!(per_series["3"].len(), 7);
    assert!(per_series["3"].windows(2).all(|w| w[0].0 < w[1].0));
    assert!(!per_series.contains_key("99"), "filtered by match");
    // The same round gives the same requests.
    let again = super::plan(series(), &labeler, &LastSent::default(), 3, 4);
    let bodies = |p: &Plan| -> Vec<Vec<Vec<u8>>> {
        p.shards
            .iter()
            .map(|s| s.iter().map(|r| r.body.clone()).collect())
            .collect()
    };
    assert_eq!(bodies(&plan), bodies(&again));
}

#[test]
fn samples_at_or_before_the_last_sent_stay_out() {
    let labeler = labeler(&[1, 2]);
    let first: Vec<(i64, f64)> = vec![(10, 1.0), (20, 2.0)];
    let plan1 = plan(
        [(1, &first[..])].into_iter(),
        &labeler,
        &LastSent::default(),
        1,
        10,
    );
    let mut last = LastSent::default();
    last.record(&plan1.shards[0][0]);
    let second: Vec<(i64, f64)> = vec![(5, 0.5), (20, 2.0), (30, 3.0)];
    let unknown: Vec<(i64, f64)> = vec![(1, 1.0)];
    let plan2 = plan(
        [(1, &second[..]), (7, &unknown[..])].into_iter(),
        &labeler,
        &last,
        1,
        10,
    );
    assert_eq!(plan2.out_of_order, 1, "t=5 is older than t=20 sent");
    assert_eq!(plan2.unknown, 1, "series 7 was never learned");
    assert_eq!(
        decoded(&plan2.shards[0][0]),
        vec![("1".into(), vec![(30, 3.0)])]
    );
}

#[test]
fn shards_spread_and_stay_put() {
    let mut counts = [0; 4];
    for id in 0..4000 {
        counts[shard_of(id, 4)] += 1;
        assert_eq!(shard_of(id, 4), shard_of(id, 4));
    }
    assert!(counts.iter().all(|c| *c > 800), "{counts:?}");
    assert_eq!(shard_of(12345, 1), 0);
}

#[test]
fn answers_are_coded_by_status() {
    assert_eq!(Code::of(Some(503)), Code::ServerError);
    assert_eq!(Code::of(Some(429)), Code::TooMany);
    assert_eq!(Code::of(Some(408)), Code::Refused);
    assert_eq!(Code::of(Some(204)), Code::Success);
    assert_eq!(Code::of(None), Code::Error);
}
