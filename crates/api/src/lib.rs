//! s1bridge's SentinelOne Management API v2.1 client: the only code in the project that speaks
//! HTTP to a SentinelOne console.
//!
//! Without the `client` feature only the wire types, the console URL rules, the token type and
//! the shared tables (rate limits, features) are built; the simulator depends on that part so
//! that client and simulator share one definition of every payload.

pub mod access;
pub mod dv;
pub mod features;
pub mod indicators;
pub mod lenient;
pub mod limits;
pub mod token;
pub mod url;
pub mod wire;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "client")]
mod dv_client;
#[cfg(feature = "client")]
pub mod error;
#[cfg(feature = "client")]
mod indicators_client;
#[cfg(feature = "client")]
mod ratelimit;
#[cfg(feature = "client")]
pub mod retry;

#[cfg(feature = "client")]
pub use client::{Client, ClientOptions, ClientStats, Page, ProbeResult};
#[cfg(feature = "client")]
pub use error::ApiError;
#[cfg(feature = "client")]
pub use retry::RetryPolicy;
pub use token::{ApiToken, TokenError};
pub use url::{ConsoleUrl, UrlError, UrlNotice};

/// Every Management API path starts with this.
pub const API_PREFIX: &str = "/web/api/v2.1";
