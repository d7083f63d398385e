//! The Deep Visibility and PowerQuery calls. One request each: the query state machine (polling,
//! terminal states, the "events not ready" 409, splitting) is the sync engine's business.

use serde::Serialize;
use serde::de::IgnoredAny;

use crate::client::{Client, Page};
use crate::dv::{DvEvent, DvInitQuery, DvQueryCreated, DvQueryStatus, PqRequest, PqResult};
use crate::error::ApiError;

impl Client {
    /// `POST /dv/init-query` (rate limit 1 per minute per token: the shared limiter waits).
    pub async fn dv_init_query(&self, q: &DvInitQuery) -> Result<DvQueryCreated, ApiError> {
        Ok(self.post("/dv/init-query", &[], q).await?.data)
    }

    /// `GET /dv/query-status?queryId=` (1 per second per token).
    pub async fn dv_query_status(&self, query_id: &str) -> Result<DvQueryStatus, ApiError> {
        Ok(self
            .get("/dv/query-status", &[("queryId", query_id.to_string())])
            .await?
            .data)
    }

    /// One page of `GET /dv/events?queryId=` (at most 1,000 events). A 409 right after FINISHED
    /// means the events are not ready yet: ask again shortly.
    pub async fn dv_events_page(
        &self,
        query_id: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<DvEvent>, ApiError> {
        self.get_page(
            "/dv/events",
            &[("queryId", query_id.to_string())],
            limit,
            cursor,
        )
        .await
    }

    /// `POST /dv/cancel-query` (best effort, for a query we stop waiting for).
    pub async fn dv_cancel_query(&self, query_id: &str) -> Result<(), ApiError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Body<'a> {
            query_id: &'a str,
        }
        self.post::<_, IgnoredAny>("/dv/cancel-query", &[], &Body { query_id })
            .await
            .map(|_| ())
    }

    /// `POST /dv/events/pq`: starts a PowerQuery (answers RUNNING, or FINISHED with rows).
    pub async fn pq_start(&self, req: &PqRequest) -> Result<PqResult, ApiError> {
        Ok(self.post("/dv/events/pq", &[], req).await?.data)
    }

    /// `GET /dv/events/pq-ping?queryId=`: the PowerQuery's progress, and its rows once FINISHED.
    pub async fn pq_ping(&self, query_id: &str) -> Result<PqResult, ApiError> {
        Ok(self
            .get("/dv/events/pq-ping", &[("queryId", query_id.to_string())])
            .await?
            .data)
    }
}
