use super::*;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, put};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn keys(id: &str) -> AwsKeys {
    AwsKeys {
        access_key_id: id.into(),
        secret_access_key: "secret".into(),
        session_token: None,
    }
}

#[test]
fn a_profile_is_read_from_the_shared_file() {
    let text = "# keys\n[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key=s1\n\n[ci]\n; the CI role\naws_access_key_id = AKIACI\naws_secret_access_key = s2\naws_session_token = tok\n";
    assert_eq!(
        profile_keys(text, "default")
            .unwrap()
            .unwrap()
            .access_key_id,
        "AKIADEFAULT"
    );
    let ci = profile_keys(text, "ci").unwrap().unwrap();
    assert_eq!(
        (ci.secret_access_key.as_str(), ci.session_token.as_deref()),
        ("s2", Some("tok"))
    );
    assert!(profile_keys(text, "prod").unwrap().is_none());
    assert!(
        profile_keys("[x]\naws_access_key_id = A\n", "x").is_err(),
        "a key without its secret"
    );
    assert!(
        !format!("{ci:?}").contains("s2"),
        "secrets stay out of logs"
    );
}

#[test]
fn temporary_keys_are_signed_with_their_session_token() {
    let mut temporary = keys("ASIATEMP");
    temporary.session_token = Some("session-token".into());
    let headers = sign_with(
        &temporary,
        "us-east-1",
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_765_000_000),
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke",
        &[("content-type", "application/json")],
        b"{}",
    )
    .unwrap();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let authorization = get("authorization").unwrap();
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=ASIATEMP/20251206/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="),
        "{authorization}"
    );
    assert_eq!(get("x-amz-date"), Some("20251206T054640Z"));
    assert_eq!(get("x-amz-security-token"), Some("session-token"));
}

#[tokio::test]
async fn the_first_source_with_keys_wins_and_none_is_an_error_naming_each() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials");
    let signer = AwsSigner::new(
        "us-east-1",
        vec![
            AwsSource::SharedFile {
                path: file.clone(),
                profile: "default".into(),
                required: false,
            },
            AwsSource::Instance {
                endpoint: "http://127.0.0.1:9".into(),
            },
        ],
    );
    let error = signer.keys().await.unwrap_err();
    assert!(
        error.contains("profile `default`") && error.contains("has none"),
        "{error}"
    );
    assert!(
        error.contains("instance metadata service at http://127.0.0.1:9"),
        "{error}"
    );
    std::fs::write(
        &file,
        "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = s\n",
    )
    .unwrap();
    // (The failure is the answer for a few seconds; `forget` is what a refused
    // request does.)
    signer.forget();
    assert_eq!(signer.keys().await.unwrap().access_key_id, "AKIAFILE");
    let fixed = AwsSigner::new(
        "us-east-1",
        vec![
            AwsSource::Fixed(keys("AKIAENV")),
            AwsSource::SharedFile {
                path: file.clone(),
                profile: "default".into(),
                required: false,
            },
        ],
    );
    assert_eq!(fixed.keys().await.unwrap().access_key_id, "AKIAENV");
}

#[tokio::test]
async fn a_source_that_is_there_but_fails_is_not_passed_over() {
    // Passed over, the next source would sign as another identity (the instance role).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials");
    let (imds, reads) = metadata_service("2099-01-01T00:00:00Z".into()).await;
    let chain = |profile: &str, named: bool| {
        AwsSigner::new(
            "us-east-1",
            vec![
                AwsSource::SharedFile {
                    path: file.clone(),
                    profile: profile.into(),
                    required: named,
                },
                AwsSource::Instance {
                    endpoint: imds.clone(),
                },
            ],
        )
    };
    // A profile named outright that the file does not have.
    std::fs::write(
        &file,
        "[other]\naws_access_key_id = A\naws_secret_access_key = s\n",
    )
    .unwrap();
    let error = chain("moat", true).keys().await.unwrap_err();
    assert!(error.contains("has no such profile"), "{error}");
    // A profile without its secret.
    std::fs::write(&file, "[default]\naws_access_key_id = A\n").unwrap();
    let error = chain("default", false).keys().await.unwrap_err();
    assert!(error.contains("lacks its key id or its secret"), "{error}");
    // A file that cannot be read (a directory where the file should be).
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    assert!(chain("moat", true).keys().await.is_err());
    // A profile named with no file at all (it is in ~/.aws/config, which Moat does not
    // read): refused, saying so.
    std::fs::remove_dir(&file).unwrap();
    let error = chain("moat", true).keys().await.unwrap_err();
    assert!(error.contains("not ~/.aws/config"), "{error}");
    assert_eq!(
        reads.load(Ordering::SeqCst),
        0,
        "the instance role was never asked"
    );
    // No file at all, and no profile named: the next source is asked.
    assert_eq!(
        chain("default", false).keys().await.unwrap().access_key_id,
        "ASIAROLE"
    );
}

