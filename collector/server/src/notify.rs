//! Notifications: from alerts to people, through routing, grouping, silences and a
//! durable outbox.
//!
//! ```text
//!  rules ──Alert──► dispatch (route tree, groups, inhibition, silences, notification log)
//!                      │ Notification per receiver, written to the outbox before any attempt
//!                      ▼
//!                   outbox (RocksDB `state` family) ──► delivery workers ──► receivers
//!                      ▲           retries with backoff + jitter;           email (lettre)
//!                      └──────── removed only once a receiver accepted       webhook (reqwest)
//!                                                                            alertmanager
//! ```
//!
//! Destinations come from configuration only ([`config`]), never from alert labels.
//! Secrets ([`secret`]) are read from the config, a file or the environment and never
//! printed.
//!
//! # Layout
//! - [`model`]: the alert and notification types every part shares.
//! - [`config`]: `[notify]` in the collector's config.
//! - [`secret`]: passwords and keys that may come from a file or the environment.
//! - label matchers (`name="v"`, `!=`, `=~`, `!~`) of routes, inhibition rules and
//!   silences come from [`vigil_rules::matchers`].
//! - [`notifier`]: the handle the collector holds; wires the parts below.
//! - [`dispatch`]: route tree, groups and their timers, inhibition, notification log.
//! - [`silences`]: durable silences.
//! - [`outbox`]: the durable outbox and delivery with backoff.
//! - [`receivers`]: email, webhook, alertmanager and ticket integrations.
//! - [`tickets`]: service-desk tickets that follow incidents (RT 5, templated desks).
//! - [`email`], [`webhook`], [`alertmanager`]: one integration each; [`http_client`]: the
//!   HTTP client and answer classes they share; [`render`]: subjects, bodies, webhook JSON.
//! - [`test_send`]: `vigil notify test`.
//! - [`metrics`]: `vigil_notifications_total` and the outbox depth.
//! - [`service`]: the Notify gRPC service (`vigil silence`, `vigil notify`).

pub mod alertmanager;
pub mod config;
pub mod dispatch;
pub mod email;
pub mod http_client;
pub mod metrics;
pub mod model;
pub mod notifier;
pub mod outbox;
pub mod receivers;
pub mod render;
pub mod secret;
pub mod service;
pub mod silences;
pub mod test_send;
pub mod tickets;
pub mod webhook;
