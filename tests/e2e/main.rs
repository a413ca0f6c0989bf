//! End-to-end tests: one binary, one module per area. Each test starts its
//! own relay on a free port and talks to it with real WebSocket clients;
//! `cluster` also starts its own nats-server processes.

mod auth;
mod bad_input;
mod browser;
mod chat;
mod cli;
mod cluster;
mod deploy;
mod durable;
mod hostile;
mod identities;
mod limits;
mod process;
mod pwa;
mod soak;
mod tls;
