//! Integration tests: the real server on 127.0.0.1:0, driven over HTTP and WebSockets.
//! One test binary (faster to link), one module per area.

mod auth;
mod binary;
mod cli;
mod common;
mod framing;
mod lifecycle;
mod metrics;
mod negotiate;
mod rest_execute;
mod rest_invoke;
mod rest_latest;
mod rest_limits;
mod rest_paging;
mod rest_support;
mod rest_tokens;
mod rest_v1;
mod rest_v1_preview;
mod slow_clients;
mod streams;
mod swagger;
mod transports;
mod upstream_cli;
mod upstream_module;
