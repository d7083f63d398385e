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

/// A database made by a build before migration 3 (findings' `extra` and `factors` as JSONB)
/// keeps its findings, readable, when this build opens it.
#[tokio::test]
async fn findings_written_before_migration_3_survive_it() {
    use s1bridge_store::{FindingFilter, Store};
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (client, conn) = tokio_postgres::connect(&db.url(), tokio_postgres::NoTls)
        .await
        .expect("connecting to the test schema");
    let task = tokio::spawn(conn);
    client
        .batch_execute(
            "CREATE TABLE s1bridge_migrations (
                version BIGINT PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )",
        )
        .await
        .unwrap();
    for m in MIGRATIONS.iter().filter(|m| m.version < 3) {
        client.batch_execute(m.sql).await.unwrap();
        client
            .execute(
                "INSERT INTO s1bridge_migrations (version, name) VALUES ($1, $2)",
                &[&m.version, &m.name],
            )
            .await
            .unwrap();
    }
    client
        .batch_execute(
            r#"INSERT INTO findings (fid, console, agent_id, application, application_version,
                   cve_id, extra, priority, priority_rank, kev, factors, status, status_pass_id,
                   last_pass_id, first_seen_at, last_seen_at, first_run_id)
               VALUES (42, 'c', 'agent-1', 'Zoom', '5.1', 'CVE-2024-0001',
                   '{"epssScore": "0.97"}'::jsonb, 'high', 3, true,
                   '[{"name": "kev", "effect": 2, "detail": "listed in CISA KEV"}]'::jsonb,
                   'open', 1, 1, now(), now(), 1)"#,
        )
        .await
        .unwrap();
    drop(client);
    let _ = task.await;

    let store = db.store().await;
    assert_eq!(
        store.schema_version().await.unwrap(),
        MIGRATIONS.last().unwrap().version
    );
    let found = store
        .list_findings(&FindingFilter {
            console: Some("c".to_string()),
            ..FindingFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].extra, serde_json::json!({"epssScore": "0.97"}));
    assert_eq!(found[0].factors.len(), 1);
    assert_eq!(found[0].factors[0].name, "kev");
    assert_eq!(found[0].factors[0].effect, 2);
}
