//! Cases every [`Store`] implementation must pass; each engine's tests call [`run_all`].
//!
//! Test code compiled outside `cfg(test)` (the `conformance` feature lets other engines'
//! test suites run it), so unwrapping is how a case fails, as in any test.
#![allow(clippy::unwrap_used)]

mod forward;
mod records;
mod samples;
mod series;

use crate::{Labels, Store};

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

/// Runs every case against `store`, which must be empty.
pub fn run_all(store: &dyn Store) {
    series::resolve_is_stable_and_limited(store);
    samples::replayed_samples_are_harmless(store);
    samples::ranges_are_inclusive_and_ordered(store);
    series::select_honours_every_matcher_kind(store);
    records::hosts_round_trip(store);
    series::label_names_and_values(store);
    records::alert_state_round_trips(store);
    records::small_records_are_kept_per_space(store);
    samples::the_last_write_at_a_timestamp_wins(store);
    samples::series_do_not_see_each_others_samples(store);
    series::stats_count_series_per_host(store);
    samples::reads_for_a_step_are_raw_while_raw_is_kept(store);
    forward::records_hold_each_append_while_on(store);
    forward::reads_stop_at_their_limits(store);
    forward::trim_drops_through_and_off_empties(store);
    forward::series_are_walked_by_id(store);
}
