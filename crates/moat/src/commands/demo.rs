//! `moat demo [PATH]`: from nothing to a running, queryable deployment in one command.
//!
//! Reuses its data directory on re-run: the configuration and the repository stay, the
//! demo users stay, and fresh tokens replace the previous demo tokens (which are revoked),
//! since secrets are printed once and never stored.

use crate::cli::DemoArgs;
use crate::context::{AdminTools, Context, UsageError};
use crate::sample;
use anyhow::{Context as _, Result};
use moat_domain::{Role, Scope, UserStatus};
use moat_service::{Admin, AdminActor, IssueToken, NewUser};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub const DEFAULT_DATA_DIR: &str = "moat-demo";
const DEFAULT_LISTEN: &str = "127.0.0.1:8480";
const ADMIN_EMAIL: &str = "admin@example.com";
const DEVELOPER_EMAIL: &str = "developer@example.com";
const DEMO_TOKEN_NAME: &str = "demo";

/// `demo.json`: what a script needs to drive the demo deployment.
#[derive(Serialize)]
struct DemoFile {
    url: String,
    admin_token: String,
    developer_token: String,
    /// A one-time link that signs the developer in when a tool connects by OAuth.
    developer_sign_in: String,
    /// A one-time link that signs the admin in to the console.
    admin_console_sign_in: String,
    repos: Vec<DemoRepo>,
    config: String,
    policy_version: String,
}

#[derive(Serialize)]
struct DemoRepo {
    name: String,
    source: String,
    tier: String,
}

pub async fn run(args: DemoArgs, data_dir: Option<&Path>, json: bool) -> Result<ExitCode> {
    let data_dir = data_dir.map_or_else(|| PathBuf::from(DEFAULT_DATA_DIR), Path::to_path_buf);
    create_private_dir(&data_dir)?;
    let data_dir = data_dir.canonicalize()?;
    let config_path = data_dir.join("moat.toml");

    if config_path.exists() {
        if args.path.is_some() {
            eprintln!(
                "note: reusing {}; the repository given is ignored (delete the directory to start over)",
                config_path.display()
            );
        }
    } else {
        let (name, source) = match &args.path {
            Some(path) => connect_existing(path)?,
            None => {
                let source = data_dir.join("acme-payments.git");
                sample::write_sample_repository(&source)?;
                ("acme-payments".to_string(), source)
            }
        };
        std::fs::write(&config_path, starter_config(&name, &source))
            .with_context(|| format!("writing {}", config_path.display()))?;
    }

    let context = Context::load(Some(&config_path), Some(&data_dir))?;
    index_repositories(&context)?;
    let tools = AdminTools::open(&context, context.open_store().await?).await?;
    let admin = tools.admin();
    let admin_token = demo_token(
        &admin,
        ADMIN_EMAIL,
        "Demo Admin",
        &[Role::Admin, Role::Security],
        &[Scope::Admin],
    )
    .await?;
    let developer_token = demo_token(
        &admin,
        DEVELOPER_EMAIL,
        "Demo Developer",
        &[Role::Developer],
        &[Scope::Mcp, Scope::Gateway],
    )
    .await?;

    let listen = match args.listen {
        Some(address) => address,
        None => DEFAULT_LISTEN.parse()?,
    };
    let listener = super::serve::bind(listen).await?;
    let url = format!("http://{}", listener.local_addr()?);
    tools.close().await?;
    let super::serve::App {
        router: app,
        audit,
        forwarder,
        refusals,
    } = super::serve::build_app(&context).await?;
    let oauth = super::oauth::server(&context, context.open_store().await?, audit.clone())?;
    let link = oauth
        .sign_in_link(&context.actor(), DEVELOPER_EMAIL)
        .await?;
    let console_link = oauth.sign_in_link(&context.actor(), ADMIN_EMAIL).await?;
    let demo = DemoFile {
        url: url.clone(),
        admin_token,
        developer_token,
        developer_sign_in: format!("{url}/oauth/sign-in?code={}", link.secret),
        admin_console_sign_in: format!("{url}/console/sign-in?code={}", console_link.secret),
        repos: context
            .config
            .repos
            .iter()
            .map(|r| DemoRepo {
                name: r.name.clone(),
                source: r.source.clone(),
                tier: r.tier.to_string(),
            })
            .collect(),
        config: config_path.display().to_string(),
        policy_version: context.policy_version(),
    };
    crate::output::write_private(
        &data_dir.join("demo.json"),
        &serde_json::to_vec_pretty(&demo)?,
    )?;
    let shutdown = super::shutdown_signal()?;

    if json {
        crate::output::json(&demo)?;
    } else {
        print_welcome(&demo, &data_dir);
    }
    let limits = super::serve::connection_limits(&context);
    let served = moat_http::server::serve_with(listener, app, limits, shutdown).await;
    refusals.flush().await;
    forwarder.stop(std::time::Duration::from_secs(5)).await;
    audit.close().await?;
    served?;
    Ok(ExitCode::SUCCESS)
}

