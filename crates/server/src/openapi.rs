//! The OpenAPI 3.0 document, built from the same endpoint list the router is built from, with
//! schemas derived from example values of the returned types. The committed copy is
//! `crates/server/openapi.json`; a test fails when the two differ.

use serde_json::{Map, Value, json};

use crate::features::{FeatureModule, In};

/// The document for this build.
pub fn document(modules: &[Box<dyn FeatureModule>]) -> Value {
    let mut paths = Map::new();
    paths.insert(
        "/healthz".into(),
        json!({"get": {
            "summary": "Liveness; the only endpoint that needs no API key.",
            "security": [],
            "responses": {"200": {"description": "ok", "content": {"text/plain": {"schema": {"type": "string"}}}}}
        }}),
    );
    for ep in crate::api::all_endpoints(modules) {
        let params: Vec<Value> = ep
            .params
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "in": if p.location == In::Path { "path" } else { "query" },
                    "required": p.location == In::Path,
                    "description": p.description,
                    "schema": {"type": p.kind},
                })
            })
            .collect();
        let content = if ep.response == "text" {
            json!({"text/plain": {"schema": {"type": "string"}}})
        } else {
            json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", ep.response)}}})
        };
        let mut responses = Map::new();
        responses.insert(
            ep.status.to_string(),
            json!({"description": "Success.", "content": content}),
        );
        let err = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
        responses.insert(
            "400".into(),
            err("Bad request (`invalid_parameter`, `invalid_cursor`, …)."),
        );
        responses.insert("401".into(), err("No valid API key (`unauthorized`)."));
        if ep.admin {
            responses.insert("403".into(), err("A read key (`forbidden`)."));
            responses.insert(
                "409".into(),
                err("A sync of the console is running (`console_busy`)."),
            );
        }
        if ep.path.contains('{') {
            responses.insert("404".into(), err("Unknown console, run or finding."));
        }
        let mut op = Map::new();
        op.insert("summary".into(), json!(ep.summary));
        if ep.admin {
            op.insert("description".into(), json!("Needs an admin key."));
        }
        op.insert("parameters".into(), Value::Array(params));
        op.insert("responses".into(), Value::Object(responses));
        let entry = paths
            .entry(ep.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(ep.method.as_str().into(), Value::Object(op));
        }
    }
    let mut schemas = Map::new();
    for (name, example) in core_schemas()
        .into_iter()
        .chain(modules.iter().flat_map(|m| m.schemas()))
    {
        schemas.insert(name.to_string(), schema_of(&example));
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "s1bridge",
            "version": "v1",
            "description": "The s1bridge service API. Every endpoint but /healthz needs an API key: `Authorization: Bearer <key>` (`s1bridge keys create --role read|admin`). Lists are paged with `limit` and `cursor` (`next_cursor` of the previous page). Errors are `{\"error\": {\"code\", \"message\"}}` with a stable code. Field names are those of the CLI's --json output."
        },
        "security": [{"apiKey": []}],
        "paths": Value::Object(paths),
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "schemas": Value::Object(schemas)
        }
    })
}

/// A JSON schema describing `example` (every example field is populated, so the types are
/// known).
pub fn schema_of(example: &Value) -> Value {
    match example {
        Value::Null => json!({"nullable": true}),
        Value::Bool(_) => json!({"type": "boolean"}),
        Value::Number(n) if n.is_f64() => json!({"type": "number"}),
        Value::Number(_) => json!({"type": "integer"}),
        Value::String(_) => json!({"type": "string"}),
        Value::Array(items) => json!({
            "type": "array",
            "items": items.first().map(schema_of).unwrap_or_else(|| json!({}))
        }),
        Value::Object(fields) => {
            let props: Map<String, Value> = fields
                .iter()
                .map(|(k, v)| (k.clone(), schema_of(v)))
                .collect();
            json!({"type": "object", "properties": props})
        }
    }
}

fn core_schemas() -> Vec<(&'static str, Value)> {
    use samples::*;
    let console = crate::api::ConsoleView {
        info: console_info(),
        token: crate::api::TokenView {
            stored: true,
            owner: Some("svc-s1bridge@example.com".into()),
            scope: Some("tenant".into()),
            expires_at: Some(t()),
            days_left: Some(30),
        },
        sync: Some(sync_state()),
        last_run: Some(run()),
    };
    let v = |x: Result<Value, serde_json::Error>| x.unwrap_or_default();
    vec![
        (
            "Error",
            json!({"error": {"code": "unauthorized", "message": "what was wrong and what to do"}}),
        ),
        ("Console", v(serde_json::to_value(&console))),
        (
            "ConsoleList",
            v(serde_json::to_value(crate::api::ConsoleList {
                items: vec![console],
            })),
        ),
        ("Capabilities", v(serde_json::to_value(verify_report()))),
        ("SyncState", v(serde_json::to_value(sync_state()))),
        ("SyncRun", v(serde_json::to_value(run()))),
        (
            "RunPage",
            v(serde_json::to_value(crate::page::Page {
                items: vec![run()],
                next_cursor: Some("cursor".into()),
            })),
        ),
        (
            "OpenApi",
            json!({"openapi": "3.0.3", "info": {}, "paths": {}, "components": {}}),
        ),
    ]
}

/// Fully populated example values of the returned types.
pub mod samples {
    use std::collections::BTreeMap;

    use chrono::{DateTime, TimeZone, Utc};
    use s1bridge_store::{
        Device, FeatureOutcome, FeatureStatus, Finding, FindingStatus, FindingTransition,
        PriorityFactor, RunStatus, Scope, SyncRun,
    };
    use s1bridge_sync::verify::{CapabilityCheck, TokenOwner, VerifyReport};