/// A stand-in for the EC2 instance metadata service (IMDSv2 as AWS documents it): a
/// session token from `PUT /latest/api/token`, wanted on every read.
async fn metadata_service(expiration: String) -> (String, Arc<AtomicUsize>) {
    let reads = Arc::new(AtomicUsize::new(0));
    let wants_token = |headers: &HeaderMap| {
        headers
            .get("x-aws-ec2-metadata-token")
            .is_some_and(|t| t == "imds-token")
    };
    let counted = reads.clone();
    let app = Router::new()
        .route(
            "/latest/api/token",
            put(|headers: HeaderMap| async move {
                if headers.get("x-aws-ec2-metadata-token-ttl-seconds").is_none() {
                    return (StatusCode::BAD_REQUEST, String::new());
                }
                (StatusCode::OK, "imds-token".to_string())
            }),
        )
        .route(
            "/latest/meta-data/iam/security-credentials/",
            get(move |headers: HeaderMap| async move {
                if !wants_token(&headers) {
                    return (StatusCode::UNAUTHORIZED, String::new());
                }
                (StatusCode::OK, "moat-gateway-role\n".to_string())
            }),
        )
        .route(
            "/latest/meta-data/iam/security-credentials/moat-gateway-role",
            get(move |headers: HeaderMap| async move {
                if !wants_token(&headers) {
                    return (StatusCode::UNAUTHORIZED, String::new());
                }
                counted.fetch_add(1, Ordering::SeqCst);
                (StatusCode::OK, serde_json::json!({
                    "Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "ASIAROLE",
                    "SecretAccessKey": "role-secret", "Token": "role-token", "Expiration": expiration,
                }).to_string())
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, reads)
}

#[tokio::test]
async fn the_instance_role_is_read_through_imdsv2_and_kept_until_near_its_expiry() {
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(6);
    let (url, reads) = metadata_service(
        later
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
    )
    .await;
    let signer = AwsSigner::new("eu-west-1", vec![AwsSource::Instance { endpoint: url }]);
    let keys = signer.keys().await.unwrap();
    assert_eq!(keys.access_key_id, "ASIAROLE");
    assert_eq!(keys.session_token.as_deref(), Some("role-token"));
    signer.keys().await.unwrap();
    assert_eq!(reads.load(Ordering::SeqCst), 1, "kept while valid");
    // Keys that expire within the margin are used for half the time they have left,
    // not fetched again for every request; keys already expired are refused.
    let soon = time::OffsetDateTime::now_utc() + time::Duration::minutes(2);
    let (url, reads) = metadata_service(
        soon.format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
    )
    .await;
    let signer = AwsSigner::new("eu-west-1", vec![AwsSource::Instance { endpoint: url }]);
    signer.keys().await.unwrap();
    signer.keys().await.unwrap();
    assert_eq!(reads.load(Ordering::SeqCst), 1);
    let (url, _) = metadata_service("2001-01-01T00:00:00Z".into()).await;
    let signer = AwsSigner::new("eu-west-1", vec![AwsSource::Instance { endpoint: url }]);
    assert!(signer.keys().await.unwrap_err().contains("already expired"));
}

#[tokio::test]
async fn a_setup_moat_cannot_sign_for_is_refused_not_passed_over() {
    let (imds, reads) = metadata_service("2099-01-01T00:00:00Z".into()).await;
    let signer = AwsSigner::new(
        "us-east-1",
        vec![
            AwsSource::Refuse("AWS_WEB_IDENTITY_TOKEN_FILE is set".into()),
            AwsSource::Instance { endpoint: imds },
        ],
    );
    let error = signer.keys().await.unwrap_err();
    assert!(error.contains("AWS_WEB_IDENTITY_TOKEN_FILE"), "{error}");
    assert_eq!(
        reads.load(Ordering::SeqCst),
        0,
        "the node's role was never asked"
    );
}

/// The sources `sources` finds in the variables `vars`, as short names.
fn found(vars: &[(&str, &str)]) -> Vec<String> {
    let vars: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    sources("eu-west-1", None, |name| vars.get(name).cloned())
        .into_iter()
        .map(|source| match source {
            AwsSource::Fixed(keys) => format!("keys {}", keys.access_key_id),
            AwsSource::SharedFile { profile, .. } => format!("file {profile}"),
            AwsSource::WebIdentity(role) => format!(
                "web identity {} as {} at {}",
                role.role_arn, role.session_name, role.sts
            ),
            AwsSource::Container { url, token } => format!("container {url} {token:?}"),
            AwsSource::Instance { endpoint } => format!("instance {endpoint}"),
            AwsSource::Refuse(why) => format!("refuse: {why}"),
        })
        .collect()
}

#[test]
fn roles_are_tried_in_the_order_awss_tools_try_them() {
    let everything = found(&[
        ("AWS_ACCESS_KEY_ID", "AKIAENV"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
        ("HOME", "/home/moat"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/eks/token"),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/moat"),
        (
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "/v2/credentials/abc",
        ),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok"),
    ]);
    assert_eq!(
        everything,
        [
            "keys AKIAENV",
            "web identity arn:aws:iam::123456789012:role/moat as moat-gateway at https://sts.eu-west-1.amazonaws.com",
            "file default",
            "container http://169.254.170.2/v2/credentials/abc Some(Value(..))",
            "instance http://169.254.169.254",
        ]
    );
    // EKS Pod Identity: a full address and a token file; STS somewhere else; no IMDS.
    assert_eq!(
        found(&[
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://169.254.170.23/v1/credentials"
            ),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"
            ),
            ("AWS_EC2_METADATA_DISABLED", "TRUE"),
        ]),
        [
            "container http://169.254.170.23/v1/credentials Some(File(\"/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token\"))"
        ]
    );
    assert_eq!(
        found(&[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/moat"),
            ("AWS_ROLE_SESSION_NAME", "gw-1"),
            ("AWS_ENDPOINT_URL_STS", "https://sts.internal.example"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]),
        [
            "web identity arn:aws:iam::123456789012:role/moat as gw-1 at https://sts.internal.example"
        ]
    );
}

#[test]
fn a_role_setup_that_cannot_be_used_safely_is_refused_by_name() {
    let only = |vars: &[(&str, &str)]| {
        let mut vars = vars.to_vec();
        vars.push(("AWS_EC2_METADATA_DISABLED", "true"));
        found(&vars)
    };
    let refused = only(&[("AWS_WEB_IDENTITY_TOKEN_FILE", "/t")]);
    assert_eq!(
        refused,
        ["refuse: AWS_WEB_IDENTITY_TOKEN_FILE is set without AWS_ROLE_ARN, the role to assume"]
    );
    // The token would go in cleartext to another machine.
    let refused = only(&[
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/moat"),
        ("AWS_ENDPOINT_URL", "http://sts.example"),
    ]);
    assert!(
        refused[0].contains("neither https nor on this machine"),
        "{refused:?}"
    );
    // Keys from a cleartext endpoint that is neither ECS's nor EKS's nor this machine,
    // including one that only looks like them.
    for url in [
        "http://10.0.0.5/creds",
        "http://169.254.170.2.evil.example/creds",
        "http://169.254.170.2@evil.example/creds",
        "file:///etc/creds",
    ] {
        let refused = only(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)]);
        assert!(
            refused[0].starts_with("refuse: the container credentials endpoint"),
            "{url}: {refused:?}"
        );
    }
    for url in [
        "https://creds.example/v1",
        "http://127.0.0.1:51679/creds",
        "http://[fd00:ec2::23]/v1/credentials",
    ] {
        let used = only(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)]);
        assert!(used[0].starts_with("container "), "{url}: {used:?}");
    }
    // Blank variables count as unset.
    assert!(only(&[("AWS_WEB_IDENTITY_TOKEN_FILE", "  ")]).is_empty());
}

