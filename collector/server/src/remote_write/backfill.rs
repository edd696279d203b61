//! A new remote's history (`backfill = DURATION`, on first configuration only): every
//! series' samples in `[from_ms, until_ms)`, walked in series-id order, sent through the
//! same shards and filter as live rounds, before them. Progress (`after_series`) is
//! persisted after each page; a restart resumes from there (the page in flight is sent
//! again: at least once). The live log is kept from the configuration time meanwhile, so
//! live rounds then go on from exactly where the history stops; `max_lag` does not give
//! up history (it is old by design), while `max_queue_bytes` still bounds the live log
//! waiting behind it.

use super::forwarder::{Forwarder, Step};
use super::metrics::State;
use super::round::{self, Ending};
use super::state::Cursor;
use tracing::info;
use vigil_store::SeriesId;

/// Series asked for per page.
const PAGE: usize = 1000;

/// Sends the history left in the cursor, then clears it there. [`Step::Stopped`] when
/// the collector stops first.
pub async fn run(f: &mut Forwarder) -> Step {
    if let Some(b) = f.cursor.backfill {
        info!(
            remote = %f.name, from_ms = b.from_ms, until_ms = b.until_ms,
            after_series = ?b.after_series,
            "remote write: sending history (backfill) before live data"
        );
    }
    loop {
        if round::stopping(&f.shard.stop) {
            return Step::Stopped;
        }
        f.shard.metrics.set_state(State::Backfilling);
        match page(f).await {
            Ok(Step::More) => {}
            Ok(Step::CaughtUp) => {
                info!(remote = %f.name, "remote write: history sent; going on with live data");
                return Step::CaughtUp;
            }
            Ok(Step::Stopped) => return Step::Stopped,
            Err(e) => {
                f.failed(&e);
                if !f.pause().await {
                    return Step::Stopped;
                }
            }
        }
    }
}

/// Sends one page of history; [`Step::CaughtUp`] when none is left.
async fn page(f: &mut Forwarder) -> Result<Step, String> {
    let Some(backfill) = f.cursor.backfill else {
        return Ok(Step::CaughtUp);
    };
    let after = backfill.after_series;
    let series = f.blocking(move |s| s.series_after(after, PAGE)).await?;
    if series.is_empty() {
        f.save(Cursor {
            backfill: None,
            ..f.cursor.clone()
        })
        .await?;
        return Ok(Step::CaughtUp);
    }
    let mut wanted = Vec::with_capacity(series.len());
    f.labeler.trim_memory();
    for (id, labels) in &series {
        f.labeler.learn_one(*id, labels);
        wanted.push(*id);
    }
    let sent: Vec<bool> = wanted.iter().map(|id| f.labeler.sends(*id)).collect();
    let budget = f.settings.round_samples();
    let (from, until) = (backfill.from_ms, backfill.until_ms);
    let (samples, covered) = f
        .blocking(move |s| {
            let mut out: Vec<(SeriesId, Vec<(i64, f64)>)> = Vec::new();
            let (mut total, mut covered) = (0u64, None);
            for (id, send) in wanted.into_iter().zip(sent) {
                if send && until > from {
                    let mut samples = Vec::new();
                    s.samples(id, from, until - 1, &mut samples)?;
                    total += samples.len() as u64;
                    out.push((id, samples));
                }
                covered = Some(id);
                if total >= budget {
                    break;
                }
            }
            Ok((out, covered))
        })
        .await?;
    let plan = round::plan(
        samples.iter().map(|(id, s)| (*id, &s[..])),
        &f.labeler,
        &f.last_sent,
        f.settings.concurrency,
        f.settings.batch_size,
    );
    if f.send(plan, State::Backfilling, None, None).await == Ending::Stopped {
        return Ok(Step::Stopped);
    }
    let mut next = backfill;
    next.after_series = covered;
    f.save(Cursor {
        backfill: Some(next),
        ..f.cursor.clone()
    })
    .await?;
    Ok(Step::More)
}
