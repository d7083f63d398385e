//! Users, service users and the role update call: the console's validation (400 listing every
//! problem), permission errors (403), the Site-scoped token, and the effect of an update.

use s1bridge_sim::{Faults, SimConfig};
use serde_json::{Value, json};

use crate::{API, Resp, TOKEN, client, get, start};

async fn put(sim: &s1bridge_sim::RunningSim, path: &str, body: &Value) -> Resp {
    let r = client()
        .put(format!("{}{API}{path}", sim.url))
        .header("Authorization", format!("ApiToken {TOKEN}"))
        .json(body)
        .send()
        .await
        .unwrap();
    Resp::read(r).await
}

fn site_user(sim: &s1bridge_sim::RunningSim) -> s1bridge_api::wire::User {
    sim.sim
        .users()
        .into_iter()
        .find(|u| u.scope.as_deref() == Some("site"))
        .expect("a site user")
}

#[tokio::test]
async fn an_update_replaces_the_roles_and_reads_back() {
    let sim = start(SimConfig::default()).await;
    let u = site_user(&sim);
    let sites = sim.sim.sites();
    let role = &sim.sim.roles()[1];
    let body = json!({"data": {"scope": "site", "scopeRoles": [
        {"id": sites[0].id, "roleId": role.id},
        {"id": sites[1].id, "roleId": role.id},
    ]}});
    let r = put(&sim, &format!("/users/{}", u.id), &body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let back = get(&sim, &format!("/users/{}", u.id)).await.json();
    let roles = back["data"]["scopeRoles"].as_array().unwrap();
    assert_eq!(roles.len(), 2);
    assert_eq!(roles[1]["id"], sites[1].id.as_str());
    assert_eq!(roles[1]["roleId"], role.id.as_str());
    assert_eq!(roles[1]["roleName"], role.name.as_deref().unwrap());
    assert_eq!(roles[1]["name"], sites[1].name.as_deref().unwrap());
    // The list serves the same record.
    let listed = get(&sim, &format!("/users?ids={}", u.id)).await.json();
    assert_eq!(listed["data"][0], back["data"]);

    // Service users change through their own path; a tenant role has no scope id.
    let svc = &sim.sim.service_users()[1];
    let r = put(
        &sim,
        &format!("/service-users/{}", svc.id),
        &json!({"data": {"scope": "tenant", "scopeRoles": [{"roleId": role.id}]}}),
    )
    .await;
    assert_eq!(r.status, 200);
    let now = sim
        .sim
        .service_users()
        .into_iter()
        .find(|s| s.id == svc.id)
        .unwrap();
    assert_eq!(now.scope.as_deref(), Some("tenant"));
    assert_eq!(now.scope_roles.len(), 1);
    assert_eq!(now.scope_roles[0].id, None);
}

#[tokio::test]
async fn validation_lists_every_problem() {
    let sim = start(SimConfig::default()).await;
    let u = site_user(&sim);
    let sites = sim.sim.sites();
    let body = json!({"data": {"scope": "site", "scopeRoles": [
        {"id": sites[0].id, "roleId": "1"},
        {"roleId": sim.sim.roles()[0].id},
        {"id": "999999999999999999", "roleId": sim.sim.roles()[0].id},
    ]}});
    let r = put(&sim, &format!("/users/{}", u.id), &body).await;
    assert_eq!(r.status, 400);
    let v = r.json();
    let details: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["code"], 4000010);
            assert_eq!(e["title"], "Validation Error");
            e["detail"].as_str().unwrap()
        })
        .collect();
    assert_eq!(details.len(), 3, "{details:?}");
    assert!(details[0].contains("roleId: Role not found"));
    assert!(details[1].contains("id: Missing data"));
    assert!(details[2].contains("Site 999999999999999999 not found"));
    // A bad scope and a body without data.
    let r = put(
        &sim,
        &format!("/users/{}", u.id),
        &json!({"data": {"scope": "group", "scopeRoles": []}}),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = put(&sim, &format!("/users/{}", u.id), &json!({"scope": "site"})).await;
    assert_eq!(r.status, 400);
    // Nothing changed.
    assert_eq!(site_user(&sim).scope_roles, u.scope_roles);
    // Unknown principal.
    let r = put(
        &sim,
        "/users/123456789012345678",
        &json!({"data": {"scope": "tenant", "scopeRoles": []}}),
    )
    .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn a_read_only_token_is_refused_with_403() {
    let sim = start(SimConfig {
        faults: Faults {
            access_read_only: true,
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await;
    let u = site_user(&sim);
    assert_eq!(get(&sim, &format!("/users/{}", u.id)).await.status, 200);
    let r = put(
        &sim,
        &format!("/users/{}", u.id),
        &json!({"data": {"scope": "tenant", "scopeRoles": [{"roleId": sim.sim.roles()[0].id}]}}),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["errors"][0]["code"], 4030010);
    assert_eq!(site_user(&sim).scope_roles, u.scope_roles);
}

#[tokio::test]
async fn a_site_scoped_token_sees_and_changes_only_its_site() {
    let sim = start(SimConfig {
        users: 40,
        faults: Faults {
            site_scoped_token: true,
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await;
    let site = sim.sim.sites()[0].id.clone();
    assert_eq!(get(&sim, "/accounts").await.status, 403);
    let users = get(&sim, "/users?limit=1000").await.json();
    let listed = users["data"].as_array().unwrap();
    assert!(!listed.is_empty() && listed.len() < 40);
    for u in listed {
        assert!(
            u["scopeRoles"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == site.as_str()),
            "{u}"
        );
    }
    let role = sim.sim.roles()[3].id.clone();
    let mine = listed[0]["id"].as_str().unwrap().to_string();
    let other = sim
        .sim
        .users()
        .into_iter()
        .find(|u| {
            !u.scope_roles
                .iter()
                .any(|r| r.id.as_deref() == Some(&*site))
        })
        .unwrap();
    assert_eq!(get(&sim, &format!("/users/{}", other.id)).await.status, 403);
    let on_site = json!({"data": {"scope": "site", "scopeRoles": [{"id": site, "roleId": role}]}});
    assert_eq!(
        put(&sim, &format!("/users/{}", other.id), &on_site)
            .await
            .status,
        403,
        "a principal outside its site"
    );
    let tenant = json!({"data": {"scope": "tenant", "scopeRoles": [{"roleId": role}]}});
    assert_eq!(
        put(&sim, &format!("/users/{mine}"), &tenant).await.status,
        403,
        "a role above its site"
    );
    assert_eq!(
        put(&sim, &format!("/users/{mine}"), &on_site).await.status,
        200
    );
}
