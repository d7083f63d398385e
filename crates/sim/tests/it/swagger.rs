//! Every property the simulator emits must exist in the console's own Swagger 2.0 document with a
//! compatible type.

use s1bridge_sim::{Faults, SimConfig};
use serde_json::Value;

use crate::{get, start};

struct Spec {
    doc: Value,
}

impl Spec {
    fn load() -> Spec {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/s1-spec/swagger_2_1.json");
        Spec {
            doc: serde_json::from_slice(
                &std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
            )
            .unwrap(),
        }
    }

    fn resolve<'a>(&'a self, mut s: &'a Value) -> &'a Value {
        for _ in 0..32 {
            match s.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    let name = r
                        .strip_prefix("#/definitions/")
                        .unwrap_or_else(|| panic!("unsupported $ref {r}"));
                    s = &self.doc["definitions"][name];
                }
                None => return s,
            }
        }
        panic!("$ref loop");
    }

    fn response_200(&self, path: &str) -> &Value {
        let op = &self.doc["paths"][format!("/web/api/v2.1{path}")]["get"];
        assert!(op.is_object(), "no GET {path} in the spec");
        self.resolve(&op["responses"]["200"]["schema"])
    }

    /// Merged properties of an object schema (`properties` plus `allOf` members).
    fn properties(&self, s: &Value) -> Option<serde_json::Map<String, Value>> {
        let s = self.resolve(s);
        let mut out = serde_json::Map::new();
        let mut any = false;
        if let Some(p) = s.get("properties").and_then(Value::as_object) {
            out.extend(p.clone());
            any = true;
        }
        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            for m in all {
                if let Some(p) = self.properties(m) {
                    out.extend(p);
                    any = true;
                }
            }
        }
        any.then_some(out)
    }

    fn check(&self, schema: &Value, v: &Value, path: &str, out: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if v.is_null() {
            return;
        }
        let ty = schema.get("type").and_then(Value::as_str);
        let ty = ty.or_else(|| self.properties(schema).map(|_| "object"));
        let ok = match (ty, v) {
            (None, _) => true,
            (Some("string"), Value::String(_)) => true,
            (Some("integer"), Value::Number(n)) => n.is_i64() || n.is_u64(),
            (Some("number"), Value::Number(_)) => true,
            (Some("boolean"), Value::Bool(_)) => true,
            (Some("array"), Value::Array(_)) => true,
            (Some("object"), Value::Object(_)) => true,
            _ => false,
        };
        if !ok {
            out.push(format!("{path}: schema {ty:?} vs value {v}"));
            return;
        }
        match v {
            Value::Object(m) => {
                if let Some(props) = self.properties(schema) {
                    for (k, val) in m {
                        match props.get(k) {
                            None => out.push(format!("{path}.{k}: not in the schema")),
                            Some(ps) => self.check(ps, val, &format!("{path}.{k}"), out),
                        }
                    }
                }
            }
            Value::Array(items) => {
                if let Some(is) = schema.get("items") {
                    for (i, it) in items.iter().enumerate().take(50) {
                        self.check(is, it, &format!("{path}[{i}]"), out);
                    }
                }
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn emitted_properties_exist_in_the_swagger_schema() {
    let spec = Spec::load();
    let sim = start(SimConfig {
        agents: 300,
        ..SimConfig::default()
    })
    .await;
    let mut problems = Vec::new();
    for (path, query) in [
        ("/agents", "?limit=300"),
        ("/sites", "?limit=100"),
        ("/groups", "?limit=100"),
        ("/users", "?limit=100"),
        ("/accounts", ""),
        ("/service-users", ""),
        ("/user", ""),
        ("/system/info", ""),
        ("/system/status", ""),
        ("/rbac/roles", ""),
        ("/application-management/risks", "?limit=1000"),
        (
            "/application-management/risks",
            "?limit=50&includeRemovals=true",
        ),
        ("/installed-applications", "?limit=1000"),
        ("/installed-applications/cves", "?limit=1000"),
    ] {
        let r = get(&sim, &format!("{path}{query}")).await;
        assert_eq!(r.status, 200, "{path}");
        spec.check(spec.response_200(path), &r.json(), path, &mut problems);
    }
    // The site-scoped /user carries scopeRoles.
    sim.sim.set_faults(Faults {
        site_scoped_token: true,
        ..Faults::default()
    });
    // Removed rows (after fixes) are in the schema too.
    sim.sim
        .apply_finding_changes(&s1bridge_sim::FindingChanges {
            fix_findings: 20,
            new_findings: 5,
            seed: 2,
            ..Default::default()
        });
    let r = get(
        &sim,
        "/application-management/risks?limit=1000&includeRemovals=true",
    )
    .await;
    assert!(r.body.windows(9).any(|w| w == b"\"Removed\""));
    spec.check(
        spec.response_200("/application-management/risks"),
        &r.json(),
        "/application-management/risks (removals)",
        &mut problems,
    );
    let r = get(&sim, "/user").await;
    spec.check(
        spec.response_200("/user"),
        &r.json(),
        "/user (site)",
        &mut problems,
    );
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_checker_reports_unknown_and_mistyped_properties() {
    let spec = Spec::load();
    let schema = spec.response_200("/agents");
    let mut problems = Vec::new();
    let bad = serde_json::json!({"data":[{"id": 5, "noSuchField": true, "networkInterfaces": [{"inet": "x"}]}]});
    spec.check(schema, &bad, "x", &mut problems);
    assert_eq!(problems.len(), 3, "{problems:#?}");
}
