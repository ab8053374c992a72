//! The machine-readable output modes every tool gets, beside bcc's text ([`crate::render`]).
//!
//! All of them take a [`Report`](crate::Report): the histograms of one interval or one scrape.
//!
//! - [`json`]: `-j`/`--json`, one JSON object per interval on one line
//!   ([`json::to_line`]).
//! - [`prometheus`]: the Prometheus text format (version 0.0.4), one histogram family per
//!   report, cumulative `le` buckets in seconds, as ebpf_exporter exports histograms
//!   ([`prometheus::encode`]).
//! - [`server`]: `--prometheus ADDR`, an HTTP server answering `GET /metrics` with that text
//!   ([`server::MetricsServer`]).
//!
//! A tool in Prometheus mode wires them up like this (the map is never cleared, so every
//! scrape is cumulative and the counters never go down):
//!
//! ```no_run
//! use hist_user::{Report, output::{prometheus, server::MetricsServer}};
//!
//! # fn snapshot() -> Result<Report, String> { unimplemented!() }
//! let server = MetricsServer::start(":9435", || {
//!     let report = snapshot()?; // read the map: cumulative, never cleared
//!     prometheus::encode("nfsdist_latency_seconds", "NFS operation latency.", &report)
//!         .map_err(|e| e.to_string())
//! })?;
//! eprintln!("serving http://{}/metrics", server.local_addr());
//! # Ok::<(), hist_user::output::server::Error>(())
//! ```

pub mod heatmap;
pub mod json;
pub mod prometheus;
pub mod server;
