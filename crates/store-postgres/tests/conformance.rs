//! The shared conformance suite against PostgreSQL: every check gets a fresh schema (a
//! [`TestDb`], dropped with the fixture). Outside CI an unreachable server skips each check
//! with a message; with `CI=true` it fails (see `TestDb::create`).

use s1bridge_store::testkit::Fixture;
use s1bridge_store_postgres::testdb::TestDb;

async fn fresh_store() -> Fixture {
    match TestDb::create().await {
        Some(db) => {
            let store = db.store().await;
            Fixture::with_guard(store, db)
        }
        None => Fixture::skip("PostgreSQL is unreachable (see above)"),
    }
}

s1bridge_store::store_conformance_tests!(fresh_store());
