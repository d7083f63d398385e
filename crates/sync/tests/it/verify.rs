use s1bridge_api::features::Capability;
use s1bridge_sim::{Faults, SimConfig};
use s1bridge_sync::verify::verify;

use crate::{Env, small};

fn status<'a>(r: &'a s1bridge_sync::verify::VerifyReport, f: &str) -> &'a str {
    &r.capabilities
        .iter()
        .find(|c| c.feature == f)
        .unwrap_or_else(|| panic!("{f} reported"))
        .status
}

#[tokio::test]
async fn verify_reports_owner_expiry_and_every_feature() {
    let env = Env::new(small(10)).await;
    let r = verify(&env.client(), 30).await;
    assert!(r.ok, "{:?}", r.error);
    let owner = r.owner.as_ref().unwrap();
    assert!(owner.email.is_some());
    assert!(owner.scope.is_some());
    let days = r.token_days_left.unwrap();
    assert!((178..=180).contains(&days), "{days}");
    assert!(r.expiry_warning.is_none());
    assert_eq!(r.capabilities.len(), Capability::ALL.len());
    for c in &r.capabilities {
        assert_eq!(c.status, "available", "{c:?}");
    }
}

#[tokio::test]
async fn verify_tells_missing_permission_from_missing_licence() {
    let env = Env::new(SimConfig {
        agents: 5,
        token_expires_in_days: 6,
        faults: Faults {
            forbidden: vec![Capability::Vulnerabilities],
            not_licensed: vec![Capability::DeepVisibility, Capability::FirewallControl],
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await;
    let r = verify(&env.client(), 30).await;
    assert!(r.ok);
    assert_eq!(status(&r, "devices"), "available");
    assert_eq!(status(&r, "vulnerabilities"), "missing permission");
    assert_eq!(status(&r, "deep-visibility"), "not licensed");
    assert_eq!(status(&r, "firewall-control"), "not licensed");
    let w = r.expiry_warning.clone().unwrap();
    assert!(w.contains("expires in"), "{w}");
}

#[tokio::test]
async fn verify_with_a_rejected_token_says_what_to_do() {
    let env = Env::new(SimConfig {
        agents: 5,
        faults: Faults {
            unauthorized: true,
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await;
    let r = verify(&env.client(), 30).await;
    assert!(!r.ok);
    let e = r.error.unwrap();
    assert!(e.contains("Service Users"), "{e}");
    assert!(!e.contains(&env.token));
}
