//! Integration tests of the simulator: fidelity to the real samples, Swagger conformance,
//! determinism and scale, pagination, faults.

mod access;
mod control;
mod determinism;
mod dv;
mod faults;
mod fidelity;
mod indicators;
mod pagination;
mod risks;
mod scenarios;
mod swagger;

use s1bridge_sim::{RunningSim, SimConfig, Simulator};
use serde_json::Value;

pub const TOKEN: &str = "sim-token-0123456789abcdef";
pub const API: &str = "/web/api/v2.1";

pub fn samples_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/s1-samples")
}

pub fn sample(name: &str) -> Value {
    let p = samples_dir().join(name);
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

pub fn sample_bytes(name: &str) -> Vec<u8> {
    std::fs::read(samples_dir().join(name)).unwrap()
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_gzip().build().unwrap()
}

pub async fn start(cfg: SimConfig) -> RunningSim {
    Simulator::new(cfg)
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub async fn read(r: reqwest::Response) -> Resp {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await.unwrap().to_vec();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// GET `path` (relative to the API prefix, with query) with the valid token.
pub async fn get(sim: &RunningSim, path: &str) -> Resp {
    let c = client();
    let r = c
        .get(format!("{}{API}{path}", sim.url))
        .header("Authorization", format!("ApiToken {TOKEN}"))
        .send()
        .await
        .unwrap();
    Resp::read(r).await
}

/// Page through `/agents` with `query` (no cursor) and return every id in order.
pub async fn all_agent_ids(sim: &RunningSim, query: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100_000 {
        let mut q = query.to_string();
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={}", urlencode(c)));
        }
        let r = get(sim, &format!("/agents?{q}")).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        for a in v["data"].as_array().unwrap() {
            ids.push(a["id"].as_str().unwrap().to_string());
        }
        match v["pagination"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return ids,
        }
    }
    panic!("pagination did not end");
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}
