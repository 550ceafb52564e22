//! AgentLocator: the library behind the `agentlocator` binary — an AI
//! receptionist that answers Israeli businesses' phones in Hebrew.

pub mod answered;
pub mod app;
pub mod auth;
pub mod call_actions;
pub mod cli;
pub mod config;
pub mod db;
pub mod directory;
pub mod domain;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod ops;
pub mod providers;
pub mod server;
pub mod spool;
pub mod state;
pub mod telemetry;
pub mod tools;
