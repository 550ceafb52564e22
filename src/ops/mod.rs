//! Operator tools that run outside the request path (duplicate report, …).

pub mod deploy_check;
pub mod duplicates;
pub mod import_audit;
