//! The access wire types against the console's own Swagger document (the shared samples hold no
//! users, accounts or roles list): the role type has exactly the schema's fields, and the role
//! update s1bridge sends uses only fields the update schemas define.

use s1bridge_api::access::{PrincipalUpdate, RbacRole, ScopeRoleUpdate, UpdateRequest};
use s1bridge_api::wire::ScopeRole;
use serde_json::Value;

fn spec() -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/s1-spec/swagger_2_1.json");
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .expect("the spec is JSON")
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

#[test]
fn the_role_type_has_exactly_the_schema_fields() {
    let doc = spec();
    let props = &doc["definitions"]["rbac.schemas_FlatRoleWithAccountOrSiteName_many_200"]["properties"]
        ["data"]["items"]["properties"];
    let ours = serde_json::to_value(RbacRole::default()).unwrap();
    assert_eq!(keys(&ours), keys(props));
}

#[test]
fn scope_roles_read_every_schema_field() {
    let doc = spec();
    let props = &doc["definitions"]["users.schemas_SingleUserSchema_200"]["properties"]["data"]["properties"]
        ["scopeRoles"]["items"]["properties"];
    let ours = serde_json::to_value(ScopeRole::default()).unwrap();
    assert_eq!(keys(&ours), keys(props));
}

#[test]
fn the_update_body_uses_only_fields_of_both_update_schemas() {
    let doc = spec();
    let body = serde_json::to_value(UpdateRequest {
        data: PrincipalUpdate {
            scope: "site".into(),
            scope_roles: vec![ScopeRoleUpdate {
                id: Some("225494730938493804".into()),
                role_id: "225494730938493805".into(),
            }],
        },
    })
    .unwrap();
    for schema in [
        "users.schemas_UpdateUserSchema",
        "service_users.schemas_UpdateServiceUserSchema",
    ] {
        let data = &doc["definitions"][schema]["properties"]["data"]["properties"];
        for k in keys(&body["data"]) {
            assert!(data.get(&k).is_some(), "{schema} has no data.{k}");
        }
        let scopes: Vec<&str> = data["scope"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(scopes, ["tenant", "account", "site"], "{schema}");
        let item = &data["scopeRoles"]["items"]["properties"];
        for k in keys(&body["data"]["scopeRoles"][0]) {
            assert!(item.get(&k).is_some(), "{schema} scopeRoles[] has no {k}");
        }
    }
}