/// Validates that `path` is a git repository and names it after its directory.
fn connect_existing(path: &Path) -> Result<(String, PathBuf)> {
    let path = path
        .canonicalize()
        .map_err(|e| UsageError(format!("cannot use {}: {e}", path.display())))?;
    gix::open(&path).map_err(|e| {
        UsageError(format!(
            "{} is not a git repository ({e}); pass the path of a repository's working tree or .git directory",
            path.display()
        ))
    })?;
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".git").to_lowercase())
        .unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_start_matches(['.', '_', '-'])
        .chars()
        .take(64)
        .collect();
    Ok((
        if name.is_empty() {
            "repo".to_string()
        } else {
            name
        },
        path,
    ))
}

fn starter_config(repo_name: &str, source: &Path) -> String {
    let quoted = |s: &str| toml::Value::String(s.to_string()).to_string();
    format!(
        r#"# Moat demo configuration, written by `moat demo`.
# `moat serve --config {config}` runs this deployment as it is.
# Every section is documented in the README; secrets are only ever referenced (*_env, *_file).

[server]
listen = "{listen}"

[org]
name = "Demo Org"

[identity]
token_ttl = "30d"
rotation_grace = "24h"

[[repos]]
name = {name}
source = {source}
tier = "internal"
permissions = "static"

[permissions.static]
grants = [{{ repos = ["*"], teams = ["engineering"] }}]

[training]
required = false
"#,
        config = "moat-demo/moat.toml",
        listen = DEFAULT_LISTEN,
        name = quoted(repo_name),
        source = quoted(&source.display().to_string()),
    )
}

/// Ensures the demo user exists and is active, revokes its previous demo tokens and
/// issues a fresh one.
async fn demo_token(
    admin: &Admin<'_>,
    email: &str,
    name: &str,
    roles: &[Role],
    scopes: &[Scope],
) -> Result<String> {
    let identity = admin.identity;
    let actor = AdminActor {
        client: "demo".into(),
        ..crate::context::cli_actor()
    };
    let user = match identity.find_user(email).await {
        Ok(user) => user,
        Err(moat_service::IdentityError::NotFound(_)) => {
            admin
                .add_user(
                    &actor,
                    NewUser {
                        email: email.into(),
                        name: name.into(),
                        roles: roles.to_vec(),
                        teams: vec!["engineering".into()],
                    },
                )
                .await?
        }
        Err(other) => return Err(other.into()),
    };
    if user.status != UserStatus::Active {
        return Err(UsageError(format!(
            "the demo user {email} is {}; run `moat user reactivate {email} --config <demo>/moat.toml`, or delete the demo directory",
            user.status
        ))
        .into());
    }
    for token in identity.tokens(Some(email)).await? {
        if token.name == DEMO_TOKEN_NAME && token.revoked_at.is_none() {
            admin.revoke_token(&actor, &token.id.0).await?;
        }
    }
    let issued = admin
        .issue_token(
            &actor,
            IssueToken {
                user: email.into(),
                name: DEMO_TOKEN_NAME.into(),
                scopes: scopes.to_vec(),
                ttl_seconds: None,
            },
        )
        .await?;
    Ok(issued.secret)
}

