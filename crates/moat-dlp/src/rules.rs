//! The built-in rules. Each names the keywords that must appear for it to run (the
//! aho-corasick pre-filter), a pattern whose first capture group (or whole match) is the
//! sensitive value, and a check that confirms it. Patterns are for the `regex` crate, so
//! matching stays linear in the input whatever the text.

use crate::{Check, Kind, Severity};

pub struct RuleSpec {
    pub id: &'static str,
    pub kind: Kind,
    pub severity: Severity,
    /// Lowercase; the rule runs only on text containing one of them (empty: always).
    pub keywords: &'static [&'static str],
    pub pattern: &'static str,
    pub check: Check,
}

use Check::*;
use Kind::*;
use Severity::*;

/// How a value is assigned to a name, in the forms code, configuration and shell use.
/// Built once here, for every rule that keys on a name: what closes the name (`"key":`,
/// `ENV["KEY"] =`, `\"key\":` inside a JSON string), a type (Go `var k string =`,
/// Kotlin `val k: String =`), then the operator: `=`, `:`, `:=`, `::=`, `:::=`, `?=`,
/// `+=`, `.=` (PHP), `=>`, or `,` after a quoted name, as a setter call's arguments
/// (`System.setProperty("K", "…")`, `os.Setenv`; not `f(secret, other)`); or an XML attribute pair
/// (`key="K" value="…"`), an HCL variable's default, an XML element whose value may sit
/// on the next line. It may end with the backslash of an escaped quote.
macro_rules! assign {
    () => {
        concat!(
            r#"(?:[\x22'`\])\\]{0,3}(?:(?:[ \t]*:[ \t]*|[ \t]+)&?(?:'static[ \t]+)?(?:string|str)\??)?[ \t]*(?::{1,3}=|[?+.]=|=>|[:=])[ \t]*"#,
            r#"|[\x22'][ \t]*,[ \t]*"#,
            r#"|[\x22'][ \t]+value[ \t]*=[ \t]*"#,
            r#"|[\x22'][ \t]*\{[^}]{0,80}?default[ \t]*=[ \t]*"#,
            r#"|>[ \t\r\n]*)"#,
        )
    };
}

/// A name and how a value is given to it: `$name` (case-insensitive, words joined by `_`,
/// `-`, `.` or a space), up to 20 more name characters, then an [`assign!`] form or, in
/// prose and Dockerfile `ENV K v`, up to three words and an optional `is`, then an
/// optional quote. Shared by [`named!`] and [`shaped_or_named!`].
macro_rules! name_then {
    ($name:literal) => {
        concat!(
            $name,
            r"[\w.-]{0,20}(?:",
            assign!(),
            r"|(?:[ \t]+[A-Za-z]{2,12}){0,3}[ \t]+(?:(?:is|was|of|=|:)[ \t]+)?)\\?[\x22'`]?"
        )
    };
}

/// A rule that keys on a name ([`name_then!`]), its value `$value` followed by `$end`;
/// the value is case-insensitive like the name.
macro_rules! named {
    ($id:literal, $kind:expr, $severity:expr, [$($kw:literal),*], $name:literal, $value:literal, $end:literal, $check:expr) => {
        RuleSpec {
            id: $id,
            kind: $kind,
            severity: $severity,
            keywords: &[$($kw),*],
            pattern: concat!("(?i)", name_then!($name), "(", $value, ")", $end),
            check: $check,
        }
    };
}

/// A rule with a shape of its own (`$pattern`, its value the first group) that a name
/// also finds ([`name_then!`], the value case-sensitive) when the shape alone is too weak.
macro_rules! shaped_or_named {
    ($id:literal, $kind:expr, $severity:expr, [$($kw:literal),*], $pattern:literal, $name:literal, $value:literal, $end:literal, $check:expr) => {
        RuleSpec {
            id: $id,
            kind: $kind,
            severity: $severity,
            keywords: &[$($kw),*],
            pattern: concat!("(?:", $pattern, ")|(?i:", name_then!($name), ")(", $value, ")", $end),
            check: $check,
        }
    };
}

macro_rules! rule {
    ($id:literal, $kind:expr, $severity:expr, [$($kw:literal),*], $pattern:expr, $check:expr) => {
        RuleSpec { id: $id, kind: $kind, severity: $severity, keywords: &[$($kw),*], pattern: $pattern, check: $check }
    };
}

/// Characters that end a token in code and config.
const _TOKEN_END: &str = r#"['"\s,;)}\]<>]"#;

