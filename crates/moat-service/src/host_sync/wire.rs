//! The hosts' wire formats: GitHub's and GitLab's member lists (who may read code,
//! at which level), their paging (`Link: rel="next"`, `X-Next-Page`) and paths.

use super::{HostKind, HostRepo, HostSync, MAX_RATE_LIMIT_WAIT, SyncError};
use std::time::Duration;

impl HostSync {
    /// One page of a host's API, waiting out rate limits up to a bound.
    pub(super) async fn get(
        &self,
        repo: &HostRepo,
        url: &str,
        etag: Option<&str>,
    ) -> Result<Page, SyncError> {
        let host = repo.kind.as_str();
        loop {
            let mut request = self.http.get(url);
            request = match repo.kind {
                HostKind::Github => request
                    .bearer_auth(&repo.token)
                    .header("accept", "application/vnd.github+json")
                    .header("x-github-api-version", "2022-11-28"),
                HostKind::Gitlab => request.header("private-token", &repo.token),
            };
            if let Some(etag) = etag {
                request = request.header("if-none-match", etag);
            }
            let response = request.send().await.map_err(|e| SyncError::Transport {
                host,
                message: e.to_string(),
            })?;
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let remaining =
                header("x-ratelimit-remaining").or_else(|| header("ratelimit-remaining"));
            if status == 429 || (status == 403 && remaining.as_deref() == Some("0")) {
                let wait = header("retry-after")
                    .and_then(|s| s.parse::<u64>().ok())
                    .map(Duration::from_secs)
                    .or_else(|| {
                        header("x-ratelimit-reset")
                            .or_else(|| header("ratelimit-reset"))
                            .and_then(|s| s.parse::<i64>().ok())
                            .map(|reset| {
                                Duration::from_secs((reset - self.clock.now().0).max(1) as u64)
                            })
                    })
                    .unwrap_or(Duration::from_secs(1));
                if wait > MAX_RATE_LIMIT_WAIT {
                    return Err(SyncError::RateLimited { host, wait });
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            match status {
                200 | 304 => {}
                404 => {
                    return Err(SyncError::NotVisible {
                        host,
                        path: repo.path.clone(),
                    });
                }
                401 | 403 => {
                    return Err(SyncError::Refused {
                        host,
                        path: repo.path.clone(),
                        status,
                    });
                }
                _ => {
                    return Err(SyncError::Status {
                        host,
                        path: repo.path.clone(),
                        status,
                    });
                }
            }
            let etag = header("etag");
            let next_page = header("x-next-page");
            let next_link = header("link").and_then(|l| next_link(&l));
            let body = response.bytes().await.map_err(|e| SyncError::Transport {
                host,
                message: e.to_string(),
            })?;
            return Ok(Page {
                status,
                etag,
                next_link,
                next_page,
                body: body.to_vec(),
            });
        }
    }
}

pub(super) struct Page {
    pub(super) status: u16,
    pub(super) etag: Option<String>,
    pub(super) next_link: Option<String>,
    pub(super) next_page: Option<String>,
    pub(super) body: Vec<u8>,
}

/// `(login, level)` of everyone on a page who may read code.
pub(super) fn parse_members(
    kind: &HostKind,
    body: &[u8],
) -> Result<Vec<(String, String)>, SyncError> {
    let host = kind.as_str();
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| SyncError::Shape {
        host,
        message: e.to_string(),
    })?;
    let members = value.as_array().ok_or_else(|| SyncError::Shape {
        host,
        message: "expected a JSON array of members".into(),
    })?;
    let mut out = Vec::with_capacity(members.len());
    for member in members {
        let login = member
            .get(match kind {
                HostKind::Github => "login",
                HostKind::Gitlab => "username",
            })
            .and_then(|l| l.as_str())
            .ok_or_else(|| SyncError::Shape {
                host,
                message: "a member without a login".into(),
            })?;
        match kind {
            HostKind::Github => {
                let permissions = member.get("permissions");
                let can = |p: &str| {
                    permissions
                        .and_then(|ps| ps.get(p))
                        .and_then(|v| v.as_bool())
                        .unwrap_or(false)
                };
                if can("pull") || can("push") || can("admin") {
                    let level = member
                        .get("role_name")
                        .and_then(|r| r.as_str())
                        .unwrap_or("read");
                    out.push((login.to_string(), level.to_string()));
                }
            }
            HostKind::Gitlab => {
                let level = member
                    .get("access_level")
                    .and_then(|l| l.as_i64())
                    .unwrap_or(0);
                let active = member
                    .get("state")
                    .and_then(|s| s.as_str())
                    .is_none_or(|s| s == "active");
                if level >= 20 && active {
                    out.push((login.to_string(), level.to_string()));
                }
            }
        }
    }
    Ok(out)
}

/// The `rel="next"` target of a `Link` header.
pub(super) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                target
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

pub(super) fn with_page(url: &str, page: &str) -> String {
    let base = url.split("&page=").next().unwrap_or(url);
    format!("{base}&page={page}")
}

/// GitLab takes a project path URL-encoded as one segment.
pub(super) fn encode_path(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_and_paths() {
        let link = r#"<https://api.github.com/repositories/1/collaborators?page=2>; rel="next", <https://api.github.com/repositories/1/collaborators?page=5>; rel="last""#;
        assert_eq!(
            next_link(link).as_deref(),
            Some("https://api.github.com/repositories/1/collaborators?page=2")
        );
        assert_eq!(next_link(r#"<x>; rel="prev""#), None);
        assert_eq!(encode_path("group/sub/project"), "group%2Fsub%2Fproject");
    }

    #[test]
    fn members_who_can_read_code() {
        let github =
            br#"[{"login":"alice","permissions":{"pull":true,"push":false},"role_name":"read"},
                         {"login":"bob","permissions":{"pull":false}}]"#;
        assert_eq!(
            parse_members(&HostKind::Github, github).unwrap(),
            [("alice".to_string(), "read".to_string())]
        );
        let gitlab = br#"[{"username":"carol","access_level":30,"state":"active"},
                         {"username":"dave","access_level":10},
                         {"username":"erin","access_level":40,"state":"blocked"}]"#;
        assert_eq!(
            parse_members(&HostKind::Gitlab, gitlab).unwrap(),
            [("carol".to_string(), "30".to_string())]
        );
        assert!(parse_members(&HostKind::Github, b"{\"message\":\"x\"}").is_err());
    }
}