/// The welcome text. Written with errors ignored: a closed stdout must not stop the server.
fn print_welcome(demo: &DemoFile, data_dir: &Path) {
    use std::fmt::Write as _;
    let mut out = String::new();
    let url = &demo.url;
    let dev = &demo.developer_token;
    let _ = writeln!(out, "moat listening on {url}");
    let _ = writeln!(out);
    let _ = writeln!(out, "Data directory: {}", data_dir.display());
    let _ = writeln!(out, "Configuration:  {}", demo.config);
    for repo in &demo.repos {
        let _ = writeln!(
            out,
            "Repository:     {} ({}) from {}",
            repo.name, repo.tier, repo.source
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Tokens (shown once; also in {}/demo.json):",
        data_dir.display()
    );
    let _ = writeln!(out, "  admin      {ADMIN_EMAIL:<22} {}", demo.admin_token);
    let _ = writeln!(out, "  developer  {DEVELOPER_EMAIL:<22} {dev}");
    let _ = writeln!(out);
    let _ = writeln!(out, "Try it:");
    let _ = writeln!(
        out,
        "  curl -H 'Authorization: Bearer {dev}' {url}/api/v1/whoami"
    );
    let _ = writeln!(
        out,
        "  curl -H 'Authorization: Bearer {}' {url}/api/v1/users",
        demo.admin_token
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "The security team's console, signed in as the admin (a one-time link, valid 15 minutes;"
    );
    let _ = writeln!(
        out,
        "`moat login-link {ADMIN_EMAIL} --console --config {}` prints another):",
        demo.config
    );
    let _ = writeln!(out, "  {}", demo.admin_console_sign_in);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Connect a tool (it opens a browser; sign in with the developer's one-time link,"
    );
    let _ = writeln!(
        out,
        "valid 15 minutes; `moat login-link {DEVELOPER_EMAIL} --config {}` prints another):",
        demo.config
    );
    let _ = writeln!(out, "  {}", demo.developer_sign_in);
    let _ = writeln!(out, "Claude Code:");
    let _ = writeln!(out, "  claude mcp add --transport http moat {url}/mcp");
    let _ = writeln!(out, "Cursor (.cursor/mcp.json):");
    let _ = writeln!(
        out,
        "  {{\"mcpServers\": {{\"moat\": {{\"url\": \"{url}/mcp\"}}}}}}"
    );
    let _ = writeln!(out, "VS Code (.vscode/mcp.json):");
    let _ = writeln!(
        out,
        "  {{\"servers\": {{\"moat\": {{\"type\": \"http\", \"url\": \"{url}/mcp\"}}}}}}"
    );
    let _ = writeln!(out, "Without a browser (CI), send the token instead:");
    let _ = writeln!(
        out,
        "  claude mcp add --transport http moat {url}/mcp --header \"Authorization: Bearer {dev}\""
    );
    let _ = writeln!(
        out,
        "Model gateway (Claude Code, Continue, Aider, Cline), once [[vendors]] and [[models]]"
    );
    let _ = writeln!(
        out,
        "are added to {}/moat.toml (see README, \"The LLM gateway\"):",
        data_dir.display()
    );
    let _ = writeln!(
        out,
        "  export ANTHROPIC_BASE_URL={url} ANTHROPIC_AUTH_TOKEN={dev}"
    );
    let _ = writeln!(
        out,
        "  export OPENAI_BASE_URL={url}/v1 OPENAI_API_KEY={dev}"
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "Press Ctrl-C to stop.");
    crate::output::announce(&out);
}

fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Indexes every connected repository (incremental on a re-run).
fn index_repositories(context: &Context) -> Result<()> {
    let index = context.open_index()?;
    for repo in &context.config.repos {
        let source = context.repo_source(repo);
        let spec = moat_index::RepoSpec {
            name: &repo.name,
            source: &source,
            reference: repo.pinned_ref.as_deref().or(repo.branch.as_deref()),
            exclude: &repo.exclude,
        };
        let report = index
            .index_repo(&spec, &super::index::Bars::new(&repo.name))
            .with_context(|| format!("indexing `{}`", repo.name))?;
        index.record_run(
            &repo.name,
            moat_domain::UnixTime::now().0,
            Ok(&report.commit),
        )?;
        eprintln!(
            "indexed {}@{}: {} files, {} symbols",
            repo.name,
            &report.commit[..12.min(report.commit.len())],
            report.files,
            report.symbols
        );
    }
    Ok(())
}
