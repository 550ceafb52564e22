//! Integration tests: one binary, one fresh database and port per test.

mod account;
mod app;
mod auth;
mod business_cli;
mod calls;
mod crm;
mod crm_support;
mod deploy_check;
mod directory;
mod drain;
mod find_duplicates;
mod followups;
mod health;
mod helpers;
mod hours_settings;
mod instances;
mod isolation;
mod jobs;
mod jobs_cli;
mod logging;
mod login_abuse;
mod migrations;
// The voice crate's test noise names it by its package name.
extern crate voice as agentlocator_voice;
#[path = "../../crates/voice/tests/support/noise.rs"]
#[allow(dead_code)]
mod noise;
mod notify;
mod notify_settings;
mod openapi;
mod outcome;
mod outcome_e2e;
mod payments;
mod process;
mod prune;
mod reconcile;
mod slow_clients;
mod spool;
mod tools;
mod transfer;
mod transfer_e2e;
mod webhooks;
