//! Temporary keys for a role, from the three places AWS hands them to a workload: the
//! EC2 instance metadata service (IMDSv2), the container credentials endpoint (ECS
//! tasks, EKS Pod Identity) and STS `AssumeRoleWithWebIdentity` (EKS service accounts,
//! any OIDC federation). Each answers with keys, a session token and when they expire.

use super::AwsKeys;
use super::read_capped;
use std::path::Path;
use std::time::{Duration, Instant};

/// Temporary keys are refreshed this long before they expire.
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

/// STS answers within this or not at all (the metadata endpoints, on the machine,
/// within the client's two seconds).
const STS_TIMEOUT: Duration = Duration::from_secs(10);

/// Keys and when to ask for them again.
pub(super) type Expiring = (AwsKeys, Option<Instant>);

/// How a request that got no answer is described.
fn unreachable(e: reqwest::Error) -> String {
    format!(
        "cannot be reached ({})",
        if e.is_timeout() {
            "timed out"
        } else {
            "no answer"
        }
    )
}

/// IMDSv2: a session token, then the role's name, then its keys.
pub(super) async fn instance(client: &reqwest::Client, endpoint: &str) -> Result<Expiring, String> {
    let token = client
        .put(format!("{endpoint}/latest/api/token"))
        .header("x-aws-ec2-metadata-token-ttl-seconds", "21600")
        .send()
        .await
        .map_err(unreachable)?;
    if !token.status().is_success() {
        return Err(format!("refused a session token ({})", token.status()));
    }
    let token = String::from_utf8_lossy(&read_capped(token, 4096).await?).to_string();
    let get = |path: String| {
        client
            .get(format!(
                "{endpoint}/latest/meta-data/iam/security-credentials/{path}"
            ))
            .header("x-aws-ec2-metadata-token", token.trim())
            .send()
    };
    let role = get(String::new()).await.map_err(unreachable)?;
    if !role.status().is_success() {
        return Err(format!("names no role ({})", role.status()));
    }
    let role = String::from_utf8_lossy(&read_capped(role, 4096).await?).to_string();
    let role = role.lines().next().unwrap_or_default().trim().to_string();
    if role.is_empty() || role.contains('/') {
        return Err("names no role".into());
    }
    let answer = get(role).await.map_err(unreachable)?;
    if !answer.status().is_success() {
        return Err(format!("gave no keys for the role ({})", answer.status()));
    }
    json_keys(&read_capped(answer, 64 * 1024).await?)
}

/// The authorization a container credentials endpoint wants: a token in a file (EKS Pod
/// Identity mounts one and rotates it) or in the environment.
#[derive(Clone)]
pub enum ContainerToken {
    File(std::path::PathBuf),
    Value(String),
}

impl std::fmt::Debug for ContainerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContainerToken::File(path) => f.debug_tuple("File").field(path).finish(),
            ContainerToken::Value(_) => f.write_str("Value(..)"),
        }
    }
}

/// The container credentials endpoint (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` under
/// `http://169.254.170.2`, or `AWS_CONTAINER_CREDENTIALS_FULL_URI`): a `GET`, with the
/// token as `Authorization` when there is one, answered with the role's keys as JSON.
pub(super) async fn container(
    client: &reqwest::Client,
    url: &str,
    token: Option<&ContainerToken>,
) -> Result<Expiring, String> {
    let mut request = client.get(url);
    if let Some(token) = token {
        let token = match token {
            ContainerToken::Value(token) => token.clone(),
            ContainerToken::File(path) => small_file(path, "the authorization token file").await?,
        };
        let token = token.trim();
        if token.is_empty() || token.contains(['\r', '\n']) {
            return Err("has an authorization token that is empty or spans lines".into());
        }
        request = request.header("authorization", token);
    }
    let answer = request.send().await.map_err(unreachable)?;
    if !answer.status().is_success() {
        return Err(format!("gave no keys ({})", answer.status()));
    }
    json_keys(&read_capped(answer, 64 * 1024).await?)
}

/// What `AssumeRoleWithWebIdentity` needs: the token file (read again for each call, as
/// EKS rotates it), the role, the session's name and STS's address.
#[derive(Clone, Debug)]
pub struct WebIdentity {
    pub token_file: std::path::PathBuf,
    pub role_arn: String,
    pub session_name: String,
    pub sts: String,
}

