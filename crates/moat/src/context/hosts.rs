//! Repository hosts: signing in to them, their permission mirror and webhooks; SCIM.

use super::{Context, UsageError, secret};
use anyhow::Result;
use moat_service::{AuditLog, Identity, SystemClock};
use moat_store::Store;
use std::sync::Arc;

impl Context {
    /// Linking host logins by signing in to the host, for each of `[permissions.github]`
    /// and `[permissions.gitlab]` that names the organisation's OAuth app there.
    pub fn host_sign_in(
        &self,
        store: Arc<dyn moat_store::Store>,
        writer: Arc<moat_service::mirror::MirrorWriter>,
    ) -> Result<Option<moat_service::host_sign_in::HostSignIn>> {
        use moat_service::host_sign_in::{
            HostApp, HostKind, HostSignIn, github_web_url, gitlab_web_url,
        };
        let permissions = &self.config.permissions;
        let configured = [
            permissions.github.as_ref().map(|g| {
                (
                    HostKind::Github,
                    g.api_url.clone(),
                    github_web_url(&g.api_url),
                    &g.oauth_client_id,
                    &g.oauth_client_secret_env,
                    &g.oauth_client_secret_file,
                )
            }),
            permissions.gitlab.as_ref().map(|g| {
                (
                    HostKind::Gitlab,
                    g.api_url.clone(),
                    gitlab_web_url(&g.api_url),
                    &g.oauth_client_id,
                    &g.oauth_client_secret_env,
                    &g.oauth_client_secret_file,
                )
            }),
        ];
        let mut apps = Vec::new();
        for (host, api_url, web_url, id, env, file) in configured.into_iter().flatten() {
            let Some(client_id) = id else { continue };
            let what = format!("[permissions.{}] oauth_client_secret", host.name());
            let client_secret =
                secret(env.as_deref(), file.as_deref(), &what)?.ok_or_else(|| {
                    UsageError(format!(
                        "{what}: set oauth_client_secret_env or oauth_client_secret_file"
                    ))
                })?;
            apps.push(HostApp {
                host,
                web_url,
                api_url,
                client_id: client_id.clone(),
                client_secret,
            });
        }
        if apps.is_empty() {
            return Ok(None);
        }
        Ok(Some(HostSignIn::new(
            apps,
            store,
            writer,
            Arc::new(SystemClock),
        )))
    }

    /// The SCIM endpoint, when `[identity] scim_token_env` (or `_file`) names its token.
    pub fn scim(
        &self,
        store: Arc<dyn moat_store::Store>,
        identity: Arc<Identity>,
        audit: Arc<AuditLog>,
        links: Arc<moat_service::mirror::MirrorWriter>,
    ) -> Result<Option<moat_http::scim::ScimEndpoint>> {
        let i = &self.config.identity;
        let Some(token) = secret(
            i.scim_token_env.as_deref(),
            i.scim_token_file.as_deref(),
            "[identity] scim_token",
        )?
        else {
            return Ok(None);
        };
        if token.len() < 32 {
            return Err(UsageError(
                "[identity] scim_token: use at least 32 characters (for example `openssl rand -hex 32`)".into(),
            )
            .into());
        }
        let service = moat_service::scim::Scim::new(
            store,
            identity,
            audit,
            Arc::new(SystemClock),
            self.policy_version(),
        )
        .with_links(links);
        Ok(Some(moat_http::scim::ScimEndpoint {
            service: Arc::new(service),
            token: moat_service::scim::ScimToken::new(&token),
        }))
    }

    /// Repositories whose permissions are mirrored from GitHub or GitLab, with the
    /// host path and token to sync them (`moat_service::host_sync::repos_from_config`,
    /// with the tokens the repositories need resolved here).
    pub fn host_repos(&self) -> Result<Vec<moat_service::host_sync::HostRepo>> {
        use moat_config::PermissionSource as Source;
        let permissions = &self.config.permissions;
        let uses = |source: Source| self.config.repos.iter().any(|r| r.permissions == source);
        let github = match (&permissions.github, uses(Source::Github)) {
            (Some(github), true) => secret(
                github.token_env.as_deref(),
                github.token_file.as_deref(),
                "[permissions.github] token",
            )?,
            _ => None,
        };
        let gitlab = match (&permissions.gitlab, uses(Source::Gitlab)) {
            (Some(gitlab), true) => secret(
                gitlab.token_env.as_deref(),
                gitlab.token_file.as_deref(),
                "[permissions.gitlab] token",
            )?,
            _ => None,
        };
        let tokens = moat_service::host_sync::HostTokens { github, gitlab };
        Ok(
            moat_service::host_sync::repos_from_config(&self.config, &tokens)
                .map_err(UsageError)?,
        )
    }

    /// The permission mirror's writer: every change on the record in `audit`.
    pub fn mirror_writer(
        &self,
        store: Arc<dyn Store>,
        audit: Arc<AuditLog>,
    ) -> Arc<moat_service::mirror::MirrorWriter> {
        Arc::new(moat_service::mirror::MirrorWriter::new(
            store,
            audit,
            self.policy_version(),
        ))
    }

    /// `(api_url, org, token)` for linking GitHub logins through SAML identities, when
    /// `[permissions.github] saml_links` is on.
    pub fn saml_links(&self) -> Result<Option<(String, String, String)>> {
        let Some(github) = &self.config.permissions.github else {
            return Ok(None);
        };
        if !github.saml_links {
            return Ok(None);
        }
        let Some(token) = secret(
            github.token_env.as_deref(),
            github.token_file.as_deref(),
            "[permissions.github] token",
        )?
        else {
            return Ok(None);
        };
        Ok(Some((github.api_url.clone(), github.org.clone(), token)))
    }

    /// The webhook receiver, if a webhook secret or token is configured.
    pub fn webhooks(
        &self,
        writer: Arc<moat_service::mirror::MirrorWriter>,
        sync: Arc<moat_service::host_sync::HostSync>,
    ) -> Result<Option<moat_service::webhooks::Webhooks>> {
        let permissions = &self.config.permissions;
        let github_secret = match &permissions.github {
            Some(g) => secret(
                g.webhook_secret_env.as_deref(),
                g.webhook_secret_file.as_deref(),
                "[permissions.github] webhook secret",
            )?,
            None => None,
        };
        let gitlab_token = match &permissions.gitlab {
            Some(g) => secret(
                g.webhook_token_env.as_deref(),
                g.webhook_token_file.as_deref(),
                "[permissions.gitlab] webhook token",
            )?,
            None => None,
        };
        if github_secret.is_none() && gitlab_token.is_none() {
            return Ok(None);
        }
        Ok(Some(moat_service::webhooks::Webhooks {
            writer,
            clock: Arc::new(SystemClock),
            sync,
            repos: self.host_repos()?,
            github_secret: github_secret.map(String::into_bytes),
            gitlab_token,
        }))
    }
}
