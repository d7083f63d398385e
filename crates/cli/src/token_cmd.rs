//! `s1bridge token set|show|rotate NAME`: console API tokens sealed in the database under the
//! master key. The token is read from stdin or `--from-file`, never from a flag value, and never
//! printed.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use s1bridge_api::{ApiToken, Client, ClientOptions};
use s1bridge_config::Config;
use s1bridge_config::tokens::{KeySource, TokenFacts, TokenSourceError, seal_and_store};
use s1bridge_store::{ConsoleRecord, Scope, Store};
use secrecy::SecretString;

use crate::connect::{open_store, parse_url, usage};

#[derive(Args, Debug)]
pub struct TokenArgs {
    #[command(subcommand)]
    cmd: TokenCmd,
}

#[derive(Subcommand, Debug)]
enum TokenCmd {
    /// Store the token of console NAME, encrypted (read from stdin, or --from-file).
    Set {
        name: String,
        /// Read the token from this file instead of stdin.
        #[arg(long, value_name = "FILE")]
        from_file: Option<PathBuf>,
        /// The console URL (when NAME is neither in the config nor registered yet).
        #[arg(long)]
        url: Option<String>,
        /// Store it without asking the console who owns it and when it expires.
        #[arg(long)]
        no_verify: bool,
    },
    /// Owner, scope, expiry and days left of the stored token (never the token).
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Replace the stored token with a new one (stdin or --from-file), after checking it works
    /// and belongs to the same owner.
    Rotate {
        name: String,
        #[arg(long, value_name = "FILE")]
        from_file: Option<PathBuf>,
        /// Accept a new token of another user or service user.
        #[arg(long)]
        allow_owner_change: bool,
    },
}

fn read_secret(from_file: Option<&PathBuf>) -> Result<SecretString> {
    let raw = match from_file {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("reading the token file {}", f.display()))?,
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("Paste the API token, then press Enter and Ctrl-D:");
            }
            let mut s = String::new();
            stdin
                .lock()
                .read_to_string(&mut s)
                .context("reading the token from stdin")?;
            s
        }
    };
    // Check its shape before anything is stored.
    ApiToken::new(raw.clone()).map_err(|e| usage(format!("the API token is not usable: {e}")))?;
    Ok(SecretString::from(raw.trim().to_string()))
}

async fn console_url(
    store: &Arc<dyn Store>,
    config: &Config,
    name: &str,
    flag: Option<&str>,
) -> Result<Option<String>> {
    if let Some(u) = flag {
        return Ok(Some(u.to_string()));
    }
    if let Some(c) = config.console(name) {
        return Ok(Some(c.url.clone()));
    }
    Ok(store.get_console(name).await?.map(|r| r.url))
}

/// Ask the console about `token`: who owns it, its scope and expiry. Refuses a token the console
/// does not accept.
async fn facts(url: &str, token: &SecretString, warn_days: i64) -> Result<TokenFacts> {
    use secrecy::ExposeSecret;
    let url = parse_url(url)?;
    let token = ApiToken::new(token.expose_secret()).map_err(|e| usage(e.to_string()))?;
    let client = Client::new(ClientOptions::new(url, token)).context("building the API client")?;
    let report = s1bridge_sync::verify::verify(&client, warn_days).await;
    if !report.ok {
        anyhow::bail!(
            "the console did not accept this token ({}); nothing was stored",
            report.error.unwrap_or_else(|| "no reason given".into())
        );
    }
    Ok(TokenFacts {
        owner: report.owner.as_ref().and_then(|o| {
            o.email
                .clone()
                .or_else(|| o.name.clone())
                .or(Some(o.id.clone()))
        }),
        scope: report.owner.as_ref().and_then(|o| o.scope.clone()),
        expires_at: report.token_expires_at,
    })
}

fn days_left(t: Option<chrono::DateTime<chrono::Utc>>) -> Option<i64> {
    t.map(|t| (t - chrono::Utc::now()).num_days())
}

fn describe(f: &TokenFacts) -> String {
    format!(
        "owner {}, scope {}, {}",
        f.owner.as_deref().unwrap_or("unknown"),
        f.scope.as_deref().unwrap_or("unknown"),
        match (f.expires_at, days_left(f.expires_at)) {
            (Some(t), Some(d)) => format!("expires {} ({d} days left)", t.format("%Y-%m-%d")),
            _ => "expiry unknown".into(),
        }
    )
}

