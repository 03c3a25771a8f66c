//! The API's routes, one module per resource.

pub mod admin;
pub mod deals;
pub mod forecast;
pub mod metrics;
pub mod session;
pub mod submissions;
