//! CPU cost of one collection round on this machine's real `/proc` and `/sys`.
//!
//! Runs `Collectors::collect` ROUNDS times (default 2000), PAUSE_MS apart (default 0, back
//! to back), and prints the process's CPU time per round (user + system, every thread
//! included, from `getrusage(RUSAGE_SELF)`), the wall time per round (pauses excluded),
//! and the series per round. With `by-source`, then does the same for each source alone.
//!
//! ```text
//! cargo run --profile agent -p vigil-agent --example collect_cost
//! cargo run --profile agent -p vigil-agent --example collect_cost -- 5000
//! cargo run --profile agent -p vigil-agent --example collect_cost -- 200 50
//! cargo run --profile agent -p vigil-agent --example collect_cost -- 2000 0 by-source
//! ```
//!
//! Back-to-back rounds keep the CPU's caches warm; the agent collects every 1–10 s, so
//! its real cost per round is higher, which a pause between rounds shows. Compare runs on
//! the same machine only, and run each a few times: other load on the machine shows.

use std::time::{Duration, Instant};

use vigil_agent::collect::{Collectors, Options, Sink};

fn main() {
    let arg = |n: usize| std::env::args().nth(n);
    let rounds: u32 = arg(1).map_or(2000, |n| {
        n.parse()
            .expect("the first argument is the number of rounds, e.g. 2000")
    });
    let pause: u64 = arg(2).map_or(0, |n| {
        n.parse()
            .expect("the second argument is the pause in ms, e.g. 50")
    });
    let pause = Duration::from_millis(pause);
    let by_source = match arg(3).as_deref() {
        None => false,
        Some("by-source") => true,
        Some(other) => panic!("the third argument is `by-source`, not {other:?}"),
    };

    let mut collectors = Collectors::new(Options::default());
    let mut sink = Sink::new();
    let cost = measure(rounds, pause, &mut sink, |sink| {
        let round = collectors.collect(sink);
        if let Some((source, error)) = round.errors.first() {
            eprintln!("source {source} failed: {error}");
        }
    });
    println!("{rounds} rounds: {cost}");
    if by_source {
        by_each_source(rounds, pause);
    }
}

/// CPU and wall time per round, and samples per round, of `round` run `rounds` times
/// after 10 rounds of warm-up (the first defines every series and fills the caches).
fn measure(
    rounds: u32,
    pause: Duration,
    sink: &mut Sink,
    mut round: impl FnMut(&mut Sink),
) -> Cost {
    for _ in 0..10 {
        round(sink);
        sink.take_round();
    }
    let (mut cpu, mut wall, mut samples) = (Duration::ZERO, Duration::ZERO, 0);
    for _ in 0..rounds {
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
        let (cpu0, wall0) = (cpu_time(), Instant::now());
        round(sink);
        cpu += cpu_time() - cpu0;
        wall += wall0.elapsed();
        samples += sink.len();
        sink.take_round();
    }
    Cost {
        cpu: cpu / rounds,
        wall: wall / rounds,
        samples: samples / rounds as usize,
    }
}

struct Cost {
    cpu: Duration,
    wall: Duration,
    samples: usize,
}

impl std::fmt::Display for Cost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        write!(
            f,
            "{:7.1} µs CPU per round, {:7.1} µs wall per round, {} series per round",
            us(self.cpu),
            us(self.wall),
            self.samples
        )
    }
}

/// Each Linux source alone, in the order `Collectors` runs them.
#[cfg(target_os = "linux")]
fn by_each_source(rounds: u32, pause: Duration) {
    use vigil_agent::collect::{Paths, cpu, disk, filesystem, host, load, memory, network};
    let paths = Paths::default();
    let facts = host::facts(&paths);
    let mut sink = Sink::new();
    let mut report = |name: &str, round: &mut dyn FnMut(&mut Sink)| {
        let cost = measure(rounds, pause, &mut sink, |sink| round(sink));
        println!("  {name:<11} {cost}");
    };
    let (mut cpu, mut memory) = (cpu::Cpu::new(&paths), memory::Memory::new(&paths));
    let (mut load, mut disk) = (load::Load::new(&paths), disk::Disk::new(&paths));
    let mut network = network::Network::new(&paths);
    let mut filesystems = filesystem::Filesystems::new(&Options::default());
    let mut host = host::Host::new(&paths);
    report("cpu", &mut |sink| cpu.collect(sink).expect("cpu"));
    report("memory", &mut |sink| memory.collect(sink).expect("memory"));
    report("load", &mut |sink| load.collect(sink).expect("load"));
    report("disk", &mut |sink| disk.collect(sink).expect("disk"));
    report("network", &mut |sink| {
        network.collect(sink).expect("network")
    });
    report("filesystem", &mut |sink| {
        filesystems.collect(sink).expect("filesystem")
    });
    report("host", &mut |sink| {
        host.collect(&facts, sink).expect("host")
    });
}

#[cfg(not(target_os = "linux"))]
fn by_each_source(_rounds: u32, _pause: Duration) {
    println!("  (sources are measured one by one on Linux only)");
}

/// User + system CPU time of the whole process so far, every thread included.
#[allow(unsafe_code)]
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: `usage` is writable memory of the size getrusage expects.
    let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } == 0;
    assert!(ok, "getrusage failed");
    // SAFETY: getrusage returned 0, so it filled in the whole struct.
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}
