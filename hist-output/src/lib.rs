//! The outputs of hist's histograms beside bcc's text (`hist_user::render`), each behind a
//! Cargo feature of the same name (all on by default), so that a program takes only those it
//! writes. All of them take a [`Report`](hist_user::Report): the histograms of one interval or
//! one scrape.
//!
//! - [`json`]: `-j`/`--json`, one JSON object per interval on one line
//!   ([`json::to_line`]).
//! - [`prometheus`]: the Prometheus text format (version 0.0.4), one histogram family per
//!   report, cumulative `le` buckets in seconds, as ebpf_exporter exports histograms
//!   ([`prometheus::encode`]).
//! - [`server`] (feature `prometheus`): `--prometheus ADDR`, an HTTP server answering
//!   `GET /metrics` with that text ([`server::MetricsServer`]).
//! - [`heatmap`]: `--heatmap FILE`, the latency of a whole run over time as SVG or PNG.
//!
//! A tool in Prometheus mode wires them up like this (the map is never cleared, so every
//! scrape is cumulative and the counters never go down):
//!
//! ```no_run
//! use hist_output::{prometheus, server::MetricsServer};
//! use hist_user::Report;
//!
//! # fn snapshot() -> Result<Report, String> { unimplemented!() }
//! let server = MetricsServer::start(":9435", || {
//!     let report = snapshot()?; // read the map: cumulative, never cleared
//!     prometheus::encode("nfsdist_latency_seconds", "NFS operation latency.", &report)
//!         .map_err(|e| e.to_string())
//! })?;
//! eprintln!("serving http://{}/metrics", server.local_addr());
//! # Ok::<(), hist_output::server::Error>(())
//! ```
#![deny(missing_docs)]

#[cfg(feature = "heatmap")]
pub mod heatmap;
#[cfg(feature = "json")]
pub mod json;
#[cfg(feature = "prometheus")]
pub mod prometheus;
#[cfg(feature = "prometheus")]
pub mod server;
