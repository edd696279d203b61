//! Damaged data met while reading: what a query could not read, so it can answer with the
//! rest and name the loss (the Prometheus API's `warnings`) instead of failing whole.
//!
//! An engine that meets a part it cannot read (a checksum mismatch, a truncated file)
//! leaves that part out of the result and calls [`note`]. Whoever runs a query wraps it in
//! [`collect`], which gathers the notes of reads made on this thread meanwhile: queries
//! evaluate on one thread (a `spawn_blocking` slot), so nothing has to carry the list
//! through the PromQL engine. Notes outside `collect` (rules, forecasts) are dropped here;
//! the engine counts and logs them itself.

use crate::SeriesId;
use std::cell::RefCell;

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

thread_local! {
    static NOTES: RefCell<Option<(Vec<Loss>, usize)>> = const { RefCell::new(None) };
}

/// Runs `work`, returning its result and the losses noted by reads on this thread
/// meanwhile (at most 100, and how many more there were).
pub fn collect<T>(work: impl FnOnce() -> T) -> (T, Vec<Loss>, usize) {
    let outer = NOTES.with(|n| n.borrow_mut().replace((Vec::new(), 0)));
    let value = work();
    let (losses, more) = NOTES
        .with(|n| std::mem::replace(&mut *n.borrow_mut(), outer))
        .unwrap_or_default();
    (value, losses, more)
}

/// Records that a read left `loss` out (kept only inside [`collect`]).
pub fn note(loss: Loss) {
    NOTES.with(|n| {
        if let Some((losses, more)) = n.borrow_mut().as_mut() {
            if losses.contains(&loss) {
                return;
            }
            if losses.len() < MAX_NOTES {
                losses.push(loss);
            } else {
                *more += 1;
            }
        }
    });
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
    fn past_the_cap_only_a_count_is_kept() {
        let ((), losses, more) = collect(|| {
            for id in 0..150 {
                note(loss(id));
            }
        });
        assert_eq!((losses.len(), more), (100, 50));
    }
}
