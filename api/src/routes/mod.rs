//! The handlers, one file per resource.

pub mod access;
pub mod audit;
pub mod auth;
pub mod download;
pub mod events;
pub mod generate;
pub mod keys;
pub mod models;
pub mod ops;
pub mod pipelines;
pub mod roots;
pub mod runs;
pub mod schedules;
pub mod session;
pub mod two_factor;
pub mod uploads;
pub mod users;
pub mod webhooks;
