use super::*;
use crate::collect::SeriesKey;

/// A directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("vigil-spool-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A sink that knows `n` series `m{i="k"}`, and a round of all of them.
fn sink_with(n: usize, round: u64) -> (Sink, Vec<u64>, Vec<f64>) {
    let mut sink = Sink::new();
    for i in 0..n {
        let label = i.to_string();
        sink.push(
            "m",
            &[("i", label.as_str())],
            (round * 1000 + i as u64) as f64,
        );
    }
    let (ids, values) = sink.take_round();
    (sink, ids, values)
}

fn open(dir: &Path, max_bytes: u64, sink: &mut Sink) -> (Spool, Recovery) {
    Spool::open(dir, max_bytes, Duration::ZERO, 8 << 20, sink).unwrap()
}

/// Every round from the start, as the stream reads them: (seq, timestamp, samples).
fn drain(spool: &mut Spool) -> Vec<Round> {
    let mut out = Vec::new();
    let mut next = 0;
    while let Some(r) = spool.first_from(next) {
        next = r.seq + 1;
        out.push(r);
    }
    out
}

fn label_of(sink: &Sink, id: u64) -> String {
    let key: &SeriesKey = sink.series(id).unwrap();
    key.labels[0].1.clone()
}

#[test]
fn memory_acks_remove_in_order_and_resend_starts_at_oldest() {
    let mut q = Spool::new(1 << 20);
    let (mut sink, ids, values) = sink_with(10, 0);
    let first = q.push(0, ids.clone(), values.clone(), &mut sink);
    for t in 1..5 {
        assert_eq!(
            q.push(t, ids.clone(), values.clone(), &mut sink),
            first + t as u64
        );
    }
    assert_eq!(q.ack(first + 1), 20);
    assert_eq!(q.len(), 3);
    assert_eq!(
        q.first_from(0).unwrap().seq,
        first + 2,
        "a new stream resends from the oldest"
    );
    assert_eq!(q.first_from(first + 3).unwrap().seq, first + 3);
    assert!(q.first_from(first + 5).is_none());
    assert_eq!(q.ack(first), 0, "an old ack changes nothing");
    assert_eq!(q.ack(first + 4), 30);
    assert!(q.is_empty());
    assert_eq!(q.bytes(), 0);
}

#[test]
fn full_memory_drops_oldest_and_counts() {
    let (mut sink, ids, values) = sink_with(100, 0);
    let one = Round {
        seq: 0,
        timestamp_ms: 0,
        ids: ids.clone(),
        values: values.clone(),
    }
    .bytes();
    let mut q = Spool::new(one * 3);
    let first = q.push(0, ids.clone(), values.clone(), &mut sink);
    for t in 1..5 {
        q.push(t, ids.clone(), values.clone(), &mut sink);
    }
    assert_eq!(q.len(), 3);
    assert_eq!(
        q.first_from(0).unwrap().seq,
        first + 2,
        "the newest rounds are kept"
    );
    assert_eq!(q.counters.dropped_rounds, 2);
    assert_eq!(q.counters.dropped_samples, 200);
    assert!(q.bytes() <= one * 3);
}

