//! Integration tests: one binary, one fresh database and port per test.

mod account;
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
mod instances;
mod isolation;
mod jobs;
mod jobs_cli;
mod logging;
mod login_abuse;
mod migrations;
mod openapi;
mod payments;
mod process;
mod prune;
mod slow_clients;
mod webhooks;
