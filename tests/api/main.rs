//! Integration tests: one binary, one fresh database and port per test.

mod app;
mod find_duplicates;
mod health;
mod helpers;
mod logging;
mod migrations;
