//! `hangar keys`: personal API keys, for the machine's owner to hand out
//! and withdraw; each change is in the audit log as done by `system`.

use anyhow::{Result, bail};
use hangar_accounts::{Accounts, NewAudit, NewKey, Outcome, UserRecord};
use hangar_api::{KeyRequest, Role, validate_key};
use hangar_engine::clock::now_ms;

use super::exit;
use crate::cli::KeysCommand;
use crate::home::Home;

/// An audit row for something the machine's owner did at the CLI.
pub fn by_system(action: &str, target: &str, reason: Option<String>) -> NewAudit {
    NewAudit {
        at: now_ms(),
        actor: "system".to_owned(),
        actor_email: None,
        key_id: None,
        action: action.to_owned(),
        target: Some(target.to_owned()),
        outcome: Outcome::Allowed,
        reason,
        address: None,
        request_id: None,
    }
}

async fn account(accounts: &Accounts, email: &str) -> Result<UserRecord> {
    match accounts.user_by_email(email).await? {
        Some(user) => Ok(user),
        None => bail!("no account with the e-mail {email}; list them with `hangar users list`"),
    }
}

pub async fn run(command: &KeysCommand, home: &Home, json: bool) -> Result<u8> {
    let accounts = home.accounts(&home.store().await?);
    match command {
        KeysCommand::Create { user, name, scopes, expires_in_days } => {
            let owner = account(&accounts, user).await?;
            let role = Role::parse(&owner.role).unwrap_or(Role::User);
            let request = KeyRequest { name: name.clone(), scopes: scopes.clone(), expires_in_days: *expires_in_days };
            let scopes = match validate_key(&request, role) {
                Ok(scopes) => scopes,
                Err(err) => {
                    eprintln!("error: {}", err.message);
                    return Ok(exit::INVALID);
                }
            };
            let now = now_ms();
            let new = NewKey {
                user_id: owner.id.clone(),
                name: name.trim().to_owned(),
                scopes,
                expires_at: expires_in_days.map(|days| now + i64::from(days) * 86_400_000),
                now,
            };
            let (record, secret) = accounts.create_key(&new).await?;
            accounts.record(&by_system("key.create", &record.id, Some(format!("for {}", owner.email)))).await?;
            if json {
                let mut view = serde_json::to_value(&record)?;
                view["key"] = serde_json::Value::String(secret);
                println!("{view}");
            } else {
                println!("{secret}");
                eprintln!(
                    "created {} ({}) for {} with {}; the key above is not stored: copy it now",
                    record.id,
                    record.name,
                    owner.email,
                    record.scopes.join(", ")
                );
            }
            Ok(exit::OK)
        }
        KeysCommand::List { user } => {
            let owner = account(&accounts, user).await?;
            let keys = accounts.keys_of(&owner.id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                let now = now_ms();
                for key in &keys {
                    println!(
                        "{}\t{}\t{}…\t{}\t{}",
                        key.id,
                        key.name,
                        key.prefix,
                        key.scopes.join(","),
                        if key.revoked_at.is_some() {
                            "revoked"
                        } else if key.is_live(now) {
                            "active"
                        } else {
                            "expired"
                        }
                    );
                }
            }
            Ok(exit::OK)
        }
        KeysCommand::Revoke { id } => {
            if !accounts.revoke_key(id, now_ms()).await? {
                eprintln!("error: no active key {id}; list an account's keys with `hangar keys list --user EMAIL`");
                return Ok(exit::INVALID);
            }
            accounts.record(&by_system("key.revoke", id, None)).await?;
            eprintln!("revoked {id}");
            Ok(exit::OK)
        }
    }
}