    use crate::runner::{FeatureProgress, SyncPhase, SyncState, Trigger};

    pub fn t() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    pub fn console_info() -> crate::ConsoleInfo {
        crate::ConsoleInfo {
            name: "prod".into(),
            description: s("Production tenant"),
            url: "https://usea1-partners.sentinelone.net".into(),
            mode: "scan".into(),
            scope: Scope {
                account_ids: vec!["1".into()],
                site_ids: vec!["2".into()],
                group_ids: vec!["3".into()],
            },
            schedules: BTreeMap::from([("devices".to_string(), "0 * * * *".to_string())]),
            jitter_seconds: 60,
        }
    }

    pub fn outcome() -> FeatureOutcome {
        FeatureOutcome {
            feature: "devices".into(),
            status: FeatureStatus::Ok,
            reason: s("why it is not ok"),
            records: 1,
            requests: 1,
            retries: 0,
            errors: 0,
            started_at: Some(t()),
            finished_at: Some(t()),
        }
    }

    pub fn run() -> SyncRun {
        SyncRun {
            run_id: 1,
            console: "prod".into(),
            status: RunStatus::Ok,
            started_at: t(),
            finished_at: Some(t()),
            heartbeat_at: Some(t()),
            owner: s("host:1234"),
            features: vec![outcome()],
        }
    }

    pub fn sync_state() -> SyncState {
        SyncState {
            console: "prod".into(),
            state: SyncPhase::Finished,
            trigger: Trigger::Manual,
            features: vec!["devices".into()],
            started_at: t(),
            finished_at: Some(t()),
            progress: BTreeMap::from([(
                "devices".to_string(),
                FeatureProgress {
                    records: 1,
                    total: Some(1),
                    done: true,
                },
            )]),
            run_id: Some(1),
            status: Some(RunStatus::Ok),
            error: s("why it could not run"),
        }
    }

    pub fn verify_report() -> VerifyReport {
        VerifyReport {
            url: "https://usea1-partners.sentinelone.net".into(),
            ok: true,
            error: s("why the token was refused"),
            console_version: s("Z SP1"),
            owner: Some(TokenOwner {
                id: "1".into(),
                email: s("svc@example.com"),
                name: s("s1bridge"),
                scope: s("tenant"),
                roles: vec!["Viewer @ tenant".into()],
            }),
            token_created_at: Some(t()),
            token_expires_at: Some(t()),
            token_days_left: Some(30),
            expiry_warning: s("expires soon"),
            capabilities: vec![CapabilityCheck {
                feature: "devices".into(),
                status: "available".into(),
                reason: s("why not"),
            }],
        }
    }

    pub fn device() -> Device {
        Device {
            console: "prod".into(),
            agent_id: "1".into(),
            uuid: s("uuid"),
            computer_name: "host".into(),
            os_name: s("Windows 11"),
            os_type: s("windows"),
            os_revision: s("22631"),
            os_arch: s("64 bit"),
            agent_version: s("24.1.1"),
            ips: vec!["10.0.0.1".into()],
            macs: vec!["00:11:22:33:44:55".into()],
            tags: vec!["env=prod".into()],
            external_ip: s("203.0.113.1"),
            last_logged_in_user: s("alice"),
            account_id: s("1"),
            account_name: s("Acme"),
            site_id: s("2"),
            site_name: s("HQ"),
            group_id: s("3"),
            group_name: s("Default"),
            machine_type: s("laptop"),
            serial_number: s("SN1"),
            domain: s("acme.local"),
            model_name: s("ThinkPad"),
            network_status: s("connected"),
            infected: false,
            active_threats: 0,
            last_active_at: Some(t()),
            registered_at: Some(t()),
            console_updated_at: s("2026-01-01T00:00:00Z"),
            is_active: true,
            is_decommissioned: false,
            is_uninstalled: false,
            first_seen_at: t(),
            last_seen_at: t(),
            removed_at: Some(t()),
            stale: false,
            duplicate_of: s("2"),
        }
    }

    pub fn finding() -> Finding {
        Finding {
            finding_id: "f0123456789abcdef".into(),
            console: "prod".into(),
            agent_id: "1".into(),
            computer_name: s("host"),
            cve_id: "CVE-2024-0001".into(),
            application: "App".into(),
            application_vendor: s("Vendor"),
            application_version: "1.0".into(),
            vendor_severity: s("HIGH"),
            cvss_score: Some(7.5),
            cvss_version: s("3.1"),
            published_at: Some(t()),
            detected_at: Some(t()),
            days_detected: Some(3),
            status: FindingStatus::Open,
            first_seen_at: t(),
            last_seen_at: t(),
            fixed_at: Some(t()),
            priority: "high".into(),
            factors: vec![PriorityFactor {
                name: "kev".into(),
                effect: 1,
                detail: "in the CISA KEV catalog".into(),
            }],
            kev: true,
            console_row_id: s("1"),
            console_status: s("Detected"),
            mark_type: s("none"),
            marked_by: s("alice"),
            marked_at: Some(t()),
            mark_reason: s("reason"),
            extra: serde_json::json!({"riskScore": 1}),
        }
    }

    pub fn transition() -> FindingTransition {
        FindingTransition {
            finding_id: "f0123456789abcdef".into(),
            from: Some(FindingStatus::New),
            to: FindingStatus::Open,
            at: t(),
            run_id: 1,
            reason: "seen again".into(),
        }
    }
}
