//! An agent stream from arbitrary bytes: the Hello's checks, the host registry, then every
//! Batch through `ingest::session::Session` over the in-memory store at a fixed clock.
//!
//! Input: one byte choosing the caller (see `vigil_fuzz::caller`), then AgentMessages,
//! each length-delimited (a varint length, then the message), as gRPC hands them over.
//! Checked beyond "no panic": every Ack names its batch, and accepts plus refuses exactly
//! the samples the batch carries.

#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use std::sync::Arc;
use std::time::Duration;
use vigil_collector::ingest::Counters;
use vigil_collector::ingest::session::{Session, check_hello, samples_carried};
use vigil_collector::limits::Limits;
use vigil_collector::registry::Registry;
use vigil_proto::v1::AgentMessage;
use vigil_proto::v1::agent_message::Kind;
use vigil_store::Store;
use vigil_store::memory::MemoryStore;

/// Most messages read from one input.
const MAX_MESSAGES: usize = 64;

fuzz_target!(|data: &[u8]| vigil_fuzz::run(|| stream(data)));

fn stream(data: &[u8]) {
    let Some((&who, mut rest)) = data.split_first() else {
        return;
    };
    let mut messages = Vec::new();
    while !rest.is_empty() && messages.len() < MAX_MESSAGES {
        match AgentMessage::decode_length_delimited(&mut rest) {
            Ok(m) => messages.push(m),
            Err(_) => break,
        }
    }
    let mut messages = messages.into_iter();
    let Some(AgentMessage {
        kind: Some(Kind::Hello(hello)),
    }) = messages.next()
    else {
        return;
    };
    // Small limits, so that an input can reach each of them.
    let limits = Arc::new(Limits {
        max_series_per_host: 40,
        max_labels_per_series: 8,
        max_label_name_bytes: 32,
        max_label_value_bytes: 64,
        max_hosts: 3,
        max_series_ids_per_stream: 48,
        ..Limits::default()
    });
    let caller = vigil_fuzz::caller(who);
    let Ok(host) = check_hello(&hello, &caller, &limits) else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let registry = Registry::new(store.clone(), Duration::from_secs(60), limits.max_hosts);
    if registry
        .connect(&host, &hello, "fuzz", vigil_fuzz::NOW_MS)
        .is_err()
    {
        return;
    }
    let counters = Arc::new(Counters::default());
    let mut session = Session::new(host, &hello, store, limits, counters);
    for message in messages {
        let Some(Kind::Batch(batch)) = message.kind else {
            // The service ends the stream here.
            return;
        };
        let seq = batch.seq;
        let carried: u64 = batch.scrapes.iter().map(samples_carried).sum();
        let ack = session
            .handle(batch, vigil_fuzz::NOW_MS)
            .expect("the in-memory store does not fail");
        assert_eq!(ack.seq, seq, "the ack names its batch");
        assert_eq!(
            ack.accepted_samples + ack.rejected_samples,
            carried,
            "every sample is accepted or refused, once: {ack:?}"
        );
        assert!(
            ack.rejected_samples == 0 || ack.rejection.is_some(),
            "refused samples come with a reason: {ack:?}"
        );
    }
}