#[tokio::test]
async fn a_role_that_fails_is_not_passed_over_for_the_instances() {
    let (imds, reads) = metadata_service("2099-01-01T00:00:00Z".into()).await;
    let dir = tempfile::tempdir().unwrap();
    let failing = [
        AwsSource::WebIdentity(WebIdentity {
            token_file: dir.path().join("missing-token"),
            role_arn: "arn:aws:iam::123456789012:role/moat".into(),
            session_name: "moat-gateway".into(),
            sts: "http://127.0.0.1:9".into(),
        }),
        AwsSource::Container {
            url: "http://127.0.0.1:9/creds".into(),
            token: None,
        },
        AwsSource::Container {
            url: format!("{imds}/latest/api/token"),
            token: Some(ContainerToken::Value("two\nlines".into())),
        },
    ];
    for source in failing {
        let signer = AwsSigner::new(
            "us-east-1",
            vec![
                source,
                AwsSource::Instance {
                    endpoint: imds.clone(),
                },
            ],
        );
        let error = signer.keys().await.unwrap_err();
        assert!(
            error.contains("cannot be read")
                || error.contains("cannot be reached")
                || error.contains("spans lines"),
            "{error}"
        );
    }
    assert_eq!(
        reads.load(Ordering::SeqCst),
        0,
        "the instance role was never asked"
    );
}

