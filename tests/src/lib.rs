//! Helpers for the end-to-end tests: start relays, connect clients.
