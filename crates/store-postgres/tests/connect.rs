//! Connecting and migrating against the test server (skips with a message when it is
//! unreachable outside CI; fails in CI).

use s1bridge_store_postgres::{MIGRATIONS, PgStore, testdb::TestDb};

#[tokio::test]
async fn opens_migrates_twice_and_reports_the_version() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let expected = MIGRATIONS.last().map(|m| m.version).unwrap_or(0);
    assert_eq!(store.schema_version().await.unwrap(), expected);
    // A second open (another worker starting) applies nothing and agrees.
    let again = PgStore::open(&db.url()).await.unwrap();
    assert_eq!(again.schema_version().await.unwrap(), expected);
}

#[tokio::test]
async fn concurrent_opens_migrate_once() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let url = db.url();
    let opens = (0..4).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { PgStore::open(&url).await.map(|_| ()) })
    });
    for r in futures::future::join_all(opens).await {
        r.unwrap().unwrap();
    }
}

#[tokio::test]
async fn unreachable_server_is_a_clear_error_without_the_password() {
    let err = PgStore::open(
        "postgres://bob:s3cret@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=2",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(!err.contains("s3cret"), "{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
}