#[test]
fn a_named_profile_comes_before_a_web_identity_and_partitions_and_ignored_endpoints_are_honoured() {
    let vars = [
        ("AWS_PROFILE", "moat"),
        ("HOME", "/home/moat"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
        ("AWS_ROLE_ARN", "arn:aws-cn:iam::123456789012:role/moat"),
        ("AWS_ENDPOINT_URL", "https://sts.internal.example"),
        ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let map: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let found: Vec<String> = sources("cn-north-1", None, |name| map.get(name).cloned())
        .into_iter()
        .map(|source| match source {
            AwsSource::SharedFile {
                profile, required, ..
            } => format!("file {profile} {required}"),
            AwsSource::WebIdentity(role) => format!("web identity at {}", role.sts),
            _ => "other".into(),
        })
        .collect();
    assert_eq!(
        found,
        [
            "file moat true",
            "web identity at https://sts.cn-north-1.amazonaws.com.cn"
        ]
    );
}

#[tokio::test]
async fn a_source_that_gave_keys_is_the_only_one_asked_and_a_failure_is_held_briefly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials");
    std::fs::write(
        &file,
        "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = s\n",
    )
    .unwrap();
    let (imds, reads) = metadata_service("2099-01-01T00:00:00Z".into()).await;
    let signer = AwsSigner::new(
        "us-east-1",
        vec![
            AwsSource::SharedFile {
                path: file.clone(),
                profile: "default".into(),
                required: false,
            },
            AwsSource::Instance { endpoint: imds },
        ],
    );
    assert_eq!(signer.keys().await.unwrap().access_key_id, "AKIAFILE");
    // The file is rewritten (truncated, not yet written) when the keys are next read:
    // the instance role must not take over.
    std::fs::write(&file, "").unwrap();
    signer.forget();
    let error = signer.keys().await.unwrap_err();
    assert!(error.contains("has no such profile"), "{error}");
    assert_eq!(
        reads.load(Ordering::SeqCst),
        0,
        "the instance role was never asked"
    );
    // The failure is the answer for a moment, even once the file is back...
    std::fs::write(
        &file,
        "[default]\naws_access_key_id = AKIAFILE2\naws_secret_access_key = s\n",
    )
    .unwrap();
    assert!(signer.keys().await.is_err());
    // ...and not after the vendor refused keys (forget) or the moment passed.
    signer.forget();
    assert_eq!(signer.keys().await.unwrap().access_key_id, "AKIAFILE2");
}