/// STS `AssumeRoleWithWebIdentity` (a form `POST`, unsigned: the web identity token is
/// the credential), answered in XML.
pub(super) async fn web_identity(
    client: &reqwest::Client,
    role: &WebIdentity,
) -> Result<Expiring, String> {
    let token = small_file(&role.token_file, "the web identity token file").await?;
    let token = token.trim();
    if token.is_empty() {
        return Err("has an empty web identity token file".into());
    }
    let mut form = reqwest::Url::parse("http://form.invalid/").expect("a fixed URL parses");
    form.query_pairs_mut().extend_pairs([
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", role.role_arn.as_str()),
        ("RoleSessionName", role.session_name.as_str()),
        ("WebIdentityToken", token),
    ]);
    let answer = client
        .post(&role.sts)
        .timeout(STS_TIMEOUT)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.query().unwrap_or_default().to_string())
        .send()
        .await
        .map_err(unreachable)?;
    let status = answer.status();
    let body = read_capped(answer, 64 * 1024).await?;
    let body = String::from_utf8_lossy(&body);
    if !status.is_success() {
        let code = element(&body, "Code").unwrap_or_else(|| "no code".into());
        let message: String = element(&body, "Message")
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        return Err(format!("refused the role ({status}, {code}): {message}"));
    }
    let credentials = element(&body, "Credentials").ok_or("answered without credentials")?;
    let field = |name: &str| element(&credentials, name).filter(|v| !v.is_empty());
    let (Some(id), Some(secret), Some(session)) = (
        field("AccessKeyId"),
        field("SecretAccessKey"),
        field("SessionToken"),
    ) else {
        return Err("answered without a key id, secret and session token".into());
    };
    Ok((
        AwsKeys {
            access_key_id: id,
            secret_access_key: secret,
            session_token: Some(session),
        },
        refresh_at(field("Expiration").as_deref())?,
    ))
}

/// The text of the first `<name>…</name>` in `xml`, its five predefined entities
/// decoded (STS answers hold nothing else: no attributes on these, no CDATA).
fn element(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(
        xml[start..end]
            .trim()
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// Keys in the JSON both metadata endpoints answer with (`AccessKeyId`,
/// `SecretAccessKey`, `Token`, `Expiration`).
fn json_keys(body: &[u8]) -> Result<Expiring, String> {
    let body: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| "answered with something other than JSON".to_string())?;
    let field = |name: &str| body[name].as_str().map(String::from);
    let (Some(id), Some(secret)) = (field("AccessKeyId"), field("SecretAccessKey")) else {
        return Err("gave no keys for the role".into());
    };
    Ok((
        AwsKeys {
            access_key_id: id,
            secret_access_key: secret,
            session_token: field("Token"),
        },
        refresh_at(field("Expiration").as_deref())?,
    ))
}

/// When keys expiring at `expiration` (RFC 3339) are asked for again: five minutes
/// before, at most twelve hours on, halfway for keys that last less than ten minutes;
/// soon when the expiry is not said or not read. Keys already expired are refused.
fn refresh_at(expiration: Option<&str>) -> Result<Option<Instant>, String> {
    let Some(at) = expiration.and_then(|at| {
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()
    }) else {
        return Ok(Some(Instant::now() + EXPIRY_MARGIN));
    };
    let left = (at - time::OffsetDateTime::now_utc()).whole_seconds();
    if left <= 0 {
        return Err("gave keys that have already expired (is this machine's clock right?)".into());
    }
    let left = Duration::from_secs(left.min(43_200) as u64);
    let used = if left > 2 * EXPIRY_MARGIN {
        left - EXPIRY_MARGIN
    } else {
        left / 2
    };
    Ok(Some(Instant::now() + used))
}

/// A token file's text, read off the async workers (at most 16 KiB).
async fn small_file(path: &Path, what: &'static str) -> Result<String, String> {
    let path = path.to_path_buf();
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || super::super::credential::read_capped(&path, 16 * 1024))
        .await
        .map_err(|_| format!("has {what} that could not be read"))?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::FileTooLarge => format!("has {what} larger than 16 KiB"),
            kind => format!("has {what} {shown} that cannot be read ({kind})"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sts_answer_is_read_and_its_entities_decoded() {
        let xml = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <SessionToken>FwoG+a/b=&amp;c</SessionToken>
      <SecretAccessKey>wJalr</SecretAccessKey>
      <Expiration>2099-10-24T23:00:23Z</Expiration>
      <AccessKeyId>ASIAWEB</AccessKeyId>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>"#;
        let credentials = element(xml, "Credentials").unwrap();
        assert_eq!(
            element(&credentials, "SessionToken").as_deref(),
            Some("FwoG+a/b=&c")
        );
        assert_eq!(
            element(&credentials, "AccessKeyId").as_deref(),
            Some("ASIAWEB")
        );
        assert_eq!(element(xml, "Missing"), None);
        assert_eq!(element("<Code>unclosed", "Code"), None);
    }

    #[test]
    fn an_unreadable_expiry_is_asked_again_soon_a_far_one_capped_a_past_one_refused() {
        let soon = refresh_at(Some("not a date")).unwrap().unwrap();
        assert!(soon <= Instant::now() + EXPIRY_MARGIN);
        let far = refresh_at(Some("2999-01-01T00:00:00Z")).unwrap().unwrap();
        assert!(far <= Instant::now() + Duration::from_secs(43_200));
        assert!(
            refresh_at(Some("2001-01-01T00:00:00Z"))
                .unwrap_err()
                .contains("expired")
        );
        // Keys that last four minutes are used for two, not refetched on every request.
        let short = time::OffsetDateTime::now_utc() + time::Duration::minutes(4);
        let short = short
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let until = refresh_at(Some(&short)).unwrap().unwrap();
        assert!(until > Instant::now() + Duration::from_secs(100));
        assert!(until < Instant::now() + Duration::from_secs(130));
    }
}
