//! The blocklist, firewall-control and threat-intelligence calls (research/s1-api.md §6.7–6.9).
//! Lists are read completely (cursor pages of 1,000); creates and deletes are one request each.

use futures::TryStreamExt;

use crate::client::Client;
use crate::error::ApiError;
use crate::indicators::{
    BLACK_HASH, FirewallRule, FirewallRuleCreate, FirewallRuleDelete, FirewallRuleUpdate,
    IdsFilter, Ioc, IocCreate, IocDelete, Restriction, RestrictionCreate, RestrictionDelete,
    RestrictionIds, ScopeFilter,
};
use crate::wire::Affected;

impl Client {
    async fn list_all<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        query: Vec<(String, String)>,
    ) -> Result<Vec<T>, ApiError> {
        let pages: Vec<_> = self
            .pages::<T>(path, query, 1000, None)
            .try_collect()
            .await?;
        Ok(pages.into_iter().flat_map(|p| p.items).collect())
    }

    /// Every blocklist (`black_hash`) entry of `scope`.
    pub async fn list_blocklist(&self, scope: &ScopeFilter) -> Result<Vec<Restriction>, ApiError> {
        let mut q = scope.query();
        q.push(("type".into(), BLACK_HASH.into()));
        self.list_all("/restrictions", q).await
    }

    /// `POST /restrictions`: one blocklist entry (one OS type). Returns the created items.
    pub async fn create_blocklist_entry(
        &self,
        body: &RestrictionCreate,
    ) -> Result<Vec<Restriction>, ApiError> {
        Ok(self.post("/restrictions", &[], body).await?.data)
    }

    /// `DELETE /restrictions` of blocklist entries by id.
    pub async fn delete_blocklist_entries(&self, ids: &[String]) -> Result<Affected, ApiError> {
        let body = RestrictionDelete {
            data: RestrictionIds {
                ids: ids.to_vec(),
                kind: BLACK_HASH.into(),
            },
        };
        Ok(self.delete("/restrictions", &[], &body).await?.data)
    }

    /// Every firewall-control rule of `scope` (the list requires a scope filter).
    pub async fn list_firewall_rules(
        &self,
        scope: &ScopeFilter,
    ) -> Result<Vec<FirewallRule>, ApiError> {
        self.list_all("/firewall-control", scope.query()).await
    }

    /// `POST /firewall-control`: one rule.
    pub async fn create_firewall_rule(
        &self,
        body: &FirewallRuleCreate,
    ) -> Result<FirewallRule, ApiError> {
        Ok(self.post("/firewall-control", &[], body).await?.data)
    }

    /// `PUT /firewall-control/{id}`: change one rule (s1bridge sends the whole rule data, so the
    /// call means the same whether the console merges or replaces fields).
    pub async fn update_firewall_rule(
        &self,
        id: &str,
        body: &FirewallRuleUpdate,
    ) -> Result<FirewallRule, ApiError> {
        Ok(self
            .put(&format!("/firewall-control/{id}"), &[], body)
            .await?
            .data)
    }

    /// `DELETE /firewall-control` by rule id.
    pub async fn delete_firewall_rules(&self, ids: &[String]) -> Result<Affected, ApiError> {
        let body = FirewallRuleDelete {
            filter: IdsFilter { ids: ids.to_vec() },
        };
        Ok(self.delete("/firewall-control", &[], &body).await?.data)
    }

    /// Every threat-intelligence IOC of `scope`.
    pub async fn list_iocs(&self, scope: &ScopeFilter) -> Result<Vec<Ioc>, ApiError> {
        self.list_all("/threat-intelligence/iocs", scope.query())
            .await
    }

    /// `POST /threat-intelligence/iocs`: a batch of IOCs. Returns the created items.
    pub async fn create_iocs(&self, body: &IocCreate) -> Result<Vec<Ioc>, ApiError> {
        Ok(self
            .post("/threat-intelligence/iocs", &[], body)
            .await?
            .data)
    }

    /// `DELETE /threat-intelligence/iocs` by uuid.
    pub async fn delete_iocs(&self, body: &IocDelete) -> Result<Affected, ApiError> {
        Ok(self
            .delete("/threat-intelligence/iocs", &[], body)
            .await?
            .data)
    }
}
