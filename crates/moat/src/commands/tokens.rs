//! `moat token issue/list/revoke/rotate`.

use crate::cli::TokenCommand;
use crate::context::AdminTools;
use crate::context::Context;
use crate::output;
use anyhow::Result;
use moat_http::api::views::{GrantView, IssuedTokenView, TokenList, TokenView};
use moat_service::{Admin, AdminActor, IssueToken, IssuedToken};
use std::process::ExitCode;

pub async fn run(context: &Context, command: TokenCommand, json: bool) -> Result<ExitCode> {
    let store = context.open_store().await?;
    let identity = context.identity(store.clone());
    if let TokenCommand::List { user } = &command {
        let tokens = identity.tokens(user.as_deref()).await?;
        let grants = identity.oauth_grants(user.as_deref()).await?;
        let list = TokenList {
            tokens: tokens.iter().map(TokenView::from).collect(),
            grants: grants.iter().map(GrantView::from).collect(),
        };
        if json {
            output::json(&list)?;
        } else {
            // People by email, as `moat user list` shows them.
            let emails: std::collections::HashMap<String, String> = identity
                .users()
                .await?
                .into_iter()
                .map(|u| (u.id.0, u.email))
                .collect();
            let named: Vec<TokenView> = list
                .tokens
                .iter()
                .cloned()
                .map(|mut t| {
                    if let Some(email) = emails.get(&t.user_id) {
                        t.user_id = email.clone();
                    }
                    t
                })
                .collect();
            print_tokens(&named);
            print_grants(&list.grants);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let TokenCommand::RevokeGrant { id } = &command {
        return revoke_grant(context, store, id, json).await;
    }
    let tools = AdminTools::open(context, store).await?;
    let outcome = change(&tools.admin(), context.actor(), command, json).await;
    tools.close().await?;
    outcome?;
    Ok(ExitCode::SUCCESS)
}

async fn change(
    admin: &Admin<'_>,
    actor: AdminActor,
    command: TokenCommand,
    json: bool,
) -> Result<()> {
    match command {
        TokenCommand::Issue {
            user,
            name,
            scopes,
            ttl,
        } => {
            let issued = admin
                .issue_token(
                    &actor,
                    IssueToken {
                        user,
                        name,
                        scopes,
                        ttl_seconds: ttl.map(|d| d.seconds),
                    },
                )
                .await?;
            print_issued(&issued, json)?;
        }
        TokenCommand::List { .. } | TokenCommand::RevokeGrant { .. } => {
            unreachable!("handled above")
        }
        TokenCommand::Revoke { id } => {
            let view = TokenView::from(&admin.revoke_token(&actor, &id).await?);
            if json {
                output::json(&view)?;
            } else {
                print_tokens(std::slice::from_ref(&view));
            }
        }
        TokenCommand::Rotate { id, grace } => {
            let issued = admin
                .rotate_token(&actor, &id, grace.map(|d| d.seconds))
                .await?;
            print_issued(&issued, json)?;
        }
    }
    Ok(())
}

/// `moat token revoke-grant GRANT`: through the authorization server, on the record.
async fn revoke_grant(
    context: &Context,
    store: std::sync::Arc<dyn moat_store::Store>,
    id: &str,
    json: bool,
) -> Result<ExitCode> {
    let audit = std::sync::Arc::new(context.audit_log(store.clone()).await?);
    let server = super::oauth::server(context, store.clone(), audit.clone())?;
    let revoked = server.revoke_grant(&context.actor(), id).await;
    audit.close().await?;
    if !revoked.map_err(|e| anyhow::anyhow!("{e}"))? {
        return Err(crate::context::UsageError(format!(
            "no live grant `{id}`; `moat token list` shows grants (a revoked one stays revoked)"
        ))
        .into());
    }
    let grants = context.identity(store).oauth_grants(None).await?;
    let grant = grants
        .iter()
        .find(|g| g.id == id)
        .map(GrantView::from)
        .ok_or_else(|| anyhow::anyhow!("grant {id} vanished after revocation"))?;
    if json {
        output::json(&grant)?;
    } else {
        print_grants(std::slice::from_ref(&grant));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_issued(issued: &IssuedToken, json: bool) -> Result<()> {
    let view = IssuedTokenView {
        token: TokenView::from(&issued.token),
        secret: issued.secret.clone(),
    };
    if json {
        return output::json(&view);
    }
    print_tokens(std::slice::from_ref(&view.token));
    outln!();
    outln!("secret (shown once, store it now): {}", view.secret);
    Ok(())
}

/// OAuth grants under the tokens, when there are any.
fn print_grants(grants: &[GrantView]) {
    if grants.is_empty() {
        return;
    }
    output::line(format_args!(""));
    let rows: Vec<Vec<String>> = grants
        .iter()
        .map(|g| {
            vec![
                g.id.clone(),
                g.user_id.clone(),
                g.client_name.clone(),
                g.audience.clone(),
                g.created_at.clone(),
                match (&g.revoked_at, &g.revoked_reason) {
                    (Some(at), Some(why)) => format!("revoked {at} ({why})"),
                    (Some(at), None) => format!("revoked {at}"),
                    _ => "active".into(),
                },
            ]
        })
        .collect();
    output::table(
        &[
            "OAUTH GRANT",
            "USER",
            "TOOL",
            "RESOURCE",
            "GRANTED",
            "STATE",
        ],
        &rows,
    );
}

fn print_tokens(tokens: &[TokenView]) {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            let state = match (&t.revoked_at, &t.replaced_by, &t.oauth_grant) {
                (Some(_), _, _) => "revoked".to_string(),
                (None, Some(next), _) => format!("rotated to {next}"),
                (None, None, Some(grant)) => {
                    format!("oauth {grant} ({})", t.audience.as_deref().unwrap_or("?"))
                }
                (None, None, None) => "active".to_string(),
            };
            vec![
                t.id.clone(),
                t.user_id.clone(),
                t.name.clone(),
                t.scopes.join(","),
                state,
                or_dash(&t.expires_at),
                or_dash(&t.last_used_at),
            ]
        })
        .collect();
    output::table(
        &[
            "ID",
            "USER",
            "NAME",
            "SCOPES",
            "STATE",
            "EXPIRES",
            "LAST USED",
        ],
        &rows,
    );
}
