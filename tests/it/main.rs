//! Integration tests: the real server on 127.0.0.1:0, driven over HTTP and WebSockets.
//! One test binary (faster to link), one module per area.

mod app_server;
mod auth;
mod binary;
mod cli;
mod cluster;
mod common;
mod connection_auth;
mod cors;
mod default_mode;
mod fanout_order;
mod framing;
mod identity;
mod lifecycle;
mod long_polling_order;
mod metrics;
mod negotiate;
mod numbers;
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
mod tls;
mod transports;
mod upstream_answers;
mod upstream_cli;
mod upstream_limit;
mod upstream_module;
