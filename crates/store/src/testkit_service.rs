//! Conformance checks for the service state (API keys, sealed tokens); re-exported by `testkit`.

use crate::testkit::at;
use crate::{ApiRole, NewApiKey, SealedToken, Store, StoreError};

fn new_key(name: &str, role: ApiRole, hash: &str) -> NewApiKey {
    NewApiKey {
        name: name.to_string(),
        role,
        key_hash: hash.to_string(),
        prefix: hash[..4].to_string(),
        created_at: at(0),
    }
}

pub async fn check_api_keys_lifecycle(store: &dyn Store) {
    let a = store
        .create_api_key(&new_key("ops", ApiRole::Read, "aaaa1111"))
        .await
        .expect("create read key");
    let b = store
        .create_api_key(&new_key("ci", ApiRole::Admin, "bbbb2222"))
        .await
        .expect("create admin key");
    assert_ne!(a.id, b.id);
    assert_eq!(
        (a.role, a.name.as_str(), a.prefix.as_str()),
        (ApiRole::Read, "ops", "aaaa")
    );
    assert_eq!(a.created_at, at(0));
    assert_eq!(a.revoked_at, None);

    let found = store.api_key_by_hash("bbbb2222").await.expect("lookup");
    assert_eq!(found.as_ref().map(|k| k.id), Some(b.id));
    assert_eq!(found.map(|k| k.role), Some(ApiRole::Admin));
    assert_eq!(store.api_key_by_hash("cccc").await.expect("lookup"), None);

    assert!(
        store
            .create_api_key(&new_key("again", ApiRole::Read, "aaaa1111"))
            .await
            .is_err(),
        "a duplicate hash is refused"
    );

    store.revoke_api_key(a.id, at(5)).await.expect("revoke");
    store
        .revoke_api_key(a.id, at(6))
        .await
        .expect("revoke is idempotent");
    assert_eq!(
        store.api_key_by_hash("aaaa1111").await.expect("lookup"),
        None,
        "a revoked key no longer authenticates"
    );
    let all = store.list_api_keys().await.expect("list");
    assert_eq!(
        all.iter().map(|k| k.id).collect::<Vec<_>>(),
        vec![a.id, b.id]
    );
    assert_eq!(
        all[0].revoked_at,
        Some(at(5)),
        "the first revocation counts"
    );
    assert!(matches!(
        store.revoke_api_key(b.id + 100, at(7)).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn check_sealed_tokens(store: &dyn Store) {
    assert_eq!(store.get_sealed_token("prod").await.expect("get"), None);
    let mut t = SealedToken {
        console: "prod".to_string(),
        key_id: "k1".to_string(),
        nonce: vec![1, 2, 3],
        ciphertext: vec![9, 8, 7, 0, 255],
        owner: Some("svc@example.com".to_string()),
        scope: Some("tenant".to_string()),
        expires_at: Some(at(60 * 24 * 30)),
        stored_at: at(0),
        rotated_at: None,
    };
    store.put_sealed_token(&t).await.expect("put");
    assert_eq!(
        store.get_sealed_token("prod").await.expect("get"),
        Some(t.clone())
    );
    t.ciphertext = vec![4, 4];
    t.owner = None;
    t.expires_at = None;
    t.rotated_at = Some(at(10));
    store.put_sealed_token(&t).await.expect("replace");
    assert_eq!(
        store.get_sealed_token("prod").await.expect("get"),
        Some(t.clone())
    );
    assert_eq!(store.get_sealed_token("other").await.expect("get"), None);
}
