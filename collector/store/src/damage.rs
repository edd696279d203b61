//! Damaged data met while reading: what a query could not read, so it can answer with the
//! rest and name the loss (the Prometheus API's `warnings`) instead of failing whole.
//!
//! An engine that meets a part it cannot read (a checksum mismatch, a truncated file)
//! leaves that part out of the result and calls [`note`]. Whoever runs a query wraps it in
//! [`collect`], which gathers the notes of reads made on this thread meanwhile, and on the
//! threads the query starts to read in parallel (they take the query's sink along with
//! [`current`] and [`within`]); nothing has to carry the list through the PromQL engine's
//! values. Notes outside `collect` (rules, forecasts) are dropped here; the engine counts
//! and logs them itself.

use crate::SeriesId;
use std::cell::RefCell;
use std::sync::{Arc, Mutex};

/// Notes kept per query; past it one more says how many were left out.
const MAX_NOTES: usize = 100;

/// A part of the data a read could not use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loss {
    /// The series left out, when the damaged part belongs to one.
    pub series: Option<SeriesId>,
    /// First and last millisecond of the samples left out (inclusive).
    pub from_ms: i64,
    /// See `from_ms`.
    pub to_ms: i64,
    /// What the engine said (for example "block checksum mismatch … 000123.sst").
    pub detail: String,
}

/// Where the reads of one query note their losses; shared by the threads the query runs
/// its reads on (see [`current`] and [`within`]).
#[derive(Debug, Clone, Default)]
pub struct Sink(Arc<Mutex<(Vec<Loss>, usize)>>);

thread_local! {
    static SINK: RefCell<Option<Sink>> = const { RefCell::new(None) };
}

/// Runs `work`, returning its result and the losses noted by reads on this thread, and on
/// threads it handed the sink to ([`within`]), meanwhile (at most 100, and how many more
/// there were).
pub fn collect<T>(work: impl FnOnce() -> T) -> (T, Vec<Loss>, usize) {
    let sink = Sink::default();
    let value = within(Some(sink.clone()), work);
    let (losses, more) = std::mem::take(&mut *sink.0.lock().unwrap_or_else(|p| p.into_inner()));
    (value, losses, more)
}

/// The sink of the query running on this thread, for a thread it starts (`None` outside
/// [`collect`]).
pub fn current() -> Option<Sink> {
    SINK.with(|s| s.borrow().clone())
}

/// Runs `work` with `sink` as this thread's sink (a thread started by a query passes the
/// query's [`current`] sink), then restores the previous one.
pub fn within<T>(sink: Option<Sink>, work: impl FnOnce() -> T) -> T {
    let outer = SINK.with(|s| s.replace(sink));
    let value = work();
    SINK.with(|s| s.replace(outer));
    value
}

/// Records that a read left `loss` out (kept only inside [`collect`]).
pub fn note(loss: Loss) {
    let Some(sink) = current() else {
        return;
    };
    let mut guard = sink.0.lock().unwrap_or_else(|p| p.into_inner());
    let (losses, more) = &mut *guard;
    if losses.contains(&loss) {
        return;
    }
    if losses.len() < MAX_NOTES {
        losses.push(loss);
    } else {
        *more += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss(id: SeriesId) -> Loss {
        Loss {
            series: Some(id),
            from_ms: 0,
            to_ms: 1,
            detail: "checksum".into(),
        }
    }

    #[test]
    fn notes_reach_the_collect_around_them_once_and_not_outside() {
        note(loss(1));
        let ((), losses, more) = collect(|| {
            note(loss(2));
            note(loss(2));
            let ((), inner, _) = collect(|| note(loss(3)));
            assert_eq!(inner, vec![loss(3)]);
        });
        assert_eq!((losses, more), (vec![loss(2)], 0));
        let ((), losses, _) = collect(|| {});
        assert!(losses.is_empty());
    }

    #[test]
    fn threads_a_query_starts_note_into_its_sink() {
        let ((), losses, _) = collect(|| {
            let sink = current();
            std::thread::scope(|scope| {
                scope.spawn(|| within(sink, || note(loss(5))));
            });
        });
        assert_eq!(losses, vec![loss(5)]);
    }

    #[test]
    fn past_the_cap_only_a_count_is_kept() {
        let ((), losses, more) = collect(|| {
            for id in 0..150 {
                note(loss(id));
            }
        });
        assert_eq!((losses.len(), more), (100, 50));
    }
}
