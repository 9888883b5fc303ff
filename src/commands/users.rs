//! `hangar users`: accounts, created offline (the first administrator
//! cannot sign up over the API).

use anyhow::{Result, bail};
use hangar_api::{Role, new_user};

use super::exit;
use crate::cli::UsersCommand;
use crate::home::Home;

pub async fn run(command: &UsersCommand, home: &Home, json: bool) -> Result<u8> {
    let store = home.accounts(&home.store().await?);
    match command {
        UsersCommand::Create { email, password, admin, name } => {
            let role = if *admin { Role::Admin } else { Role::User };
            let mut user = match new_user(email, password, role).await {
                Ok(user) => user,
                Err(err) => {
                    eprintln!("error: {}", err.message);
                    return Ok(exit::INVALID);
                }
            };
            user.name = name.clone();
            if !store.create_user(&user).await? {
                eprintln!("error: an account with the e-mail {} exists already", user.email);
                return Ok(exit::INVALID);
            }
            if json {
                println!("{}", serde_json::json!({"id": user.id, "email": user.email, "role": user.role}));
            } else {
                eprintln!("created {} {} ({})", user.role, user.email, user.id);
            }
            Ok(exit::OK)
        }
        UsersCommand::List => {
            let users = store.users().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                for user in &users {
                    println!(
                        "{}\t{}\t{}{}",
                        user.id,
                        user.email,
                        user.role,
                        if user.disabled { "\tdisabled" } else { "" }
                    );
                }
            }
            Ok(exit::OK)
        }
        UsersCommand::SetRole { email, role, disabled } => {
            let Some(user) = store.user_by_email(email).await? else {
                bail!("no account with the e-mail {email}; list them with `hangar users list`");
            };
            store.set_role(&user.id, role.as_str(), *disabled, hangar_engine::clock::now_ms()).await?;
            let action = match (user.disabled, *disabled) {
                (false, true) => "account.disable",
                (true, false) => "account.enable",
                _ => "account.role",
            };
            let change =
                format!("role {} → {}; {}", user.role, role.as_str(), if *disabled { "disabled" } else { "enabled" });
            store.record(&super::keys::by_system(action, &user.id, Some(change))).await?;
            eprintln!("{email} is now {}{}", role.as_str(), if *disabled { " (disabled)" } else { "" });
            Ok(exit::OK)
        }
    }
}
