//! Access (RBAC) wire types and calls: RBAC roles, and the principal update that grants and
//! revokes roles (research/s1-api.md §6.4). Users and service users themselves are in
//! [`crate::wire`].
//!
//! SentinelOne holds roles on scopes: a principal has one `scope` level (`tenant`, `account` or
//! `site`) and `scopeRoles[]`, one entry per scope id of that level with the role held there
//! (`id` = scope id, absent for the tenant). Changing a principal's roles means sending its whole
//! new `scopeRoles` list with `PUT /users/{id}` (or `PUT /service-users/{id}`).

use serde::{Deserialize, Serialize};

use crate::lenient;

/// `GET /rbac/roles` items (Swagger `rbac.schemas_FlatRoleWithAccountOrSiteName`): predefined and
/// custom roles. A custom role belongs to the scope it was created on (`scope`, `scopeId`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RbacRole {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub account_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub creator: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub creator_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub predefined_role: Option<bool>,
    /// `Tenant|Account|Site|Group` per the Swagger text; lower case in practice.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub scope: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub scope_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub site_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub updated_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub updated_by: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub updated_by_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub users_in_roles: Option<i64>,
}

/// One `scopeRoles[]` entry of an update: the scope id (omitted for the tenant) and the role id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeRoleUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub role_id: String,
}

/// `data` of `PUT /users/{id}` and `PUT /service-users/{id}` as s1bridge sends it: the scope
/// level and the complete list of roles the principal is to hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrincipalUpdate {
    pub scope: String,
    pub scope_roles: Vec<ScopeRoleUpdate>,
}

/// The request envelope `{"data": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateRequest<T> {
    pub data: T,
}

/// Which kind of principal an update is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    User,
    ServiceUser,
}

impl PrincipalKind {
    /// The update path of principal `id`, relative to the API prefix.
    pub fn update_path(self, id: &str) -> String {
        match self {
            PrincipalKind::User => format!("/users/{id}"),
            PrincipalKind::ServiceUser => format!("/service-users/{id}"),
        }
    }

    /// The console permission a role change of this kind of principal needs (for 403s).
    pub fn edit_permission(self) -> &'static str {
        match self {
            PrincipalKind::User => "Users → Edit",
            PrincipalKind::ServiceUser => "Service Users → Edit",
        }
    }
}

#[cfg(feature = "client")]
mod calls {
    use super::{PrincipalKind, PrincipalUpdate, UpdateRequest};
    use crate::client::Client;
    use crate::error::ApiError;
    use crate::wire::{ServiceUser, User};
    use serde::de::IgnoredAny;

    impl Client {
        /// `GET /users/{id}`.
        pub async fn user(&self, id: &str) -> Result<User, ApiError> {
            Ok(self.get::<User>(&format!("/users/{id}"), &[]).await?.data)
        }

        /// A service user by id (`GET /service-users?ids=…`; there is no single-item GET).
        /// [`ApiError::NotFound`] when the console does not list it.
        pub async fn service_user(&self, id: &str) -> Result<ServiceUser, ApiError> {
            let page = self
                .get_page::<ServiceUser>("/service-users", &[("ids", id.to_string())], 1, None)
                .await?;
            page.items
                .into_iter()
                .find(|u| u.id == id)
                .ok_or_else(|| ApiError::NotFound {
                    path: "/service-users".to_string(),
                    detail: Some(format!("service user {id} is not listed")),
                })
        }

        /// Replace a principal's scope and roles: `PUT /users/{id}` or `PUT
        /// /service-users/{id}` with `{"data":{"scope":…,"scopeRoles":[…]}}`. A write: never
        /// call it from a dry run.
        pub async fn update_principal_roles(
            &self,
            kind: PrincipalKind,
            id: &str,
            update: &PrincipalUpdate,
        ) -> Result<(), ApiError> {
            self.put::<_, IgnoredAny>(&kind.update_path(id), &[], &UpdateRequest { data: update })
                .await
                .map(|_| ())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_body_has_the_console_shape() {
        let body = UpdateRequest {
            data: PrincipalUpdate {
                scope: "site".into(),
                scope_roles: vec![
                    ScopeRoleUpdate {
                        id: Some("225494730938493804".into()),
                        role_id: "1".into(),
                    },
                    ScopeRoleUpdate {
                        id: None,
                        role_id: "2".into(),
                    },
                ],
            },
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"data":{"scope":"site","scopeRoles":[{"id":"225494730938493804","roleId":"1"},{"roleId":"2"}]}}"#
        );
    }

    #[test]
    fn roles_parse_leniently() {
        let r: RbacRole = serde_json::from_str(
            r#"{"id":225494730938493804,"name":"Viewer","predefinedRole":"true","usersInRoles":"3","scope":"tenant","unknown":1}"#,
        )
        .unwrap();
        assert_eq!(r.id, "225494730938493804");
        assert_eq!(r.predefined_role, Some(true));
        assert_eq!(r.users_in_roles, Some(3));
    }
}
