//! `[identity.oauth]` to the authorization server's settings, and `moat login-link`.

use crate::context::{Context, UsageError};
use anyhow::Result;
use moat_service::oauth::{ConfiguredClient, IdentityProvider, OAuthServer, OAuthSettings};
use moat_service::{AuditLog, SystemClock};
use std::sync::Arc;

/// The authorization server for this configuration. A configured redirect URI that
/// could never be used safely (http to a remote host, `javascript:`) stops the start.
pub fn server(
    context: &Context,
    store: Arc<dyn moat_store::Store>,
    audit: Arc<AuditLog>,
) -> Result<Arc<OAuthServer>> {
    let oauth = &context.config.identity.oauth;
    let clients = configured_clients(context)?;
    let access = context.access_settings()?;
    let settings = OAuthSettings {
        access_ttl_seconds: oauth.access_token_ttl.seconds,
        refresh_ttl_seconds: oauth.refresh_token_ttl.seconds,
        code_ttl_seconds: 60,
        session_ttl_seconds: oauth.session_ttl.seconds,
        sign_in_link_ttl_seconds: oauth.sign_in_link_ttl.seconds,
        clients,
        dynamic_registration: oauth.dynamic_registration,
        registrations_per_hour: oauth.registrations_per_hour,
        metadata_documents: oauth.metadata_documents,
        metadata_private_addresses: oauth.metadata_private_addresses,
        training: access.training,
    };
    let server = OAuthServer::new(
        store,
        Arc::new(SystemClock),
        audit,
        settings,
        context.policy_version(),
    );
    Ok(Arc::new(match identity_provider(context)? {
        Some(idp) => server.with_identity_provider(idp),
        None => server,
    }))
}

/// Moat's client at the company's identity provider, when `[identity.oidc]` names one.
fn identity_provider(context: &Context) -> Result<Option<IdentityProvider>> {
    let Some(oidc) = &context.config.identity.oidc else {
        return Ok(None);
    };
    let Some(client_id) = &oidc.client_id else {
        return Ok(None);
    };
    let secret = crate::context::secret(
        oidc.client_secret_env.as_deref(),
        oidc.client_secret_file.as_deref(),
        "[identity.oidc] client_secret",
    )?
    .ok_or_else(|| {
        UsageError("[identity.oidc] client_id needs client_secret_env or client_secret_file".into())
    })?;
    let verifier = moat_service::OidcVerifier::new(moat_service::OidcSettings {
        issuer: oidc.issuer.clone(),
        audience: client_id.clone(),
        jwks_url: oidc.jwks_url.clone(),
        min_refresh: std::time::Duration::from_secs(30),
        max_key_age: moat_service::identity::MAX_KEY_AGE,
        login_claims: Vec::new(),
    });
    Ok(Some(IdentityProvider {
        verifier: Arc::new(verifier),
        client_id: client_id.clone(),
        client_secret: secret,
    }))
}

/// `[[identity.oauth.clients]]`, each redirect URI checked as the server will use it
/// (also by `moat policy check`).
pub fn configured_clients(context: &Context) -> Result<Vec<ConfiguredClient>> {
    let mut clients = Vec::new();
    for (index, client) in context.config.identity.oauth.clients.iter().enumerate() {
        for uri in &client.redirect_uris {
            moat_service::oauth::clients::check_redirect_uri(uri).map_err(|problem| {
                UsageError(format!(
                    "{}: [[identity.oauth.clients]] #{} ({}): {problem}",
                    context.config_path.display(),
                    index + 1,
                    client.id
                ))
            })?;
        }
        clients.push(ConfiguredClient {
            id: client.id.clone(),
            name: client.name.clone(),
            redirect_uris: client.redirect_uris.clone(),
        });
    }
    Ok(clients)
}

/// The base URL people open links at: `[server] public_url`, else the listen address.
pub fn base_url(context: &Context) -> String {
    match &context.config.server.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => format!("http://{}", context.config.server.listen),
    }
}

#[derive(serde::Serialize)]
struct LinkView {
    user: String,
    email: String,
    url: String,
    expires_at: String,
}

/// `moat login-link USER`: a one-time sign-in link, on the record.
pub async fn login_link(
    context: &Context,
    user: &str,
    console: bool,
    json: bool,
) -> Result<std::process::ExitCode> {
    let store = context.open_store().await?;
    let audit = Arc::new(context.audit_log(store.clone()).await?);
    let server = server(context, store, audit.clone())?;
    let issued = server.sign_in_link(&context.actor(), user).await;
    audit.close().await?;
    let link = issued.map_err(|error| match error {
        moat_service::oauth::SignInError::NoSuchUser(_)
        | moat_service::oauth::SignInError::Inactive(_) => {
            anyhow::Error::from(UsageError(error.to_string()))
        }
        other => anyhow::Error::from(other),
    })?;
    let page = if console { "console" } else { "oauth" };
    let url = format!("{}/{page}/sign-in?code={}", base_url(context), link.secret);
    let view = LinkView {
        user: link.user.id.0.clone(),
        email: link.user.email.clone(),
        url,
        expires_at: link.expires_at.to_rfc3339(),
    };
    if json {
        crate::output::json(&view)?;
    } else {
        let open = if console {
            "Open it in your browser to sign in to the console."
        } else {
            "Open it in the browser where the tool asks you to sign in."
        };
        crate::output::announce(&format!(
            "Sign-in link for {} (works once, until {}):\n  {}\n{open}\n",
            view.email, view.expires_at, view.url
        ));
    }
    Ok(std::process::ExitCode::SUCCESS)
}
