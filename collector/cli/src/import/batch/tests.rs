use super::*;

fn items(text: &str, format: Format, max_samples: usize) -> Vec<Item> {
    let mut all = Vec::new();
    read(
        text.as_bytes(),
        format,
        Batcher::new(max_samples, MAX_REQUEST_BYTES),
        |_| {},
        |item| {
            all.push(item);
            true
        },
    );
    all
}

fn requests(items: &[Item]) -> Vec<&Piece> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Request(p) => Some(p),
            _ => None,
        })
        .collect()
}

fn samples(piece: &Piece) -> u64 {
    piece.request.values.len() as u64
}

/// Absolute line of every sample of a request.
fn lines(piece: &Piece) -> Vec<u64> {
    let mut line = 0;
    piece
        .request
        .line_deltas
        .iter()
        .map(|d| {
            line += d;
            line
        })
        .collect()
}

#[test]
fn each_series_is_named_once_per_request() {
    let text = "# TYPE a gauge\na{x=\"1\"} 1 10\na{x=\"2\"} 3 10\na{x=\"1\"} 2 20\n\
                # TYPE b counter\nb_total 4 10\nb_total 5 20\n# EOF\n";
    let all = items(text, Format::OpenMetrics, 100);
    let reqs = requests(&all);
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0].request;
    let names: Vec<Vec<(&str, &str)>> = r
        .series
        .iter()
        .map(|s| {
            s.labels
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str()))
                .collect()
        })
        .collect();
    assert_eq!(
        names,
        vec![
            vec![("__name__", "a"), ("x", "1")],
            vec![("__name__", "a"), ("x", "2")],
            vec![("__name__", "b_total")],
        ]
    );
    assert_eq!(r.series_index, vec![0, 1, 0, 2, 2]);
    assert_eq!(
        r.timestamps_ms,
        vec![10_000, 10_000, 20_000, 10_000, 20_000]
    );
    assert_eq!(r.values, vec![1.0, 3.0, 2.0, 4.0, 5.0]);
    assert_eq!(lines(reqs[0]), vec![2, 3, 4, 6, 7]);
    assert_eq!(r.line_deltas, vec![2, 1, 1, 2, 1]);
    assert!(matches!(all.last(), Some(Item::Done { lines: 8 })));
}

#[test]
fn requests_are_cut_at_max_samples_and_start_afresh() {
    let text = "a 1 1\n\na 2 2\nb 3 3\na 4 4\n";
    let all = items(text, Format::Prometheus, 2);
    let reqs = requests(&all);
    assert_eq!(reqs.len(), 2);
    assert_eq!((reqs[0].first_line, samples(reqs[0])), (1, 2));
    assert_eq!(lines(reqs[0]), vec![1, 3]);
    assert_eq!((reqs[1].first_line, samples(reqs[1])), (4, 2));
    assert_eq!(lines(reqs[1]), vec![4, 5]);
    // The second request names its own series, from index 0.
    assert_eq!(reqs[1].request.series.len(), 2);
    assert_eq!(reqs[1].request.series_index, vec![0, 1]);
}

#[test]
fn a_bad_line_flushes_what_came_before_then_reports() {
    let text = "a 1 1\na 2 2\nb{x=\"1\" 3 3\na 4 4\n";
    let all = items(text, Format::Prometheus, 100);
    assert_eq!(all.len(), 2);
    assert_eq!(samples(requests(&all)[0]), 2);
    match &all[1] {
        Item::Bad { line, message } => {
            assert_eq!(*line, 3);
            assert!(message.contains("closing }"), "{message}");
        }
        other => panic!("expected a bad line, got {other:?}"),
    }
}

#[test]
fn openmetrics_needs_eof_last() {
    let all = items("a 1 1\n", Format::OpenMetrics, 100);
    assert_eq!(samples(requests(&all)[0]), 1);
    assert!(
        matches!(&all[1], Item::Bad { line: 2, message } if message.contains("without \"# EOF\""))
    );
    let all = items("a 1 1\n# EOF\na 2 2\n", Format::OpenMetrics, 100);
    assert!(
        matches!(&all[1], Item::Bad { line: 3, message } if message.contains("after \"# EOF\" on line 2"))
    );
    let all = items("a 1 1\n# EOF\n", Format::OpenMetrics, 100);
    assert!(matches!(all.last(), Some(Item::Done { lines: 2 })));
}

#[test]
fn overlong_lines_and_bad_utf8_are_refused() {
    let long = format!("a{{x=\"{}\"}} 1 1\n", "y".repeat(MAX_LINE_BYTES));
    let all = items(&long, Format::Prometheus, 100);
    assert!(matches!(&all[0], Item::Bad { line: 1, message } if message.contains("longer than")));
    let mut bytes = b"a 1 1\n".to_vec();
    bytes.extend_from_slice(b"b\xff 1 1\n");
    let mut all = Vec::new();
    read(
        &bytes[..],
        Format::Prometheus,
        Batcher::new(10, MAX_REQUEST_BYTES),
        |_| {},
        |i| {
            all.push(i);
            true
        },
    );
    assert!(matches!(&all[1], Item::Bad { line: 2, message } if message.contains("UTF-8")));
}

#[test]
fn requests_are_cut_by_bytes_too() {
    let value = "v".repeat(1000);
    let text: String = (0..100)
        .map(|i| format!("m{{i=\"{i}\",v=\"{value}\"}} 1 1\n"))
        .collect();
    let mut all = Vec::new();
    read(
        text.as_bytes(),
        Format::Prometheus,
        Batcher::new(1000, 10_000),
        |_| {},
        |i| {
            all.push(i);
            true
        },
    );
    let reqs = requests(&all);
    assert!(reqs.len() >= 10, "{} requests", reqs.len());
    assert_eq!(reqs.iter().map(|p| samples(p)).sum::<u64>(), 100);
}
