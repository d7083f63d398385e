//! s1bridge's SentinelOne Management API v2.1 client: the only code in the project that speaks
//! HTTP to a SentinelOne console.
//!
//! Without the `client` feature only the wire types, the console URL rules and the shared tables
//! (rate limits, features) are built; the simulator depends on that part so that client and
//! simulator share one definition of every payload.

pub mod features;
pub mod lenient;
pub mod limits;
pub mod wire;

/// Every Management API path starts with this.
pub const API_PREFIX: &str = "/web/api/v2.1";
