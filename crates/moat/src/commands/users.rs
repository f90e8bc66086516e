//! `moat user add/list/suspend/reactivate/deprovision`.

use crate::cli::UserCommand;
use crate::context::Context;
use crate::output;
use anyhow::Result;
use moat_http::api::views::{UserList, UserView};
use moat_service::NewUser;
use std::process::ExitCode;

pub async fn run(context: &Context, command: UserCommand, json: bool) -> Result<ExitCode> {
    let identity = context.identity(context.open_store()?);
    let changed = match command {
        UserCommand::Add {
            email,
            name,
            roles,
            teams,
        } => {
            identity
                .add_user(NewUser {
                    email,
                    name,
                    roles,
                    teams,
                })
                .await?
        }
        UserCommand::List => {
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
        UserCommand::Suspend { user } => identity.suspend_user(&user).await?,
        UserCommand::Reactivate { user } => identity.reactivate_user(&user).await?,
        UserCommand::Deprovision { user } => identity.deprovision_user(&user).await?,
    };
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