pub async fn run(db: Option<String>, config: Config, args: TokenArgs) -> Result<u8> {
    let store = open_store(db.as_deref()).await?;
    let keys = KeySource::from_env(&config);
    let warn_days = config.server.expiry_warning_days;
    match args.cmd {
        TokenCmd::Set {
            name,
            from_file,
            url,
            no_verify,
        } => {
            let secret = read_secret(from_file.as_ref())?;
            let url = console_url(&store, &config, &name, url.as_deref()).await?;
            let facts = match (&url, no_verify) {
                (_, true) => TokenFacts::default(),
                (Some(u), false) => facts(u, &secret, warn_days).await?,
                (None, false) => {
                    return Err(usage(format!(
                        "console '{name}' has no URL yet: pass --url URL (or add it to the config file), or --no-verify"
                    )));
                }
            };
            if let Some(u) = &url
                && config.console(&name).is_none()
                && store.get_console(&name).await?.is_none()
            {
                let url = parse_url(u)?;
                store
                    .upsert_console(&ConsoleRecord {
                        name: name.clone(),
                        description: None,
                        url: url.to_string(),
                        mode: "scan".into(),
                        scope: Scope::default(),
                    })
                    .await?;
            }
            let sealed = seal_and_store(
                &*store,
                &name,
                &secret,
                &keys,
                facts.clone(),
                false,
                chrono::Utc::now(),
            )
            .await?;
            println!(
                "Stored the token of '{name}' encrypted ({}; master key id {}).",
                describe(&facts),
                sealed.key_id
            );
        }
        TokenCmd::Show { name, json } => {
            let sealed = store
                .get_sealed_token(&name)
                .await?
                .ok_or_else(|| anyhow::Error::new(TokenSourceError::NotStored(name.clone())))?;
            let key_note = match keys.load(false) {
                Ok(k) if k.id() == sealed.key_id => "the current master key opens it".to_string(),
                Ok(k) => format!(
                    "sealed with master key {}, but the current key is {}: it cannot be opened",
                    sealed.key_id,
                    k.id()
                ),
                Err(e) => format!("the master key is not available: {e}"),
            };
            let days = days_left(sealed.expires_at);
            if json {
                let v = serde_json::json!({
                    "console": name,
                    "owner": sealed.owner,
                    "scope": sealed.scope,
                    "expires_at": sealed.expires_at,
                    "days_left": days,
                    "stored_at": sealed.stored_at,
                    "rotated_at": sealed.rotated_at,
                    "key_id": sealed.key_id,
                    "key_status": key_note,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("console    {name}");
                println!(
                    "owner      {}",
                    sealed.owner.as_deref().unwrap_or("unknown")
                );
                println!(
                    "scope      {}",
                    sealed.scope.as_deref().unwrap_or("unknown")
                );
                match (sealed.expires_at, days) {
                    (Some(t), Some(d)) => {
                        println!("expires    {}", t.format("%Y-%m-%d %H:%M UTC"));
                        println!(
                            "days left  {d}{}",
                            if d < warn_days {
                                "  (rotate it soon: `s1bridge token rotate`)"
                            } else {
                                ""
                            }
                        );
                    }
                    _ => println!("expires    unknown (stored with --no-verify)"),
                }
                println!(
                    "stored     {}",
                    sealed.stored_at.format("%Y-%m-%d %H:%M UTC")
                );
                if let Some(r) = sealed.rotated_at {
                    println!("rotated    {}", r.format("%Y-%m-%d %H:%M UTC"));
                }
                println!("key        {key_note}");
            }
        }
        TokenCmd::Rotate {
            name,
            from_file,
            allow_owner_change,
        } => {
            let old = store
                .get_sealed_token(&name)
                .await?
                .ok_or_else(|| anyhow::Error::new(TokenSourceError::NotStored(name.clone())))?;
            let url = console_url(&store, &config, &name, None)
                .await?
                .ok_or_else(|| {
                    usage(format!(
                        "console '{name}' has no URL; add it to the config file"
                    ))
                })?;
            let secret = read_secret(from_file.as_ref())?;
            let facts = facts(&url, &secret, warn_days).await?;
            if !allow_owner_change && old.owner.is_some() && facts.owner != old.owner {
                return Err(usage(format!(
                    "the new token belongs to {} but the stored one to {}; pass --allow-owner-change if that is intended",
                    facts.owner.as_deref().unwrap_or("unknown"),
                    old.owner.as_deref().unwrap_or("unknown")
                )));
            }
            seal_and_store(
                &*store,
                &name,
                &secret,
                &keys,
                facts.clone(),
                true,
                chrono::Utc::now(),
            )
            .await?;
            println!(
                "Rotated the token of '{name}' ({}). The old token is no longer stored; revoke it in the console.",
                describe(&facts)
            );
        }
    }
    Ok(0)
}