#[test]
fn a_restart_delivers_the_backlog_in_order_with_its_series() {
    let dir = TempDir::new("restart");
    let (mut sink, ids, _) = sink_with(50, 0);
    let (mut spool, recovery) = open(&dir.0, 64 << 20, &mut sink);
    assert_eq!(recovery, Recovery::default());
    let mut seqs = Vec::new();
    for t in 0..300 {
        let values: Vec<f64> = (0..50).map(|i| (t * 1000 + i) as f64).collect();
        seqs.push(spool.push(t, ids.clone(), values, &mut sink));
    }
    spool.ack(seqs[99]);
    // One more round carries the acknowledgement to disk.
    seqs.push(spool.push(
        300,
        ids.clone(),
        (0..50).map(|i| (300_000 + i) as f64).collect(),
        &mut sink,
    ));
    // No close: the process dies here.
    drop(spool);

    // A new process numbers its series differently.
    let mut sink = Sink::new();
    sink.push("other", &[], 1.0);
    let _ = sink.take_round();
    let (mut spool, recovery) = open(&dir.0, 64 << 20, &mut sink);
    assert_eq!(
        recovery.rounds, 201,
        "rounds 100..=300 were not acknowledged"
    );
    assert_eq!(recovery.samples, 201 * 50);
    assert_eq!(recovery.damaged_bytes, 0);
    assert_eq!(spool.len(), 201);
    let rounds = drain(&mut spool);
    let got: Vec<u64> = rounds.iter().map(|r| r.seq).collect();
    assert_eq!(
        got,
        seqs[100..].to_vec(),
        "in sequence order, nothing acknowledged again"
    );
    for r in &rounds {
        let t = r.timestamp_ms;
        for (id, v) in r.ids.iter().zip(&r.values) {
            let i: i64 = label_of(&sink, *id).parse().unwrap();
            assert_eq!(*v, (t * 1000 + i) as f64, "round {t} series {i}");
        }
    }
    let next = spool.push(400, ids.clone(), vec![0.0; 50], &mut sink);
    assert!(next > *seqs.last().unwrap(), "numbers never repeat");
    assert!(spool.oldest_ms() == Some(100));
}

