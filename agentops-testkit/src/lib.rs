//! The test harness of AgentOps (a dev-dependency only, not published): real parts over
//! real connections, never mocks of our own components.
//!
//! - [`server`]: an API server on `127.0.0.1:0` over a throwaway SQLite file or
//!   PostgreSQL database (and, when asked, a Redis prefix of its own), the
//!   [`on_both_backends!`] macro that runs a test on each, and a TCP proxy that can take
//!   a dependency down.
//! - [`app`]: [`TestApp`], that server with an SDK client pointed at it and fixture
//!   builders (a project, a task, an agent, a lease run out), and the fault-injecting
//!   proxies the SDK's retry tests put between the two.
//! - [`http`]: raw requests on the same [`TestApp`] (any key, any body; status and
//!   JSON back) for the API's contract tests.
//! - [`redis`]: a Redis server of a test's own, to take down and bring back.
//!
//! Used by `agentops-api`'s integration tests and the end-to-end tests in `tests/`.

pub mod app;
pub mod http;
pub mod redis;
pub mod server;

pub use app::{TestApp, client_for};
pub use http::{id_of, merge, metrics_of};
pub use redis::PrivateRedis;
pub use server::{
    ADMIN_KEY, Backend, SECRET_KEY, TcpProxy, TestDb, TestServer, age_events, init_logging,
    postgres_admin_url, redis_url, test_config, use_redis,
};
