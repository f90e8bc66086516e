//! `moat user add/list/suspend/reactivate/deprovision`.

use crate::cli::UserCommand;
use crate::context::AdminTools;
use crate::context::Context;
use crate::output;
use anyhow::Result;
use moat_http::api::views::{UserList, UserView};
use moat_service::NewUser;
use std::process::ExitCode;

pub async fn run(context: &Context, command: UserCommand, json: bool) -> Result<ExitCode> {
    let store = context.open_store().await?;
    let identity = context.identity(store.clone());
    if let UserCommand::List = command {
        let users = identity.users().await?;
        let list = UserList {
            users: users.iter().map(UserView::from).collect(),
        };
        if json {
            output::json(&list)?;
        } else {
            print_users(&list.users);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let tools = AdminTools::open(context, store).await?;
    let admin = tools.admin();
    let actor = context.actor();
    let result = match command {
        UserCommand::Add {
            email,
            name,
            roles,
            teams,
        } => {
            admin
                .add_user(
                    &actor,
                    NewUser {
                        email: email.trim().to_string(),
                        name,
                        roles,
                        teams,
                    },
                )
                .await
        }
        UserCommand::List => unreachable!("listed above"),
        UserCommand::Suspend { user } => admin.suspend_user(&actor, &user).await,
        UserCommand::Reactivate { user } => admin.reactivate_user(&actor, &user).await,
        UserCommand::Deprovision { user } => admin.deprovision_user(&actor, &user).await,
        UserCommand::Attest { user, version } => {
            let version = match version.or_else(|| context.config.training.current_version.clone())
            {
                Some(version) => version,
                None => {
                    tools.close().await?;
                    return Err(crate::context::UsageError(
                        "pass --version, or set [training] current_version in moat.toml".into(),
                    )
                    .into());
                }
            };
            admin.attest_training(&actor, &user, &version).await
        }
    };
    tools.close().await?;
    let changed = result?;
    let view = UserView::from(&changed);
    if json {
        output::json(&view)?;
    } else {
        print_users(std::slice::from_ref(&view));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_users(users: &[UserView]) {
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                u.id.clone(),
                u.email.clone(),
                u.name.clone(),
                u.status.clone(),
                u.roles.join(","),
                u.teams.join(","),
                u.training
                    .as_ref()
                    .map_or("-".into(), |t| t.version.clone()),
            ]
        })
        .collect();
    output::table(
        &[
            "ID", "EMAIL", "NAME", "STATUS", "ROLES", "TEAMS", "TRAINING",
        ],
        &rows,
    );
}