#[rustfmt::skip]
pub const RULES: &[RuleSpec] = &[
    // Cloud: AWS
    rule!("aws-access-key-id", Secret, High, ["akia", "asia", "abia", "acca"], r"(?:^|[^A-Za-z0-9])((?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    named!("aws-secret-access-key", Secret, Critical, ["aws"], r"aws[ _.-]?(?:secret[ _.-]?access[ _.-]?key|secret[ _.-]?key|sk)", r"[A-Za-z0-9/+]{40}", r"(?:[^A-Za-z0-9/+=]|$)", Entropy(3.5)),
    named!("aws-session-token", Secret, High, ["aws_session_token", "aws-session-token", "awssessiontoken"], r"aws[ _.-]?session[ _.-]?token", r"[A-Za-z0-9/+=]{100,}", r"", NotPlaceholder),
    rule!("aws-mws-key", Secret, High, ["amzn.mws"], r"(?:^|[^A-Za-z0-9])(amzn\.mws\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    // Cloud: Google
    rule!("gcp-api-key", Secret, High, ["aiza"], r"(?:^|[^A-Za-z0-9])(AIza[0-9A-Za-z_\-]{35})(?:[^0-9A-Za-z_\-]|$)", NotPlaceholder),
    rule!("gcp-oauth-client-secret", Secret, High, ["gocspx-"], r"(?:^|[^A-Za-z0-9])(GOCSPX-[0-9A-Za-z_\-]{28})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("gcp-oauth-access-token", Secret, High, ["ya29."], r"(?:^|[^A-Za-z0-9])(ya29\.[0-9A-Za-z_\-]{30,})", NotPlaceholder),
    rule!("gcp-service-account-key", Secret, Critical, ["private_key_id"], r#""private_key_id"\s*:\s*"([0-9a-f]{40})""#, NotPlaceholder),
    // Cloud: Azure
    rule!("azure-storage-account-key", Secret, Critical, ["accountkey="], r"(?i)AccountKey=([A-Za-z0-9+/]{86}==)", NotPlaceholder),
    rule!("azure-sas-token", Secret, High, ["sig="], r"[?&]sv=\d{4}-\d{2}-\d{2}[^\s'\x22]*?&sig=([A-Za-z0-9%+/]{40,}(?:%3D|=)*)", NotPlaceholder),
    rule!("azure-ad-client-secret", Secret, High, ["q~"], r"(?:^|[^A-Za-z0-9_~.-])([A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34})(?:[^A-Za-z0-9_~.-]|$)", NotPlaceholder),
    named!("azure-devops-pat", Secret, High, ["azure_devops", "ado_pat", "azdo"], r"(?:azure_devops|ado|azdo)[ _.-]?(?:pat|token)", r"[a-z2-7]{52}", r"(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    named!("azure-openai-key", Secret, High, ["azure_openai", "azure-openai", "azureopenai"], r"azure[ _.-]?openai[ _.-]?(?:api[ _.-]?)?key", r"[a-f0-9]{32}", r"(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    // Other clouds and platforms
    rule!("alibaba-access-key-id", Secret, High, ["ltai"], r"(?:^|[^A-Za-z0-9])(LTAI[A-Za-z0-9]{20})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("digitalocean-token", Secret, High, ["dop_v1_", "doo_v1_", "dor_v1_"], r"(?:^|[^A-Za-z0-9])(do[por]_v1_[a-f0-9]{64})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    named!("heroku-api-key", Secret, High, ["heroku"], r"heroku[\w .-]{0,24}?(?:key|token|secret|password|auth)", r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", r"(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("heroku-platform-token", Secret, High, ["hrku-"], r"(?:^|[^A-Za-z0-9])(HRKU-AA[0-9A-Za-z_-]{58})(?:[^A-Za-z0-9_-]|$)", NotPlaceholder),
    named!("cloudflare-api-token", Secret, High, ["cloudflare", "cf_api"], r"(?:cloudflare|cf)[ _.-]?api[ _.-]?(?:token|key)", r"[A-Za-z0-9_-]{40}", r"(?:[^A-Za-z0-9_-]|$)", Entropy(3.5)),
    rule!("databricks-token", Secret, High, ["dapi"], r"(?:^|[^A-Za-z0-9])(dapi[a-f0-9]{32}(?:-\d)?)(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    shaped_or_named!("hashicorp-vault-token", Secret, Critical, ["hvs.", "hvb.", "vault"], r"(?:^|[^A-Za-z0-9])(hv[sb]\.[A-Za-z0-9_-]{24,})", r"vault[\w .-]{0,24}?token", r"s\.[A-Za-z0-9]{24}", r"(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("terraform-cloud-token", Secret, High, ["atlasv1"], r"(?:^|[^A-Za-z0-9])([A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70})", NotPlaceholder),
    rule!("pulumi-token", Secret, High, ["pul-"], r"(?:^|[^A-Za-z0-9])(pul-[a-f0-9]{40})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("doppler-token", Secret, High, ["dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit."], r"(?:^|[^A-Za-z0-9])(dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("fly-io-token", Secret, High, ["fm1r_", "fm2_"], r"(?:^|[^A-Za-z0-9])(fm[12][ar]?_[A-Za-z0-9+/=_-]{100,})", NotPlaceholder),
    rule!("netlify-token", Secret, High, ["nfp_"], r"(?:^|[^A-Za-z0-9])(nfp_[A-Za-z0-9]{36})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    named!("vercel-token", Secret, High, ["vercel"], r"vercel[ _.-]?(?:api[ _.-]?)?token", r"[A-Za-z0-9]{24}", r"(?:[^A-Za-z0-9]|$)", Entropy(3.5)),
    rule!("supabase-service-key", Secret, High, ["sbp_"], r"(?:^|[^A-Za-z0-9])(sbp_[a-f0-9]{40})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("planetscale-token", Secret, High, ["pscale_"], r"(?:^|[^A-Za-z0-9])(pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{32,64})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    // Code hosts
    rule!("github-pat", Secret, Critical, ["ghp_"], r"(?:^|[^A-Za-z0-9])(ghp_[A-Za-z0-9]{36})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("github-oauth-token", Secret, Critical, ["gho_"], r"(?:^|[^A-Za-z0-9])(gho_[A-Za-z0-9]{36})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("github-user-to-server-token", Secret, Critical, ["ghu_"], r"(?:^|[^A-Za-z0-9])(ghu_[A-Za-z0-9]{36})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("github-server-to-server-token", Secret, Critical, ["ghs_"], r"(?:^|[^A-Za-z0-9])(ghs_[A-Za-z0-9]{36})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("github-refresh-token", Secret, Critical, ["ghr_"], r"(?:^|[^A-Za-z0-9])(ghr_[A-Za-z0-9]{36,76})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("github-fine-grained-pat", Secret, Critical, ["github_pat_"], r"(?:^|[^A-Za-z0-9])(github_pat_[A-Za-z0-9_]{82})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("gitlab-pat", Secret, Critical, ["glpat-"], r"(?:^|[^A-Za-z0-9])(glpat-[A-Za-z0-9_-]{20,})(?:[^A-Za-z0-9_-]|$)", NotPlaceholder),
    rule!("gitlab-pipeline-trigger-token", Secret, High, ["glptt-"], r"(?:^|[^A-Za-z0-9])(glptt-[a-f0-9]{40})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("gitlab-runner-token", Secret, High, ["glrt-", "gr1348941"], r"(?:^|[^A-Za-z0-9])((?:glrt-|GR1348941)[A-Za-z0-9_-]{20,})(?:[^A-Za-z0-9_-]|$)", NotPlaceholder),
    rule!("gitlab-deploy-token", Secret, High, ["gldt-"], r"(?:^|[^A-Za-z0-9])(gldt-[A-Za-z0-9_-]{20,})(?:[^A-Za-z0-9_-]|$)", NotPlaceholder),
    rule!("gitlab-feed-token", Secret, Medium, ["glft-"], r"(?:^|[^A-Za-z0-9])(glft-[A-Za-z0-9_-]{20,})(?:[^A-Za-z0-9_-]|$)", NotPlaceholder),
    rule!("gitlab-other-token", Secret, High, ["glcbt-", "glffct-", "glimt-", "glagent-", "gloas-", "glsoat-"], r"(?:^|[^A-Za-z0-9])((?:glcbt|glffct|glimt|glagent|gloas|glsoat)-[A-Za-z0-9_-]{20,64})(?:[^A-Za-z0-9_-]|$)", NotPlaceholder),
    rule!("bitbucket-app-password", Secret, High, ["atbb"], r"(?:^|[^A-Za-z0-9])(ATBB[A-Za-z0-9_=.-]{32,})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("bitbucket-access-token", Secret, High, ["atctt3"], r"(?:^|[^A-Za-z0-9])(ATCTT3xFfGN0[A-Za-z0-9_=-]{150,})", NotPlaceholder),
    rule!("bitbucket-server-token", Secret, High, ["bbdc-"], r"(?:^|[^A-Za-z0-9])(BBDC-[A-Za-z0-9+/_-]{44})(?:[^A-Za-z0-9+/_-]|$)", NotPlaceholder),
    named!("atlassian-legacy-api-token", Secret, High, ["atlassian", "jira", "confluence"], r"(?:atlassian|jira|confluence)[\w .-]{0,24}?(?:token|key|secret|password)", r"[A-Za-z0-9]{24}", r"(?:[^A-Za-z0-9]|$)", Entropy(3.5)),
    rule!("atlassian-api-token", Secret, High, ["atatt3"], r"(?:^|[^A-Za-z0-9])(ATATT3[A-Za-z0-9_=-]{180,})", NotPlaceholder),
    // Package registries and CI
    rule!("npm-token", Secret, High, ["npm_"], r"(?:^|[^A-Za-z0-9])(npm_[A-Za-z0-9]{36})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("pypi-token", Secret, High, ["pypi-ageichlwas5vcmc"], r"(?:^|[^A-Za-z0-9])(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})", NotPlaceholder),
    rule!("rubygems-api-key", Secret, High, ["rubygems_"], r"(?:^|[^A-Za-z0-9])(rubygems_[a-f0-9]{48})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("nuget-api-key", Secret, High, ["oy2"], r"(?:^|[^A-Za-z0-9])(oy2[a-z0-9]{43})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("dockerhub-pat", Secret, High, ["dckr_pat_"], r"(?:^|[^A-Za-z0-9])(dckr_pat_[A-Za-z0-9_-]{27})(?:[^A-Za-z0-9_-]|$)", NotPlaceholder),
    rule!("crates-io-token", Secret, High, ["cio"], r"(?:^|[^A-Za-z0-9])(cio[A-Za-z0-9]{32})(?:[^A-Za-z0-9]|$)", Entropy(3.8)),
    shaped_or_named!("circleci-token", Secret, High, ["circle", "ccipat_", "cciprj_"], r"(?:^|[^A-Za-z0-9])(CCI(?:PAT|PRJ)_[A-Za-z0-9]{22}_[a-f0-9]{40})(?:[^A-Za-z0-9]|$)", r"circle(?:ci)?[ _.-]?token", r"[a-fA-F0-9]{40}", r"(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("buildkite-token", Secret, High, ["bkua_"], r"(?:^|[^A-Za-z0-9])(bkua_[a-f0-9]{40})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("sonarqube-token", Secret, Medium, ["sqp_", "squ_", "sqa_"], r"(?:^|[^A-Za-z0-9])(sq[pua]_[a-f0-9]{40})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("jfrog-token", Secret, High, ["akcp", "cmvmdgtu"], r"(?:^|[^A-Za-z0-9])((?:AKCp[A-Za-z0-9]{69})|(?:cmVmdGtu[A-Za-z0-9]{56}))(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    // Chat and collaboration
    rule!("slack-bot-token", Secret, High, ["xoxb-"], r"(?:^|[^A-Za-z0-9])(xoxb-[0-9]{10,13}-[0-9]{10,13}-[A-Za-z0-9]{24,})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("slack-user-token", Secret, High, ["xoxp-"], r"(?:^|[^A-Za-z0-9])(xoxp-[0-9]{10,13}-[0-9]{10,13}-[0-9]{10,13}-[a-f0-9]{32})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("slack-app-token", Secret, High, ["xapp-"], r"(?:^|[^A-Za-z0-9])(xapp-\d-[A-Z0-9]{9,11}-\d{10,13}-[a-f0-9]{64})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("slack-legacy-token", Secret, High, ["xoxa-", "xoxr-", "xoxs-", "xoxo-"], r"(?:^|[^A-Za-z0-9])(xox[aors]-[0-9A-Za-z-]{20,})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("slack-config-token", Secret, High, ["xoxe"], r"(?:^|[^A-Za-z0-9])(xoxe(?:\.xox[bp])?-\d-[A-Za-z0-9]{140,})", NotPlaceholder),
    rule!("slack-webhook-url", Secret, High, ["hooks.slack.com"], r"(https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{20,})", NotPlaceholder),
    shaped_or_named!("discord-bot-token", Secret, High, [], r"(?:^|[^A-Za-z0-9_-])([MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38})(?:[^A-Za-z0-9_-]|$)", r"discord[\w .-]{0,24}?", r"[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}", r"(?:[^A-Za-z0-9_-]|$)", DiscordBot),
    named!("discord-client-secret", Secret, High, ["discord"], r"discord[\w .-]{0,24}?secret", r"[A-Za-z0-9_-]{32}", r"(?:[^A-Za-z0-9_-]|$)", Entropy(3.5)),
    named!("discord-client-id", Secret, Low, ["discord"], r"discord[\w .-]{0,24}?client[ _.-]?id", r"\d{17,20}", r"(?:[^0-9]|$)", NotPlaceholder),
    rule!("discord-webhook-url", Secret, High, ["discord.com/api/webhooks", "discordapp.com/api/webhooks"], r"(https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d{17,20}/[A-Za-z0-9_-]{60,68})", NotPlaceholder),
    shaped_or_named!("telegram-bot-token", Secret, High, [":aa", "telegram", "bot_token", "bot-token", "bottoken", "bot token", "bot.token", "tg_bot", "tg-bot", "tgbot"], r"(?:^|[^A-Za-z0-9])(\d{8,10}:AA[0-9A-Za-z_-]{33})(?:[^A-Za-z0-9_-]|$)", r"(?:telegram[\w .-]{0,24}?|tg[ _.-]?bot[\w .-]{0,24}?|bot[ _.-]?token)", r"\d{5,16}:[A-Za-z0-9_-]{35}", r"(?:[^A-Za-z0-9_-]|$)", NotPlaceholder),
    rule!("microsoft-teams-webhook", Secret, High, ["webhook.office.com"], r"(https://[a-z0-9-]+\.webhook\.office\.com/webhookb2/[A-Za-z0-9@/-]{60,}/IncomingWebhook/[a-f0-9]{32}/[a-f0-9-]{36})", NotPlaceholder),
    rule!("linear-api-key", Secret, High, ["lin_api_"], r"(?:^|[^A-Za-z0-9])(lin_api_[A-Za-z0-9]{40})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("notion-token", Secret, High, ["secret_", "ntn_"], r"(?:^|[^A-Za-z0-9])((?:secret_[A-Za-z0-9]{43})|(?:ntn_[0-9]{11}[A-Za-z0-9]{35}))(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("airtable-pat", Secret, High, ["pat"], r"(?:^|[^A-Za-z0-9])(pat[A-Za-z0-9]{14}\.[a-f0-9]{64})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    named!("asana-pat", Secret, High, ["asana"], r"asana[\w .-]{0,24}?", r"[0-9]/[0-9]{10,20}(?:/[0-9]{10,20})?:[a-f0-9]{32}", r"", NotPlaceholder),
    rule!("dropbox-token", Secret, High, ["sl."], r"(?:^|[^A-Za-z0-9])(sl\.(?:u\.)?[A-Za-z0-9_-]{130,1400})", NotPlaceholder),
    rule!("dropbox-long-lived-token", Secret, High, ["aaaaaaaaaa"], r"(?:^|[^A-Za-z0-9])([a-z0-9]{11}AAAAAAAAAA[a-z0-9_=-]{43})(?:[^A-Za-z0-9_=-]|$)", NotPlaceholder),
    named!("dropbox-app-secret", Secret, High, ["dropbox"], r"dropbox[\w .-]{0,24}?(?:secret|key)", r"[a-z0-9]{15}", r"(?:[^A-Za-z0-9]|$)", Entropy(3.0)),
    named!("zendesk-api-token", Secret, High, ["zendesk"], r"zendesk[\w .-]{0,24}?token", r"[A-Za-z0-9]{40}", r"(?:[^A-Za-z0-9]|$)", Entropy(3.5)),
    rule!("postman-api-key", Secret, High, ["pmak-"], r"(?:^|[^A-Za-z0-9])(PMAK-[a-f0-9]{24}-[a-f0-9]{34})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("figma-pat", Secret, High, ["figd_"], r"(?:^|[^A-Za-z0-9])(figd_[A-Za-z0-9_-]{40})(?:[^A-Za-z0-9_-]|$)", NotPlaceholder),
    // Payments and commerce
    rule!("stripe-secret-key", Secret, Critical, ["sk_live_", "sk_test_"], r"(?:^|[^A-Za-z0-9])(sk_(?:live|test)_[0-9A-Za-z]{24,99})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("stripe-restricted-key", Secret, High, ["rk_live_", "rk_test_"], r"(?:^|[^A-Za-z0-9])(rk_(?:live|test)_[0-9A-Za-z]{24,99})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("stripe-webhook-secret", Secret, High, ["whsec_"], r"(?:^|[^A-Za-z0-9])(whsec_[A-Za-z0-9]{32,})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("square-access-token", Secret, High, ["eaaa", "sq0atp-"], r"(?:^|[^A-Za-z0-9])((?:EAAA[A-Za-z0-9_-]{60})|(?:sq0atp-[0-9A-Za-z_-]{22}))(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("square-oauth-secret", Secret, High, ["sq0csp-", "sq0csb-"], r"(?:^|[^A-Za-z0-9])((?:sq0csp-|sandbox-sq0csb-)[0-9A-Za-z_-]{43})(?:[^A-Za-z0-9_-]|$)", NotPlaceholder),
    rule!("paypal-braintree-token", Secret, Critical, ["access_token$production$"], r"(access_token\$production\$[0-9a-z]{16}\$[0-9a-f]{32})", NotPlaceholder),
    rule!("shopify-token", Secret, High, ["shpat_", "shpca_", "shppa_", "shpss_"], r"(?:^|[^A-Za-z0-9])(shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("plaid-access-token", Secret, High, [ "access-sandbox-", "access-development-", "access-production-" ], r"(?:^|[^A-Za-z0-9])(access-(?:sandbox|development|production)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("flutterwave-secret-key", Secret, High, ["flwseck"], r"(?:^|[^A-Za-z0-9])(FLWSECK(?:_TEST)?-[a-h0-9]{32}-X)(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("adyen-api-key", Secret, High, ["aqe"], r"(?:^|[^A-Za-z0-9])(AQE[a-z]{2}[A-Za-z0-9+/=_-]{70,200})", Entropy(4.0)),
    named!("coinbase-api-secret", Secret, High, ["coinbase"], r"coinbase[\w .-]{0,24}?secret", r"[A-Za-z0-9+/]{32,88}={0,2}", r"", Entropy(3.5)),
    // Messaging and email
    rule!("twilio-account-sid", Secret, Medium, ["ac"], r"(?:^|[^A-Za-z0-9])(AC[a-f0-9]{32})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("twilio-api-key", Secret, High, ["sk"], r"(?:^|[^A-Za-z0-9])(SK[a-f0-9]{32})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    named!("twilio-auth-token", Secret, Critical, ["twilio"], r"twilio[\w .-]{0,24}?(?:auth[ _.-]?)?token", r"[a-f0-9]{32}", r"(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("sendgrid-api-key", Secret, High, ["sg."], r"(?:^|[^A-Za-z0-9])(SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})(?:[^A-Za-z0-9_-]|$)", NotPlaceholder),
    shaped_or_named!("mailgun-api-key", Secret, High, ["key-", "mailgun"], r"(?:^|[^A-Za-z0-9])(key-[a-f0-9]{32})(?:[^A-Za-z0-9]|$)", r"mailgun[\w .-]{0,24}?", r"[a-f0-9]{32}-[a-f0-9]{8}-[a-f0-9]{8}", r"(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("mailchimp-api-key", Secret, High, ["-us"], r"(?:^|[^A-Za-z0-9])([a-f0-9]{32}-us[0-9]{1,2})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    named!("postmark-server-token", Secret, High, ["postmark"], r"postmark[\w .-]{0,24}?token", r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", r"", NotPlaceholder),
    named!("mailjet-secret", Secret, High, ["mailjet", "mj_apikey_private"], r"(?:mailjet[\w .-]{0,24}?secret|mj_apikey_private)", r"[a-f0-9]{32}", r"(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    // AI vendors
    rule!("openai-api-key", Secret, Critical, ["sk-", "t3blbkfj"], r"(?:^|[^A-Za-z0-9])(sk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,})(?:[^A-Za-z0-9_-]|$)", NotPlaceholder),
    rule!("openai-project-key", Secret, Critical, ["sk-proj-", "sk-svcacct-"], r"(?:^|[^A-Za-z0-9])(sk-(?:proj|svcacct)-[A-Za-z0-9_-]{80,200})(?:[^A-Za-z0-9_-]|$)", NotPlaceholder),
    rule!("anthropic-api-key", Secret, Critical, ["sk-ant-"], r"(?:^|[^A-Za-z0-9])(sk-ant-(?:api|admin|sid)\d{2}-[A-Za-z0-9_-]{80,120})", NotPlaceholder),
    rule!("huggingface-token", Secret, High, ["hf_"], r"(?:^|[^A-Za-z0-9])(hf_[A-Za-z]{34})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("groq-api-key", Secret, High, ["gsk_"], r"(?:^|[^A-Za-z0-9])(gsk_[A-Za-z0-9]{52})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("replicate-api-token", Secret, High, ["r8_"], r"(?:^|[^A-Za-z0-9])(r8_[A-Za-z0-9]{37})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("perplexity-api-key", Secret, High, ["pplx-"], r"(?:^|[^A-Za-z0-9])(pplx-[A-Za-z0-9]{48})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    named!("cohere-api-key", Secret, High, ["cohere", "co_api_key"], r"(?:cohere|co)[ _.-]?api[ _.-]?key", r"[A-Za-z0-9]{40}", r"(?:[^A-Za-z0-9]|$)", Entropy(3.5)),
    named!("mistral-api-key", Secret, High, ["mistral"], r"mistral[ _.-]?api[ _.-]?key", r"[A-Za-z0-9]{32}", r"(?:[^A-Za-z0-9]|$)", Entropy(3.5)),
    rule!("langsmith-api-key", Secret, High, ["lsv2_"], r"(?:^|[^A-Za-z0-9])(lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    // Observability
    named!("datadog-api-key", Secret, High, ["datadog", "dd"], r"(?:datadog|dd)[ _.-]?api[ _.-]?key", r"[a-f0-9]{32}", r"(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    named!("datadog-app-key", Secret, High, ["datadog", "dd"], r"(?:datadog|dd)[ _.-]?app(?:lication)?[ _.-]?key", r"[a-f0-9]{40}", r"(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("new-relic-key", Secret, High, ["nrak-", "nrii-", "nrjs-"], r"(?:^|[^A-Za-z0-9])(NR(?:AK|II|JS)-[A-Za-z0-9]{19,32})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("new-relic-license-key", Secret, High, ["ffffnral", "nrra-", "nriq-"], r"(?:^|[^A-Za-z0-9])((?:[a-f0-9]{32}|eu01xx[a-f0-9]{26})FFFFNRAL|NRRA-[a-f0-9]{42}|NRIQ-[A-Za-z0-9_-]{32})(?:[^A-Za-z0-9_-]|$)", NotPlaceholder),
    rule!("dynatrace-token", Secret, High, ["dt0c01."], r"(?:^|[^A-Za-z0-9])(dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("posthog-personal-key", Secret, High, ["phx_"], r"(?:^|[^A-Za-z0-9])(phx_[A-Za-z0-9]{43,48})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    named!("sumologic-access-id", Secret, Medium, ["sumo"], r"sumo[\w .-]{0,24}?(?:access[ _.-]?)?id", r"su[A-Za-z0-9]{12}", r"(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    named!("sumologic-access-key", Secret, High, ["sumo"], r"sumo[\w .-]{0,24}?(?:access[ _.-]?)?key", r"[A-Za-z0-9]{64}", r"(?:[^A-Za-z0-9]|$)", Entropy(3.5)),
    rule!("sentry-dsn", Secret, Medium, ["sentry.io", "ingest."], r"(https://[a-f0-9]{32}@(?:o\d+\.)?ingest\.(?:[a-z]+\.)?sentry\.io/\d+)", NotPlaceholder),
    rule!("sentry-auth-token", Secret, High, ["sntrys_", "sntryu_"], r"(?:^|[^A-Za-z0-9])(sntry[su]_[A-Za-z0-9+/=_]{40,})", NotPlaceholder),
    rule!("grafana-token", Secret, High, ["glc_", "glsa_"], r"(?:^|[^A-Za-z0-9])((?:glc_[A-Za-z0-9+/]{32,400}={0,2})|(?:glsa_[A-Za-z0-9]{32}_[a-f0-9]{8}))", NotPlaceholder),
    named!("honeycomb-api-key", Secret, High, ["honeycomb"], r"honeycomb[\w .-]{0,24}?key", r"[A-Za-z0-9]{22,32}", r"(?:[^A-Za-z0-9]|$)", Entropy(3.5)),
    // Identity and secrets managers
    named!("okta-api-token", Secret, Critical, ["okta"], r"okta[\w .-]{0,24}?(?:token|key)", r"00[A-Za-z0-9_-]{40}", r"(?:[^A-Za-z0-9_-]|$)", NotPlaceholder),
    named!("auth0-client-secret", Secret, High, ["auth0"], r"auth0[\w .-]{0,24}?secret", r"[A-Za-z0-9_-]{64}", r"(?:[^A-Za-z0-9_-]|$)", Entropy(3.5)),
    rule!("onepassword-service-token", Secret, Critical, ["ops_ey"], r"(?:^|[^A-Za-z0-9])(ops_eyJ[A-Za-z0-9+/=_-]{250,})", NotPlaceholder),
    rule!("age-secret-key", Secret, Critical, ["age-secret-key-1"], r"(?:^|[^A-Za-z0-9])(AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    // Maps, search, misc SaaS
    rule!("mapbox-secret-token", Secret, High, ["sk.ey"], r"(?:^|[^A-Za-z0-9])(sk\.eyJ[A-Za-z0-9_-]{50,}\.[A-Za-z0-9_-]{20,})", NotPlaceholder),
    named!("algolia-admin-key", Secret, High, ["algolia"], r"algolia[\w .-]{0,24}?(?:admin|api)[ _.-]?key", r"[a-f0-9]{32}", r"(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    shaped_or_named!("contentful-token", Secret, High, ["contentful", "cfpat-"], r"(?:^|[^A-Za-z0-9])(CFPAT-[A-Za-z0-9_-]{43})(?:[^A-Za-z0-9_-]|$)", r"contentful[\w .-]{0,24}?token", r"[A-Za-z0-9_-]{43}", r"(?:[^A-Za-z0-9_-]|$)", Entropy(3.5)),
    rule!("shippo-token", Secret, High, ["shippo_live_", "shippo_test_"], r"(?:^|[^A-Za-z0-9])(shippo_(?:live|test)_[a-f0-9]{40})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("easypost-api-key", Secret, High, ["ezak", "eztk"], r"(?:^|[^A-Za-z0-9])(EZ[AT]K[a-f0-9]{54})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    named!("lob-api-key", Secret, High, ["live_", "test_"], r"lob[\w .-]{0,24}?", r"(?:live|test)_[a-f0-9]{35}", r"(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("twitter-bearer-token", Secret, High, ["aaaaaaaaaaaaaaaaaaaaa"], r"(?:^|[^A-Za-z0-9])(AAAAAAAAAAAAAAAAAAAAA[A-Za-z0-9%]{80,120})", NotPlaceholder),
    named!("twitter-api-key", Secret, High, ["twitter"], r"twitter[\w .-]{0,24}?(?:api|consumer|app)[ _.-]?key", r"[A-Za-z0-9]{25}", r"(?:[^A-Za-z0-9]|$)", Entropy(3.5)),
    named!("twitter-api-secret", Secret, High, ["twitter"], r"twitter[\w .-]{0,24}?secret", r"[A-Za-z0-9]{45,50}", r"(?:[^A-Za-z0-9]|$)", Entropy(3.5)),
    named!("twitter-access-token", Secret, High, ["twitter"], r"twitter[\w .-]{0,24}?access[ _.-]?token", r"\d{1,20}-[A-Za-z0-9]{20,40}", r"(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    shaped_or_named!("linkedin-client-secret", Secret, High, ["linkedin", "wpl_ap1."], r"(?:^|[^A-Za-z0-9])(WPL_AP1\.[A-Za-z0-9]{16}\.[A-Za-z0-9+/]{6}==)", r"linkedin[\w .-]{0,24}?secret", r"[A-Za-z0-9]{16}", r"(?:[^A-Za-z0-9]|$)", Entropy(3.0)),
    named!("linkedin-client-id", Secret, Low, ["linkedin"], r"linkedin[\w .-]{0,24}?(?:client[ _.-]?)?id", r"[a-z0-9]{12,14}", r"(?:[^A-Za-z0-9]|$)", Assigned(2.5)),
    named!("kucoin-api-key", Secret, High, ["kucoin"], r"kucoin[\w .-]{0,24}?key", r"[a-f0-9]{24}", r"(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    named!("kucoin-api-secret", Secret, High, ["kucoin"], r"kucoin[\w .-]{0,24}?secret", r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", r"(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    shaped_or_named!("sourcegraph-access-token", Secret, High, ["sgp_", "sourcegraph", "src_access_token"], r"(?:^|[^A-Za-z0-9])(sgp_(?:[a-f0-9]{16}_|local_)?[a-f0-9]{40})(?:[^A-Za-z0-9]|$)", r"(?:sourcegraph[\w .-]{0,24}?|src[ _.-]?access[ _.-]?)token", r"[a-f0-9]{40}", r"(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("segment-public-api-token", Secret, High, ["sgp_"], r"(?:^|[^A-Za-z0-9])(sgp_[A-Za-z0-9]{64})(?:[^A-Za-z0-9]|$)", Entropy(3.5)),
    named!("messagebird-api-key", Secret, High, ["messagebird", "message_bird", "message-bird", "msgbird"], r"(?:message[ _.-]?bird|msgbird)[\w .-]{0,24}?", r"[A-Za-z0-9_]{25}", r"(?:[^A-Za-z0-9_]|$)", Entropy(3.5)),
    named!("etsy-api-key", Secret, High, ["etsy"], r"etsy[\w .-]{0,24}?(?:key|keystring|token)", r"[a-z0-9]{24}|\d{5,12}\.[A-Za-z0-9_-]{50,200}", r"(?:[^A-Za-z0-9_-]|$)", Entropy(3.0)),
    named!("etsy-shared-secret", Secret, High, ["etsy"], r"etsy[\w .-]{0,24}?secret", r"[a-z0-9]{10}", r"(?:[^A-Za-z0-9]|$)", Entropy(2.8)),
    shaped_or_named!("sidekiq-credentials", Secret, High, ["contribsys", "sidekiq"], r"https?://([a-f0-9]{8}:[a-f0-9]{8})@(?:gems|enterprise)\.contribsys\.com", r"(?:BUNDLE_(?:ENTERPRISE|GEMS)__CONTRIBSYS__COM|sidekiq[\w .-]{0,24}?(?:credential|password|secret|key|token|license|login))", r"[a-f0-9]{8}:[a-f0-9]{8}", r"(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    named!("bundler-credentials", Secret, High, ["bundle_"], r"BUNDLE_[A-Z0-9_]*__[A-Z0-9_]+", r"[A-Za-z0-9._-]{1,64}:[A-Za-z0-9._~+=-][A-Za-z0-9._~+/=-]{7,127}", r"(?:[^A-Za-z0-9._~+/=-]|$)", Assigned(3.0)),
    rule!("tailscale-key", Secret, High, ["tskey-"], r"(?:^|[^A-Za-z0-9])(tskey-(?:api|auth|client|scim|webhook)-[A-Za-z0-9]{6,20}-[A-Za-z0-9]{20,})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("docker-swarm-token", Secret, High, ["swmtkn-1-", "swmkey-1-"], r"(?:^|[^A-Za-z0-9])(SWMTKN-1-[a-z0-9]{50}-[a-z0-9]{25}|SWMKEY-1-[A-Za-z0-9+/]{43})(?:[^A-Za-z0-9+/]|$)", NotPlaceholder),
    rule!("clojars-token", Secret, High, ["clojars_"], r"(?:^|[^A-Za-z0-9])(CLOJARS_[a-z0-9]{60})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("hubspot-private-app-token", Secret, High, ["pat-na1-", "pat-eu1-"], r"(?:^|[^A-Za-z0-9])(pat-(?:na|eu)1-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("xai-api-key", Secret, High, ["xai-"], r"(?:^|[^A-Za-z0-9])(xai-[A-Za-z0-9]{80})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("openrouter-api-key", Secret, High, ["sk-or-v1-"], r"(?:^|[^A-Za-z0-9])(sk-or-v1-[a-f0-9]{64})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("huggingface-org-token", Secret, High, ["api_org_"], r"(?:^|[^A-Za-z0-9])(api_org_[A-Za-z]{34})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("tencent-secret-id", Secret, High, ["akid"], r"(?:^|[^A-Za-z0-9])(AKID[A-Za-z0-9]{32})(?:[^A-Za-z0-9]|$)", Entropy(3.5)),
    rule!("yandex-token", Secret, High, ["aqvn", "ycaj", "y0_"], r"(?:^|[^A-Za-z0-9_-])(AQVN[A-Za-z0-9_-]{35,38}|YCAJ[A-Za-z0-9_-]{35}|y0_[A-Za-z0-9_-]{55})(?:[^A-Za-z0-9_-]|$)", Entropy(3.5)),
    rule!("google-oauth-refresh-token", Secret, High, ["1//0"], r"(?:^|[^A-Za-z0-9/])(1//0[A-Za-z0-9_-]{40,})", Entropy(3.5)),
    rule!("datastax-astra-token", Secret, High, ["astracs:"], r"(?:^|[^A-Za-z0-9])(AstraCS:[A-Za-z]{24}:[a-f0-9]{64})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("neon-api-key", Secret, High, ["napi_"], r"(?:^|[^A-Za-z0-9])(napi_[a-z0-9]{64})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("onfido-api-token", Secret, High, ["api_live", "api_sandbox"], r"(?:^|[^A-Za-z0-9])(api_(?:live|sandbox)(?:_us|_ca)?\.[A-Za-z0-9_-]{11}\.[A-Za-z0-9_-]{32})(?:[^A-Za-z0-9_-]|$)", NotPlaceholder),
    rule!("facebook-access-token", Secret, High, ["eaacedeose0cba"], r"(?:^|[^A-Za-z0-9])(EAACEdEose0cBA[0-9A-Za-z]{20,})", NotPlaceholder),
    named!("twitch-api-token", Secret, High, ["twitch"], r"twitch[\w .-]{0,24}?(?:token|secret)", r"[a-z0-9]{30}", r"(?:[^A-Za-z0-9]|$)", Entropy(3.5)),
    // Keys, tokens and credentials by shape
    rule!("private-key-rsa", Secret, Critical, ["-----begin rsa private key-----"], r"(-----BEGIN RSA PRIVATE KEY-----(?:[\s\S]*?-----END RSA PRIVATE KEY-----|(?:(?:\r?\n|(?:\\r)?\\n)[ \t\x22']*(?:[A-Za-z0-9+/=]{16,}|[A-Za-z-]+: [^\r\n\\]*))+))", NotPlaceholder),
    rule!("private-key-ec", Secret, Critical, ["-----begin ec private key-----"], r"(-----BEGIN EC PRIVATE KEY-----(?:[\s\S]*?-----END EC PRIVATE KEY-----|(?:(?:\r?\n|(?:\\r)?\\n)[ \t\x22']*(?:[A-Za-z0-9+/=]{16,}|[A-Za-z-]+: [^\r\n\\]*))+))", NotPlaceholder),
    rule!("private-key-dsa", Secret, Critical, ["-----begin dsa private key-----"], r"(-----BEGIN DSA PRIVATE KEY-----(?:[\s\S]*?-----END DSA PRIVATE KEY-----|(?:(?:\r?\n|(?:\\r)?\\n)[ \t\x22']*(?:[A-Za-z0-9+/=]{16,}|[A-Za-z-]+: [^\r\n\\]*))+))", NotPlaceholder),
    rule!("private-key-openssh", Secret, Critical, ["-----begin openssh private key-----"], r"(-----BEGIN OPENSSH PRIVATE KEY-----(?:[\s\S]*?-----END OPENSSH PRIVATE KEY-----|(?:(?:\r?\n|(?:\\r)?\\n)[ \t\x22']*(?:[A-Za-z0-9+/=]{16,}|[A-Za-z-]+: [^\r\n\\]*))+))", NotPlaceholder),
    rule!("private-key-pkcs8", Secret, Critical, [ "-----begin private key-----", "-----begin encrypted private key-----" ], r"(-----BEGIN (?:ENCRYPTED )?PRIVATE KEY-----(?:[\s\S]*?-----END (?:ENCRYPTED )?PRIVATE KEY-----|(?:(?:\r?\n|(?:\\r)?\\n)[ \t\x22']*(?:[A-Za-z0-9+/=]{16,}|[A-Za-z-]+: [^\r\n\\]*))+))", NotPlaceholder),
    rule!("private-key-pgp", Secret, Critical, ["-----begin pgp private key block-----"], r"(-----BEGIN PGP PRIVATE KEY BLOCK-----(?:[\s\S]*?-----END PGP PRIVATE KEY BLOCK-----|(?:(?:\r?\n|(?:\\r)?\\n)[ \t\x22']*(?:[A-Za-z0-9+/=]{16,}|[A-Za-z-]+: [^\r\n\\]*))+))", NotPlaceholder),
    rule!("private-key-putty", Secret, Critical, ["putty-user-key-file"], r"(PuTTY-User-Key-File-[23]: [\s\S]*?Private-Lines: \d+\r?\n(?:[A-Za-z0-9+/=]+\r?\n)+)", NotPlaceholder),
    // The base64 body of a private key whose armour lines were stripped: DER starts the
    // same way for every key of a type (PKCS#1 RSA and DSA, PKCS#8, SEC1 EC, OpenSSH).
    rule!("private-key-body", Secret, Critical, ["ibaak", "ibadan", "mhccaqee", "migkagebbd", "ageambmgbyqgsm49", "mc4caqawbqydk2vw", "b3blbnnzac1rzxktdje"], r"(?:^|[^A-Za-z0-9+/])((?:MII[A-Za-z0-9+/]{3}IBAAK|MII[A-Za-z0-9+/]{3}IBADAN|MHcCAQEE|MIGkAgEBBD|MIG[A-Za-z0-9+/]AgEAMBMGByqGSM49|MC4CAQAwBQYDK2Vw|b3BlbnNzaC1rZXktdjE)[A-Za-z0-9+/]{16,}={0,2}(?:(?:\r?\n|(?:\\r)?\\n)[ \t]*[A-Za-z0-9+/]{16,}={0,2})*)", NotPlaceholder),
    rule!("jwt", Secret, High, ["eyj", "eya", "ewo"], r"(?:^|[^A-Za-z0-9_-])(e[wy][A-Za-z0-9_-]{10,}\.e[wy][A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*)", Jwt),
    rule!("database-url-password", Secret, Critical, ["://"], r"(?i)\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|clickhouse|cockroachdb|oracle|db2|jdbc:[a-z]+)://[^:\s/@\x22']+:([^@\s/\x22']{3,})@[^\s\x22'<>]+", NotPlaceholder),
    rule!("url-basic-auth", Secret, High, ["://"], r"(?i)\b(?:https?|ftp|ssh|git|svn)://[^:\s/@\x22']+:([^@\s/\x22']{3,})@[^\s\x22'<>]+", NotPlaceholder),
    rule!("http-bearer-token", Secret, High, ["bearer"], r"(?i)authorization\x22?\s*[:=,]\s*\x22?bearer\s+([A-Za-z0-9._~+/=-]{20,})", Entropy(3.0)),
    rule!("http-basic-credentials", Secret, High, ["basic"], r"(?i)authorization\x22?\s*[:=,]\s*\x22?basic\s+([A-Za-z0-9+/]{16,}={0,2})", NotPlaceholder),
    rule!("kubernetes-secret-data", Secret, High, ["kind: secret"], r"(?s)kind:\s*Secret.{0,400}?\ndata:\s*\n\s+[\w.-]+:\s*([A-Za-z0-9+/]{16,}={0,2})", Entropy(3.0)),
    rule!("generic-password-assignment", Secret, High, ["pass", "pwd"], concat!(
        r"(?im)(?:(?:password|passwd|pwd|pass)[\w.-]{0,20}(?:", assign!(), r"|(?:[ \t]+[A-Za-z]{2,12}){0,2}[ \t]+(?:is|was)[ \t]+)|^[ \t]*(?:ENV|setenv|\#[ \t]*define)[ \t]+[\w.-]{0,20}(?:password|passwd|pwd|pass)[\w.-]{0,20}[ \t]+)\\?",
        r#"(?:[\x22'`]([^\x22'`\s\\]{8,128})[\x22'`\\]|([^\s\x22'`(){}\[\],;<>$\\:=][^\s\x22'`(){}\[\],;<>$\\]{7,127})(?:[;,]?[ \t\r]*$|[;,][ \t]+|[ \t]+(?:&&|\|\|?|;|\#|\xE2\x80\x94|--?[ \t])|\\[nrt]|[ \t]*</))"#
    ), Assigned(3.0)),
    rule!("generic-secret-assignment", Secret, High, ["secret", "token", "key", "credential"], concat!(
        r"(?im)(?:(?:secret|token|api[ _-]?key|apikey|access[ _-]?key|auth[ _-]?key|private[ _-]?key|client[ _-]?secret|credential)[\w.-]{0,20}(?:", assign!(), r"|(?:[ \t]+[A-Za-z]{2,12}){0,2}[ \t]+(?:is|was)[ \t]+)|^[ \t]*(?:ENV|setenv|\#[ \t]*define)[ \t]+[\w.-]{0,20}(?:secret|token|api[ _-]?key|apikey|access[ _-]?key|auth[ _-]?key|private[ _-]?key|client[ _-]?secret|credential)[\w.-]{0,20}[ \t]+)\\?",
        r#"(?:[\x22'`]([A-Za-z0-9_+/=.~-]{16,256})[\x22'`\\]|([A-Za-z0-9_+/.~-][A-Za-z0-9_+/=.~-]{15,255})(?:[;,]?[ \t\r]*$|[;,][ \t]+|[ \t]+(?:&&|\|\|?|;|\#|\xE2\x80\x94|--?[ \t])|\\[nrt]|[ \t]*</))"#
    ), Assigned(3.5)),
    // Personal data
    rule!("email", Pii, Low, ["@"], r"(?:^|[^A-Za-z0-9._%+/-])([A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24})(?:[^A-Za-z0-9]|$)", Email),
    rule!("phone-us", Pii, Low, [], r"(?:^|[^\d\w.-])((?:\+1[ .-]?)?\(?[2-9]\d{2}\)?[ .-]\d{3}[ .-]\d{4})(?:[^\d\w-]|$)", NotPlaceholder),
    rule!("phone-international", Pii, Low, ["+"], r"(?:^|[^\d\w+])(\+(?:[2-9]\d{0,2})[ .-]?\d{2,4}[ .-]?\d{3,4}[ .-]?\d{3,4})(?:[^\d\w]|$)", NotPlaceholder),
    rule!("us-ssn", Pii, High, [], r"(?:^|[^\d-])(\d{3}-\d{2}-\d{4})(?:[^\d-]|$)", Ssn),
    // Without separators, or with spaces or dots, nine digits are an SSN only
    // next to their keyword: alone they are as likely an order or account number
    // (with dashes, `us-ssn` finds them anywhere).
    rule!("us-ssn-keyword", Pii, High, ["ssn", "social", "ss#"], r"(?i)(?:^|[^A-Za-z0-9])(?:ssn|ss#|social[\s_-]*security(?:[\s_-]*(?:number|num|no|#))?)[A-Za-z_.-]{0,16}?[^A-Za-z0-9]{0,12}?(\d{9}|\d{3}[ .]\d{2}[ .]\d{4})(?:[^\d]|$)", Ssn),
    rule!("us-itin", Pii, High, [], r"(?:^|[^\d-])(9\d{2}-[5-9]\d-\d{4})(?:[^\d-]|$)", Itin),
    rule!("payment-card", Pii, High, [], r"(?:^|[^\d-])((?:\d[ -]?){12,18}\d)(?:[^\d-]|$)", Card),
    rule!("payment-card-dotted", Pii, High, [], r"(?:^|[^\d.])(\d{4}\.\d{4}\.\d{4}\.\d{1,7}|\d{4}\.\d{6}\.\d{4,5})(?:[^\d]|$)", Card),
    rule!("iban", Pii, High, [], r"(?:^|[^A-Za-z0-9])([A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?)(?:[^A-Za-z0-9]|$)", Iban),
    rule!("us-npi", Phi, Medium, ["npi"], r"(?i)(?:^|[^A-Za-z0-9])npi\W{0,12}([12]\d{9})(?:[^A-Za-z0-9]|$)", Npi),
    rule!("dea-number", Phi, Medium, ["dea"], r"(?i)(?:^|[^A-Za-z0-9])dea\W{0,12}([A-Z]{2}\d{7})(?:[^A-Za-z0-9]|$)", Dea),
    rule!("medical-record-number", Phi, High, ["mrn", "medical record"], r"(?i)(?:^|[^A-Za-z0-9])(?:mrn|medical\s+record\s+(?:number|no\.?|#))\W{0,5}([A-Z0-9]{6,12})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("medicare-mbi", Phi, High, ["mbi", "medicare"], r"(?i)(?:^|[^A-Za-z0-9])(?:mbi|medicare)\w*\W{0,12}([1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d-?[AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d-?[AC-HJKMNP-RT-Y]{2}\d{2})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
    rule!("date-of-birth", Phi, Medium, ["dob", "birth"], r"(?i)(?:^|[^A-Za-z0-9])(?:dob|date\s+of\s+birth|birth\s*date|birthday)\W{0,8}(\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4})(?:[^A-Za-z0-9]|$)", NotPlaceholder),
];
