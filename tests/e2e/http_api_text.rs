//! Numbers and times in the HTTP API's answers are byte for byte what Debian's Prometheus
//! 2.42 writes: the same expressions at the same times, asked of both, give the same text.

#![allow(clippy::unwrap_used)]

use vigil_tests::Collector;

/// Scalars, vectors and range queries of constant expressions, at whole, fractional and
/// negative times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_and_times_are_written_as_prometheus_writes_them() {
    vigil_tests::prometheus::ensure_installed();
    let dir = tempfile::tempdir().unwrap();
    let prometheus = vigil_tests::prometheus::Prometheus::start(&dir.path().join("prom"));
    let (_collector, vigil) = Collector::start_with_http(&dir.path().join("vigil"), &[]);
    let http = vigil_tests::http_client().build().unwrap();
    let mut expressions: Vec<String> = [
        "93015433358559.625", // a tie: Go keeps the even digit
        "1e21",
        "1.5e300",
        "5e-324",
        "-1.5e-7",
        "0.000001",
        "1e15+0.5",
        "2^53+2",
        "-0.1-0.2",
        "1/3",
        "-1/0",
        "0/0",
        "100",
        "-(0)",
    ]
    .map(str::to_owned)
    .to_vec();
    // A fixed pseudo-random walk over mantissas and magnitudes.
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..300 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let mantissa = (state >> 11) as f64 / (1u64 << 53) as f64;
        let exponent = (state % 80) as i32 - 40;
        expressions.push(format!("{:e}", mantissa * 10f64.powi(exponent)));
        expressions.push(format!(
            "{}",
            (state >> 8) as f64 / f64::from(1u32 << (state % 24))
        ));
    }
    let times = [
        "4",
        "1700000000.5",
        "1700000000.05",
        "-1.5",
        "1700000000.0004",
    ];
    let mut asked = 0;
    for (i, expr) in expressions.iter().enumerate() {
        let time = times[i % times.len()];
        // Every third one as a vector, whose samples' times are written differently.
        let expr = if i % 3 == 0 {
            format!("vector({expr})")
        } else {
            expr.clone()
        };
        let instant = [("query", expr.as_str()), ("time", time)];
        let range = [
            ("query", expr.as_str()),
            ("start", "1700000000.05"),
            ("end", "1700000003.1"),
            ("step", "0.35"),
        ];
        let (path, params) = if i % 7 == 0 {
            ("query_range", &range[..])
        } else {
            ("query", &instant[..])
        };
        let mut bodies = Vec::new();
        for base in [prometheus.url(), vigil.clone()] {
            let url =
                reqwest::Url::parse_with_params(&format!("{base}/api/v1/{path}"), params).unwrap();
            bodies.push(http.get(url).send().await.unwrap().text().await.unwrap());
        }
        assert_eq!(
            bodies[1], bodies[0],
            "{path} {params:?}: Vigil, then Prometheus"
        );
        asked += 1;
    }
    assert_eq!(asked, expressions.len());
}
