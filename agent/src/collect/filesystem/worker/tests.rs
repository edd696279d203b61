use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Holds the calls that wait on it until the test opens it: a hung mount that recovers
/// when the test says so.
#[derive(Default)]
pub(crate) struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

/// How long a call waits at a gate never opened: far longer than any test's timeout, so a
/// round that waited for a hung call fails its test instead of hanging it.
const GATE_GIVES_UP: Duration = Duration::from_secs(60);

impl Gate {
    /// Blocks until [`open`](Self::open), or [`GATE_GIVES_UP`].
    pub(crate) fn wait(&self) {
        let open = self.open.lock().expect("gate lock");
        let _open = self
            .opened
            .wait_timeout_while(open, GATE_GIVES_UP, |open| !*open)
            .expect("gate lock");
    }

    /// Lets every waiting and later call through.
    pub(crate) fn open(&self) {
        *self.open.lock().expect("gate lock") = true;
        self.opened.notify_all();
    }
}

/// Waits until `done` holds: for what other threads do at their own pace. Gives up after a
/// minute, which only a broken pool can take.
pub(crate) fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < give_up, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn targets(paths: &[&str]) -> Vec<Target> {
    paths
        .iter()
        .map(|p| Target {
            key: (*p).into(),
            path: Path::new(p).into(),
        })
        .collect()
}

fn stats(size_bytes: u64) -> FsStats {
    FsStats {
        size_bytes,
        ..FsStats::default()
    }
}

/// A pool whose calls on paths starting with `/hung` wait for `gate`; every call answers
/// the length of its path as the size and is counted in `calls`.
fn pool(gate: &Arc<Gate>, calls: &Arc<AtomicUsize>, timeout: Duration) -> Pool {
    let (gate, calls) = (Arc::clone(gate), Arc::clone(calls));
    let statfs = move |path: &Path| {
        calls.fetch_add(1, Ordering::SeqCst);
        if path.starts_with("/hung") {
            gate.wait();
        }
        Ok(stats(path.as_os_str().len() as u64))
    };
    Pool::new(Arc::new(statfs), timeout)
}

#[test]
fn one_worker_makes_every_call_round_after_round() {
    let (gate, calls) = (Arc::new(Gate::default()), Arc::default());
    let mut pool = pool(&gate, &calls, Duration::from_secs(10));
    let targets = targets(&["/", "/home", "/mnt/data"]);
    let mut results = Vec::new();
    for _ in 0..20 {
        pool.stat_all(&targets, &mut results);
        assert_eq!(results, [Some(stats(1)), Some(stats(5)), Some(stats(9))]);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 60);
    assert_eq!(pool.timeouts_total(), 0);
    // A finish without a start has nothing to answer.
    pool.finish(&mut results);
    assert_eq!(results, []);
    eventually("the worker waits for work", || {
        pool.census() == (1, 0, 1, 0)
    });
}

#[test]
fn each_hung_mount_holds_one_worker_and_is_counted_once() {
    let (gate, calls) = (Arc::new(Gate::default()), Arc::default());
    let mut pool = pool(&gate, &calls, Duration::from_millis(300));
    let targets = targets(&["/", "/hung/a", "/home", "/hung/b", "/srv"]);
    let mut results = Vec::new();
    for _ in 0..5 {
        pool.stat_all(&targets, &mut results);
        let want = [Some(stats(1)), None, Some(stats(5)), None, Some(stats(4))];
        assert_eq!(results, want);
        // Two workers stuck, one free; the hung mounts were asked once and counted once.
        assert_eq!(pool.census(), (3, 2, 3, 2));
        assert_eq!(pool.timeouts_total(), 2);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2 + 5 * 3);

    gate.open();
    eventually("the stuck workers end", || pool.census() == (1, 0, 3, 0));
    pool.stat_all(&targets, &mut results);
    assert!(results.iter().all(Option::is_some), "{results:?}");
    assert_eq!(pool.timeouts_total(), 2);
    assert_eq!(pool.census().2, 3);
}

#[test]
fn at_the_worker_limit_queued_calls_time_out_and_are_asked_again() {
    let (gate, calls) = (Arc::new(Gate::default()), Arc::default());
    let mut pool = pool(&gate, &calls, Duration::from_millis(100));
    pool.max_workers = 1;
    let targets = targets(&["/", "/hung", "/home", "/srv"]);
    let mut results = Vec::new();
    pool.stat_all(&targets, &mut results);
    assert_eq!(results, [Some(stats(1)), None, None, None]);
    // The hung call and the two behind it; only the hung one stays in flight.
    assert_eq!(pool.timeouts_total(), 3);
    assert_eq!(pool.census(), (1, 1, 1, 1));

    pool.stat_all(&targets, &mut results);
    assert_eq!(results, [None, None, None, None]);
    assert_eq!(pool.timeouts_total(), 6);
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    gate.open();
    eventually("the worker is free", || pool.census() == (1, 0, 1, 0));
    pool.stat_all(&targets, &mut results);
    assert!(results.iter().all(Option::is_some), "{results:?}");
    assert_eq!(pool.timeouts_total(), 6);
}

#[test]
fn a_late_answer_is_not_taken_for_a_later_rounds() {
    let gate = Arc::new(Gate::default());
    let gate_in_call = Arc::clone(&gate);
    let statfs = move |path: &Path| {
        if path == Path::new("/hung") {
            gate_in_call.wait();
            return Ok(stats(7));
        }
        Err(io::Error::from_raw_os_error(libc::EIO))
    };
    let mut pool = Pool::new(Arc::new(statfs), Duration::from_millis(50));
    let mut results = Vec::new();
    pool.stat_all(&targets(&["/hung"]), &mut results);
    assert_eq!(results, [None]);
    gate.open();
    eventually("the hung call returns", || pool.census().3 == 0);
    // Round 1's answer for index 0 is waiting in the channel; round 2's index 0 failed.
    pool.stat_all(&targets(&["/broken"]), &mut results);
    assert_eq!(results, [None]);
    assert_eq!(pool.timeouts_total(), 1);
}

#[test]
fn dropping_the_pool_ends_its_workers_stuck_ones_when_they_return() {
    let (gate, calls) = (Arc::new(Gate::default()), Arc::default());
    let mut pool = pool(&gate, &calls, Duration::from_millis(50));
    let mut results = Vec::new();
    pool.stat_all(&targets(&["/hung", "/"]), &mut results);
    assert_eq!(results, [None, Some(stats(1))]);
    let shared = Arc::clone(&pool.shared);
    let live = || shared.lock().live;
    assert_eq!(live(), 2);
    drop(pool);
    eventually("the free worker ends", || live() == 1);
    gate.open();
    eventually("the stuck worker ends", || live() == 0);
}
