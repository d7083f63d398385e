//! `s1bridge keys create|list|revoke`: API keys of the service. A key is shown once, at
//! creation; the database keeps only its SHA-256 hash.

use anyhow::Result;
use clap::{Args, Subcommand};
use s1bridge_store::ApiRole;

use crate::connect::{open_store, usage};

#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(subcommand)]
    cmd: KeysCmd,
}

#[derive(Subcommand, Debug)]
enum KeysCmd {
    /// Create a key and print it (only this once).
    Create {
        /// read: every GET; admin: also starts syncs.
        #[arg(long, value_parser = ["read", "admin"])]
        role: String,
        /// A label to recognise the key by.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List keys (never the keys themselves).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id.
    Revoke { id: i64 },
}

pub async fn run(db: Option<String>, args: KeysArgs) -> Result<u8> {
    let store = open_store(db.as_deref()).await?;
    match args.cmd {
        KeysCmd::Create { role, name } => {
            let role = ApiRole::parse(&role).ok_or_else(|| usage("--role is read or admin"))?;
            let (key, rec) = s1bridge_server::auth::create_key(&*store, &name, role)
                .await
                .map_err(anyhow::Error::msg)?;
            eprintln!(
                "Created API key {} (role {}{}). It is shown only now; keep it in a secret store.\n\
                 Use it as `Authorization: Bearer <key>` or sign in to the dashboard with it.",
                rec.id,
                rec.role.as_str(),
                if name.is_empty() {
                    String::new()
                } else {
                    format!(", name {name}")
                }
            );
            println!("{key}");
        }
        KeysCmd::List { json } => {
            let keys = store.list_api_keys().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else if keys.is_empty() {
                println!("No API keys. Create one with `s1bridge keys create --role admin`.");
            } else {
                println!(
                    "{:>4}  {:<6}  {:<12}  {:<20}  {:<17}  revoked",
                    "id", "role", "prefix", "name", "created"
                );
                for k in keys {
                    println!(
                        "{:>4}  {:<6}  {:<12}  {:<20}  {:<17}  {}",
                        k.id,
                        k.role.as_str(),
                        format!("{}…", k.prefix),
                        k.name,
                        k.created_at.format("%Y-%m-%d %H:%M"),
                        k.revoked_at
                            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                            .unwrap_or_else(|| "-".into())
                    );
                }
            }
        }
        KeysCmd::Revoke { id } => {
            store.revoke_api_key(id, chrono::Utc::now()).await?;
            println!("API key {id} is revoked.");
        }
    }
    Ok(0)
}
