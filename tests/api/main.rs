//! Integration tests: one binary, one fresh database and port per test.

mod app;
mod auth;
mod business_cli;
mod calls;
mod crm;
mod crm_support;
mod deploy_check;
mod drain;
mod find_duplicates;
mod health;
mod helpers;
mod isolation;
mod jobs;
mod jobs_cli;
mod logging;
mod login_abuse;
mod migrations;
mod openapi;
mod payments;
mod reconcile;
mod spool;
mod webhooks;
