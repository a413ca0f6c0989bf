//! End-to-end tests: one binary, one module per area. Each test starts its
//! own relay on a free port and talks to it with real WebSocket clients;
//! `cluster` also starts its own nats-server processes.

mod a11y;
mod addresses;
mod auth;
mod bad_input;
mod big_rooms;
mod browser;
mod chat;
mod cli;
mod cluster;
mod cluster_routing;
mod deploy;
mod durable;
mod events;
mod fanout;
mod frame_budget;
mod hostile;
mod identities;
mod keyboard;
mod limits;
mod loading;
mod member_panel;
mod operations;
mod process;
mod pwa;
mod retention;
mod robustness;
mod search;
mod slow_consumers;
mod soak;
mod store_conformance;
mod store_faults;
mod timeouts;
mod tls;
mod token_url;