#[test]
fn the_disk_bound_drops_whole_old_segments_and_counts_exactly() {
    let dir = TempDir::new("bound");
    let (mut sink, ids, values) = sink_with(40, 0);
    let (mut spool, _) = open(&dir.0, 64 << 10, &mut sink);
    let mut seqs = Vec::new();
    for t in 0..200 {
        seqs.push(spool.push(t, ids.clone(), values.clone(), &mut sink));
    }
    let dropped = spool.counters.dropped_rounds;
    assert!(dropped > 0, "200 rounds of ~400 bytes pass 64 KiB");
    assert_eq!(spool.counters.dropped_samples, dropped * 40);
    assert!(spool.disk_bytes() <= 64 << 10, "{}", spool.disk_bytes());
    let delivered: Vec<u64> = drain(&mut spool).iter().map(|r| r.seq).collect();
    assert_eq!(
        delivered.len() as u64 + dropped,
        200,
        "every round is delivered or counted"
    );
    assert_eq!(
        delivered,
        seqs[dropped as usize..].to_vec(),
        "the oldest go first"
    );
    // The same holds after a restart.
    drop(spool);
    let mut sink = Sink::new();
    let (mut spool, recovery) = open(&dir.0, 64 << 10, &mut sink);
    assert_eq!(recovery.rounds as usize, delivered.len());
    assert_eq!(drain(&mut spool).len(), delivered.len());
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

#[test]
fn damage_is_skipped_and_the_intact_rounds_delivered() {
    let dir = TempDir::new("damage");
    let (mut sink, ids, values) = sink_with(30, 0);
    // 64 KiB of spool makes 16 KiB segments: several files.
    let (mut spool, _) = open(&dir.0, 64 << 10, &mut sink);
    for t in 0..150 {
        spool.push(t, ids.clone(), values.clone(), &mut sink);
    }
    drop(spool);
    let files = segments(&dir.0);
    assert!(files.len() >= 3, "{files:?}");
    // Flip a byte in the middle of the second file, and tear the last one.
    let mut middle = std::fs::read(&files[1]).unwrap();
    let at = middle.len() / 2;
    middle[at] ^= 0xff;
    std::fs::write(&files[1], &middle).unwrap();
    let last = files.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(len - 7)
        .unwrap();

    let mut sink = Sink::new();
    let (mut spool, recovery) = open(&dir.0, 64 << 10, &mut sink);
    assert_eq!(recovery.damaged_segments, 2);
    assert!(recovery.damaged_bytes > 0);
    let rounds = drain(&mut spool);
    assert_eq!(
        rounds.len(),
        148,
        "one round lost in the middle, one torn at the end"
    );
    let times: Vec<i64> = rounds.iter().map(|r| r.timestamp_ms).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(times[0], 0);
    assert_eq!(*times.last().unwrap(), 148);
    assert!(
        rounds.iter().all(|r| r.ids.len() == 30),
        "definitions survive"
    );
    assert_eq!(spool.counters.damaged_segments, 2);
    // The torn tail was cut: a second start finds no damage there.
    drop(spool);
    let mut sink = Sink::new();
    let (_, again) = open(&dir.0, 64 << 10, &mut sink);
    assert_eq!(again.damaged_segments, 1, "only the flipped byte remains");
}

#[test]
fn an_unusable_directory_keeps_rounds_in_memory_and_counts() {
    let dir = TempDir::new("unusable");
    std::fs::write(&dir.0, b"a file, not a directory").unwrap();
    let (mut sink, ids, values) = sink_with(5, 0);
    let (mut spool, _) = open(&dir.0, 1 << 20, &mut sink);
    assert!(!spool.on_disk());
    assert!(spool.counters.write_errors >= 1);
    let seq = spool.push(1, ids.clone(), values.clone(), &mut sink);
    assert_eq!(spool.first_from(0).unwrap().seq, seq);
    assert_eq!(spool.len(), 1);
    let _ = std::fs::remove_file(&dir.0);
}

#[test]
fn a_second_agent_cannot_share_the_directory() {
    let dir = TempDir::new("lock");
    let mut sink = Sink::new();
    let (_first, _) = open(&dir.0, 1 << 20, &mut sink);
    let e = Spool::open(&dir.0, 1 << 20, Duration::ZERO, 8 << 20, &mut sink).unwrap_err();
    assert!(e.starts_with("delivery.spool_dir: "), "{e}");
    assert!(e.contains("another vigil-agent"), "{e}");
}

#[test]
fn acknowledged_segments_are_deleted() {
    let dir = TempDir::new("delete");
    let (mut sink, ids, values) = sink_with(30, 0);
    let (mut spool, _) = open(&dir.0, 1 << 20, &mut sink);
    let mut last = 0;
    for t in 0..400 {
        last = spool.push(t, ids.clone(), values.clone(), &mut sink);
        spool.ack(last);
    }
    assert!(segments(&dir.0).len() <= 2, "{:?}", segments(&dir.0));
    assert!(spool.is_empty());
    assert_eq!(spool.first_from(0), None);
    spool.close();
    drop(spool);
    let mut sink = Sink::new();
    let (mut spool, recovery) = open(&dir.0, 1 << 20, &mut sink);
    assert_eq!(recovery.rounds, 0, "the closing ack was written");
    assert!(spool.first_from(0).is_none());
    assert!(spool.push(0, vec![], vec![], &mut sink) > last);
}

#[test]
fn a_backlog_is_read_from_the_active_segment_while_it_grows() {
    let dir = TempDir::new("growing");
    let (mut sink, ids, values) = sink_with(200, 0);
    let (mut spool, _) = open(&dir.0, 64 << 20, &mut sink);
    let mut pushed = Vec::new();
    for t in 0..300 {
        pushed.push(spool.push(t, ids.clone(), values.clone(), &mut sink));
    }
    assert!(
        spool.bytes() <= CACHE_BYTES + 4096,
        "memory keeps only the young rounds"
    );
    let mut read = Vec::new();
    let mut next = 0;
    let mut t = 300;
    while let Some(r) = spool.first_from(next) {
        next = r.seq + 1;
        read.push(r.seq);
        assert_eq!(r.ids.len(), 200);
        if read.len() % 5 == 0 && t < 600 {
            pushed.push(spool.push(t, ids.clone(), values.clone(), &mut sink));
            t += 1;
        }
    }
    assert_eq!(read, pushed, "every round once, in order, none skipped");
    assert_eq!(spool.counters, Counters::default(), "no damage, no drop");
}
