//! Property: paging through the console never loses or duplicates a record, whatever the page
//! size and whatever faults the console injects (retries absorb them, or the sync fails and the
//! next one resumes).

use futures::StreamExt;
use proptest::prelude::*;
use s1bridge_api::wire::Agent;
use s1bridge_sim::{Faults, SimConfig};

use crate::Env;

async fn check(agents: u32, sites: u32, page: u32, faults: Faults) -> Result<(), TestCaseError> {
    let env = Env::new(SimConfig {
        agents,
        sites_per_account: sites,
        ..SimConfig::default()
    })
    .await;
    env.sim.sim.set_faults(faults);
    let client = env.client_with(|o| o.retry.max_retries = 3);

    // 1. The raw pager: every id exactly once (a failed page restarts from the last cursor).
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut attempts = 0;
    loop {
        attempts += 1;
        prop_assert!(attempts < 50, "the pager never finished");
        let mut pages = Box::pin(client.pages::<Agent>(
            "/agents",
            vec![("isDecommissioned".into(), "true,false".into())],
            page,
            cursor.clone(),
        ));
        let mut failed = false;
        while let Some(p) = pages.next().await {
            match p {
                Ok(p) => {
                    seen.extend(p.items.iter().map(|a| a.id.clone()));
                    cursor = p.next_cursor.clone();
                }
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            break;
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    prop_assert_eq!(sorted.len(), seen.len(), "a record was returned twice");
    prop_assert_eq!(sorted, env.truth());

    // 2. The engine: repeated runs (each resuming the last) converge on exactly the console.
    let mut opts = crate::devices_opts("c");
    opts.devices.page_size = page;
    for _ in 0..30 {
        let r = s1bridge_sync::run(&client, env.store.clone(), &opts, Default::default())
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        if r.exit_code() == 0 {
            break;
        }
    }
    prop_assert_eq!(env.stored_ids("c").await, env.truth());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]
    #[test]
    fn paging_never_loses_or_duplicates(
        agents in 0u32..260,
        sites in 1u32..4,
        page in prop_oneof![1u32..8, 8u32..120, Just(1000u32)],
        fault_seed in any::<u64>(),
        e5 in 0.0f64..0.25,
        reset in 0.0f64..0.15,
        trunc in 0.0f64..0.2,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(check(agents, sites, page, Faults {
            fault_seed,
            error_5xx_rate: e5,
            reset_rate: reset,
            truncate_rate: trunc,
            ..Faults::default()
        }))?;
    }
}
