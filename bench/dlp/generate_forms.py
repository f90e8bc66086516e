#!/usr/bin/env python3
"""Generates the second DLP corpus ("forms"): each credential family written in every
assignment form people use (Go, XML, Makefile, Dockerfile, PHP, Terraform, calls that set
a value, JSON inside JSON, prose...), beside negatives written the same way with the same
keyword but the wrong shape (placeholders, references, type names, paths, hashes).

The token formats come from the providers' public documentation, written without reading
Moat's rule patterns, so this corpus cannot fit them by construction (generate.py's corpus
was written next to the rules and is kept as the regression set).

One example per file, so a tool that reports a repeated value once per file still sees
each example once. Writes forms/ and forms_labels.json beside this file:
forms_labels.json = [{"file", "first_line", "last_line", "family", "form", "shape",
"positive"}], one per example, negatives included; a finding counts for an example when
it reports a line of the example's span. Deterministic (fixed seed).
Usage: python3 bench/dlp/generate_forms.py [--seed N]; another seed draws other values in
the same families and forms, to check that a fix is not fitted to this draw.
"""
import base64
import fnmatch
import html
import json
import random
import shutil
import string
import subprocess
import sys
import uuid
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FORMS_DIR = HERE / "forms"
rng = random.Random(20261206)

ALNUM = string.ascii_letters + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
URLSAFE = ALNUM + "-_"
BASE64 = ALNUM + "+/"
BASE32 = string.ascii_uppercase + "234567"
BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
# Password characters that need no escaping in any of the forms (no quotes, `$`, `#`, `\`).
PASSWORD = ALNUM + "!%+-._~^*"


def rand(chars, n):
    return "".join(rng.choice(chars) for _ in range(n))


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# --- Token formats, from each provider's public documentation -------------------------

def crc_token(prefix):
    """GitHub and npm tokens: 30 random base62 characters, then the CRC32 of those 30
    in base62, zero-padded to 6 (github.blog, "Behind GitHub's new authentication token
    formats", 2021)."""
    body = rand(ALNUM, 30)
    crc, digits = zlib.crc32(body.encode()), ""
    while crc:
        crc, digit = divmod(crc, 62)
        digits = BASE62[digit] + digits
    return prefix + body + digits.rjust(6, "0")


def discord_bot():
    # base64 of the bot's numeric id, a timestamp part, an HMAC part.
    user_id = str(rng.randrange(10**17, 10**19)).encode()
    return f"{b64url(user_id)}.{rand(URLSAFE, 6)}.{rand(URLSAFE, 38)}"


def twitter_bearer():
    # App-only bearer: 21 'A's, the app id, 'A' padding, then URL-encoded base64.
    middle = base64.b64encode(rng.randbytes(20)).decode()
    middle = middle.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    return "A" * 21 + rand(ALNUM, 4) + "A" * 7 + middle + rand(ALNUM, 50)


def jfrog_identity():
    # base64("reftkn:01:<expiry>:<random>") -> always starts cmVmdGtuOjAxOj
    raw = f"reftkn:01:{rng.randrange(1_700_000_000, 1_900_000_000)}:{rand(ALNUM, 27)}"
    return base64.b64encode(raw.encode()).decode()


def pypi():
    # A macaroon: location "pypi.org", an identifier, caveats; base64url after "pypi-".
    body = b"\x02\x01\x08pypi.org\x02\x25\x01" + str(uuid.UUID(int=rng.getrandbits(128))).encode()
    body += b"\x00\x02\x2a[1,[\"" + rand(LOWER_ALNUM, 12).encode() + b"\"]]\x00\x06 " + rng.randbytes(32)
    return "pypi-" + b64url(body)


def openai():
    return rng.choice([
        lambda: "sk-proj-" + rand(URLSAFE, 74) + "T3BlbkFJ" + rand(URLSAFE, 74),
        lambda: "sk-" + rand(ALNUM, 20) + "T3BlbkFJ" + rand(ALNUM, 20),
        lambda: "sk-svcacct-" + rand(URLSAFE, 74) + "T3BlbkFJ" + rand(URLSAFE, 74),
    ])()


def sentry():
    if rng.random() < 0.5:
        return "sntryu_" + rand(HEX, 64)
    claims = {"iat": rng.randrange(1_700_000_000, 1_800_000_000), "url": "https://sentry.io",
              "region_url": "https://us.sentry.io", "org": rng.choice(["acme", "globex", "initech"])}
    return "sntrys_" + b64url(json.dumps(claims, separators=(",", ":")).encode()) + "_" + rand(BASE64, 43)


def pem():
    """A private key block whose DER starts the way real ones do."""
    kind = rng.choice(["RSA", "RSA-1024", "EC", "PKCS8", "OPENSSH"])
    if kind == "RSA":
        label, der = "RSA PRIVATE KEY", bytes.fromhex("308204a40201000282010100") + rng.randbytes(1180)
    elif kind == "RSA-1024":
        label, der = "RSA PRIVATE KEY", bytes.fromhex("3082025c02010002818100") + rng.randbytes(590)
    elif kind == "EC":
        label = "EC PRIVATE KEY"
        der = (bytes.fromhex("30770201010420") + rng.randbytes(32)
               + bytes.fromhex("a00a06082a8648ce3d030107a14403420004") + rng.randbytes(64))
    elif kind == "PKCS8":
        label = "PRIVATE KEY"
        der = bytes.fromhex("308204bd020100300d06092a864886f70d0101010500048204a7308204a3020100") + rng.randbytes(1150)
    else:
        label = "OPENSSH PRIVATE KEY"
        der = (b"openssh-key-v1\x00\x00\x00\x00\x04none\x00\x00\x00\x04none\x00\x00\x00\x00\x00\x00\x00\x01"
               b"\x00\x00\x00\x33\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + rng.randbytes(150))
    return pem_block(label, der, 70 if kind == "OPENSSH" else 64)


def pem_block(label, der, width=64):
    body = base64.b64encode(der).decode()
    lines = [body[i:i + width] for i in range(0, len(body), width)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"])


def database_url():
    user = rng.choice(["app", "billing", "svc_orders", "admin", "reporting"])
    password = rand(ALNUM + "-_.~", rng.randrange(14, 26))
    host = rng.choice(["db.internal", "pg-prod-1.c9akciq32.eu-west-1.rds.amazonaws.com", "10.20.3.14", "mysql.acme.lan"])
    db = rng.choice(["orders", "billing", "app_prod"])
    return rng.choice([
        f"postgres://{user}:{password}@{host}:5432/{db}",
        f"postgresql://{user}:{password}@{host}/{db}?sslmode=require",
        f"mysql://{user}:{password}@{host}:3306/{db}",
        f"mongodb+srv://{user}:{password}@cluster0.{rand(LOWER_ALNUM, 5)}.mongodb.net/{db}",
        f"redis://:{password}@cache.internal:6379/0",
        f"amqp://{user}:{password}@rabbit.internal:5672/%2F",
    ])


def jwt():
    header = b64url(json.dumps({"alg": rng.choice(["HS256", "RS256"]), "typ": "JWT"}).encode())
    claims = {"sub": str(rng.randrange(10**6, 10**9)), "name": rng.choice(["svc-deploy", "billing-worker"]),
              "iat": rng.randrange(1_700_000_000, 1_800_000_000), "scope": "read write"}
    # Half of them serialise the payload with a space or a newline first: not "eyJ".
    style = rng.choice(["compact", "spaced", "indented"])
    if style == "compact":
        payload = json.dumps(claims, separators=(",", ":"))
    elif style == "spaced":
        payload = "{ " + json.dumps(claims)[1:]
    else:
        payload = json.dumps(claims, indent=2)
    return f"{header}.{b64url(payload.encode())}.{rand(URLSAFE, 43)}"


def azure_storage():
    account = "acme" + rand(LOWER_ALNUM, 8)
    key = base64.b64encode(rng.randbytes(64)).decode()
    return f"DefaultEndpointsProtocol=https;AccountName={account};AccountKey={key};EndpointSuffix=core.windows.net"


def generic_secret():
    return rng.choice([lambda: rand(HEX, 64), lambda: base64.b64encode(rng.randbytes(32)).decode(),
                       lambda: rand(ALNUM, 40)])()


# --- Families ----------------------------------------------------------------------------

NEUTRAL_NAMES = [["value"], ["cfg"], ["token"], ["secret"], ["key"], ["auth"], ["credential"], ["conn"]]


def family(name, make, noun, names, prefix=None, charset=ALNUM, strict=False, fakes=(), own_fakes_only=False):
    """A credential family. `prefix` marks a self-identifying token: its examples use
    neutral variable names too; without one, every name says the provider or kind.
    `strict`: the documented length is exact, so a shortened value is a negative.
    `fakes`: (shape, make) negatives of this family's own; `own_fakes_only` when the
    prefix-plus-filler fakes would not read like anything (a PEM block, a URL)."""
    words = [n.split("_") for n in names]
    return {"family": name, "make": make, "noun": noun, "prefix": prefix, "charset": charset,
            "strict": strict, "fakes": list(fakes), "own_fakes_only": own_fakes_only,
            "names": words + (NEUTRAL_NAMES if prefix else [])}


def public_key_block():
    return pem_block("PUBLIC KEY", bytes.fromhex("30820122300d06092a864886f70d01010105000382010f00") + rng.randbytes(270))


def certificate_block():
    return pem_block("CERTIFICATE", bytes.fromhex("308203") + rng.randbytes(780))


FAMILIES = [
    family("github_classic", lambda: crc_token(rng.choice(["ghp_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_"])),
           "GitHub token", ["github_token", "gh_token", "github_pat"], prefix="ghp_", strict=True),
    family("github_fine_grained", lambda: "github_pat_11" + rand(UPPER_ALNUM, 9) + rand(ALNUM, 11) + "_" + rand(ALNUM, 59),
           "GitHub fine-grained token", ["github_token", "gh_pat"], prefix="github_pat_"),
    family("gitlab_pat", lambda: "glpat-" + rand(URLSAFE, 20), "GitLab token", ["gitlab_token", "gl_token"],
           prefix="glpat-", charset=URLSAFE, strict=True),
    family("slack_bot", lambda: f"xoxb-{rng.randrange(10**10, 10**12)}-{rng.randrange(10**12, 10**13)}-{rand(ALNUM, 24)}",
           "Slack bot token", ["slack_bot_token", "slack_token"], prefix="xoxb-"),
    family("slack_user", lambda: f"xoxp-{rng.randrange(10**10, 10**12)}-{rng.randrange(10**10, 10**12)}-{rng.randrange(10**12, 10**13)}-{rand(HEX, 32)}",
           "Slack user token", ["slack_user_token", "slack_token"], prefix="xoxp-"),
    family("slack_webhook", lambda: f"https://hooks.slack.com/services/T{rand(UPPER_ALNUM, 10)}/B{rand(UPPER_ALNUM, 10)}/{rand(ALNUM, 24)}",
           "Slack webhook", ["slack_webhook_url", "webhook_url"], prefix="https://hooks.slack.com/services/"),
    family("aws_access_key_id", lambda: rng.choice(["AKIA", "AKIA", "ASIA"]) + rand(BASE32, 16),
           "AWS access key id", ["aws_access_key_id", "aws_key"], prefix="AKIA", charset=BASE32, strict=True,
           fakes=[("aws-docs-example", lambda: "AKIAIOSFODNN7EXAMPLE")]),
    family("aws_secret_access_key", lambda: rand(BASE64, 40), "AWS secret access key",
           ["aws_secret_access_key", "aws_secret_key", "secret_access_key"], charset=BASE64,
           fakes=[("aws-docs-example", lambda: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")]),
    family("stripe_secret", lambda: rng.choice(["sk_live_", "sk_live_", "rk_live_"]) + rng.choice([rand(ALNUM, 24), "51" + rand(ALNUM, 97)]),
           "Stripe secret key", ["stripe_secret_key", "stripe_key"], prefix="sk_live_"),
    family("telegram_bot", lambda: f"{rng.randrange(10**8, 10**10)}:AA{rand(URLSAFE, 33)}",
           "Telegram bot token", ["telegram_bot_token", "tg_token", "bot_token"], prefix="123456789:AA", charset=URLSAFE),
    family("discord_bot", discord_bot, "Discord bot token", ["discord_bot_token", "discord_token"],
           prefix="MTA", charset=URLSAFE),
    family("discord_client_secret", lambda: rand(URLSAFE, 32), "Discord client secret",
           ["discord_client_secret", "discord_oauth_secret"], charset=URLSAFE),
    family("dropbox", lambda: rng.choice(["sl.B", "sl.u.A"]) + rand(URLSAFE, 135), "Dropbox access token",
           ["dropbox_access_token", "dropbox_token"], prefix="sl.", charset=URLSAFE),
    family("sidekiq", lambda: f"{rand(HEX, 8)}:{rand(HEX, 8)}", "Sidekiq Enterprise credential",
           ["BUNDLE_ENTERPRISE__CONTRIBSYS__COM", "BUNDLE_GEMS__CONTRIBSYS__COM"], charset=HEX),
    family("sumo_access_id", lambda: "su" + rand(ALNUM, 12), "Sumo Logic access id",
           ["sumo_access_id", "sumologic_access_id"]),
    family("sumo_access_key", lambda: rand(ALNUM, 64), "Sumo Logic access key",
           ["sumo_access_key", "sumologic_access_key"]),
    family("square_access_token", lambda: rng.choice(["EAAA" + rand(URLSAFE, 60), "sq0atp-" + rand(URLSAFE, 22)]),
           "Square access token", ["square_access_token", "square_token"], prefix="EAAA", charset=URLSAFE),
    family("square_oauth_secret", lambda: "sq0csp-" + rand(URLSAFE, 43), "Square OAuth secret",
           ["square_oauth_secret", "square_secret"], prefix="sq0csp-", charset=URLSAFE, strict=True),
    family("twitter_bearer", twitter_bearer, "Twitter bearer token", ["twitter_bearer_token", "x_bearer_token"],
           prefix="AAAAAAAAAAAAAAAAAAAAA"),
    family("linkedin_client_id", lambda: rand(LOWER_ALNUM, 14), "LinkedIn client id",
           ["linkedin_client_id", "linkedin_app_id"], charset=LOWER_ALNUM),
    family("linkedin_client_secret", lambda: rng.choice([rand(ALNUM, 16), "WPL_AP1." + rand(ALNUM, 16) + "." + rand(BASE64, 8) + "=="]),
           "LinkedIn client secret", ["linkedin_client_secret", "linkedin_secret"]),
    family("kucoin_api_key", lambda: rand(HEX, 24), "KuCoin API key", ["kucoin_api_key", "kucoin_key"], charset=HEX),
    family("kucoin_api_secret", lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)), "KuCoin API secret",
           ["kucoin_api_secret", "kucoin_secret"], charset=HEX),
    family("kucoin_passphrase", lambda: rand(ALNUM, rng.randrange(10, 18)) + rng.choice("!%*+-."), "KuCoin API passphrase",
           ["kucoin_api_passphrase", "kucoin_passphrase"]),
    family("sourcegraph", lambda: rng.choice(["sgp_" + rand(HEX, 40), "sgp_" + rand(HEX, 16) + "_" + rand(HEX, 40)]),
           "Sourcegraph access token", ["sourcegraph_token", "src_access_token"], prefix="sgp_", charset=HEX),
    family("jfrog_identity", jfrog_identity, "JFrog identity token", ["jfrog_access_token", "artifactory_token"],
           prefix="cmVmdGtuOjAxOj", charset=BASE64),
    family("jfrog_api_key", lambda: "AKCp" + rng.choice("5678") + rand(ALNUM, 68), "JFrog API key",
           ["artifactory_api_key", "jfrog_api_key"], prefix="AKCp", strict=True),
    family("messagebird", lambda: rand(ALNUM, 25), "MessageBird API key", ["messagebird_api_key", "messagebird_access_key"]),
    family("etsy", lambda: rand(LOWER_ALNUM, 24), "Etsy API keystring", ["etsy_api_key", "etsy_keystring"], charset=LOWER_ALNUM),
    family("atlassian_api_token", lambda: "ATATT3xFfGF0" + rand(URLSAFE, 170) + "=" + rand("0123456789ABCDEF", 8),
           "Atlassian API token", ["atlassian_api_token", "jira_api_token"], prefix="ATATT3xFfGF0", charset=URLSAFE),
    family("atlassian_legacy", lambda: rand(ALNUM, 24), "Jira API token",
           ["jira_api_token", "confluence_api_token", "atlassian_api_token"]),
    family("openai", openai, "OpenAI API key", ["openai_api_key", "openai_key"], prefix="sk-proj-", charset=URLSAFE),
    family("anthropic", lambda: "sk-ant-api03-" + rand(URLSAFE, 93) + "AA", "Anthropic API key",
           ["anthropic_api_key", "claude_api_key"], prefix="sk-ant-api03-", charset=URLSAFE, strict=True),
    family("google_api_key", lambda: "AIzaSy" + rand(URLSAFE, 33), "Google API key", ["google_api_key", "gcp_api_key", "maps_api_key"],
           prefix="AIza", charset=URLSAFE, strict=True,
           fakes=[("wrong-charset", lambda: "AIzaSy" + rand(ALNUM, 12) + "." + rand(ALNUM, 8) + "!" + rand(ALNUM, 11))]),
    family("npm", lambda: crc_token("npm_"), "npm token", ["npm_token", "npm_auth_token"], prefix="npm_", strict=True),
    family("pypi", pypi, "PyPI upload token", ["pypi_token", "twine_password"], prefix="pypi-AgEIcHlwaS5vcmc", charset=URLSAFE),
    family("heroku_api_key", lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)), "Heroku API key",
           ["heroku_api_key", "heroku_auth_token"], charset=HEX),
    family("heroku_platform", lambda: "HRKU-AA" + rand(URLSAFE, 58), "Heroku platform token", ["heroku_api_key", "heroku_token"],
           prefix="HRKU-", charset=URLSAFE),
    family("twilio_api_key", lambda: "SK" + rand(HEX, 32), "Twilio API key", ["twilio_api_key", "twilio_key_sid"],
           prefix="SK", charset=HEX, strict=True),
    family("twilio_auth_token", lambda: rand(HEX, 32), "Twilio auth token", ["twilio_auth_token", "twilio_token"], charset=HEX),
    family("sendgrid", lambda: "SG." + rand(URLSAFE, 22) + "." + rand(URLSAFE, 43), "SendGrid API key",
           ["sendgrid_api_key", "sendgrid_key"], prefix="SG.", charset=URLSAFE, strict=True),
    family("mailgun", lambda: rng.choice(["key-" + rand(HEX, 32), rand(HEX, 32) + "-" + rand(HEX, 8) + "-" + rand(HEX, 8)]),
           "Mailgun API key", ["mailgun_api_key", "mailgun_key"], charset=HEX),
    family("datadog_api_key", lambda: rand(HEX, 32), "Datadog API key", ["dd_api_key", "datadog_api_key"], charset=HEX),
    family("datadog_app_key", lambda: rand(HEX, 40), "Datadog application key", ["dd_app_key", "datadog_app_key"], charset=HEX),
    family("private_key", pem, "private key", ["private_key", "ssh_key", "tls_key", "signing_key"], prefix="-----BEGIN ",
           fakes=[("public-key", public_key_block), ("certificate", certificate_block),
                  ("placeholder", lambda: "-----BEGIN RSA PRIVATE KEY-----\n<your key here>\n-----END RSA PRIVATE KEY-----")],
           own_fakes_only=True),
    family("database_url", database_url, "database URL", ["database_url", "db_url", "dsn"], prefix="postgres://",
           fakes=[("url-no-password", lambda: rng.choice(["postgres://app@db.internal:5432/orders", "mysql://db.internal:3306/billing",
                                                         "redis://cache.internal:6379/0"])),
                  ("placeholder", lambda: rng.choice(["postgres://USER:PASSWORD@HOST:5432/DB",
                                                      "postgres://app:${DB_PASSWORD}@db.internal:5432/orders",
                                                      "mysql://user:<password>@localhost:3306/app"]))],
           own_fakes_only=True),
    family("jwt", jwt, "JWT", ["jwt", "id_token", "bearer"], prefix="eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", charset=URLSAFE,
           fakes=[("truncated", lambda: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."),
                  ("placeholder", lambda: rng.choice(["header.payload.signature", "<jwt>", "Bearer <token>"]))]),
    family("azure_storage", azure_storage, "Azure storage connection string",
           ["azure_storage_connection_string", "storage_connection"], prefix="DefaultEndpointsProtocol=https;AccountName=acme;AccountKey="),
    family("shopify", lambda: rng.choice(["shpat_", "shpss_", "shpca_"]) + rand(HEX, 32), "Shopify access token",
           ["shopify_access_token", "shopify_token"], prefix="shpat_", charset=HEX, strict=True),
    family("huggingface", lambda: "hf_" + rand(string.ascii_letters, 34), "Hugging Face token", ["hf_token", "huggingface_token"],
           prefix="hf_", charset=string.ascii_letters, strict=True),
    family("digitalocean", lambda: "dop_v1_" + rand(HEX, 64), "DigitalOcean token", ["digitalocean_token", "do_token"],
           prefix="dop_v1_", charset=HEX, strict=True),
    family("postman", lambda: "PMAK-" + rand(HEX, 24) + "-" + rand(HEX, 34), "Postman API key", ["postman_api_key"],
           prefix="PMAK-", charset=HEX),
    family("newrelic", lambda: "NRAK-" + rand(UPPER_ALNUM, 27), "New Relic user key", ["new_relic_api_key", "newrelic_key"],
           prefix="NRAK-", charset=UPPER_ALNUM, strict=True),
    family("doppler", lambda: rng.choice(["dp.st.", "dp.pt.", "dp.sa."]) + rand(ALNUM, 43), "Doppler token",
           ["doppler_token"], prefix="dp.st.", strict=True),
    family("sentry", sentry, "Sentry auth token", ["sentry_auth_token", "sentry_token"], prefix="sntrys_",
           fakes=[("placeholder", lambda: rng.choice(["sntrys_YOUR_AUTH_TOKEN_HERE", "sntrys_" + "x" * 40, "sntryu_<token>"]))]),
    family("age_key", lambda: "AGE-SECRET-KEY-1" + rand(BECH32, 58), "age secret key", ["age_secret_key", "sops_age_key"],
           prefix="AGE-SECRET-KEY-1", charset=BECH32, strict=True),
    # Generic assignments: no provider shape, a random value under a secret's name.
    family("generic_password", lambda: rand(PASSWORD, rng.randrange(12, 25)), "database password",
           ["db_password", "password", "admin_password", "postgres_password", "smtp_password", "passwd"], charset=PASSWORD),
    family("generic_secret", generic_secret, "client secret",
           ["client_secret", "secret_key", "app_secret", "jwt_secret", "signing_secret", "secret_key_base"]),
    family("generic_token", lambda: rand(ALNUM, rng.choice([32, 40, 48])), "access token",
           ["auth_token", "access_token", "refresh_token", "api_token", "bearer_token"]),
    family("generic_api_key", lambda: rng.choice([rand(ALNUM, 32), rand(HEX, 40)]), "API key",
           ["api_key", "apikey", "x_api_key", "service_api_key"]),
]
GENERIC_FAMILIES = {"generic_password", "generic_secret", "generic_token", "generic_api_key"}

# Negative-only families: high-entropy values under names that are not secrets.
NEGATIVE_ONLY = [
    {"family": "checksum", "noun": "checksum", "names": [["sha256"], ["checksum"], ["integrity"], ["digest"]],
     "make": lambda: rng.choice([rand(HEX, 64), "sha512-" + base64.b64encode(rng.randbytes(64)).decode(),
                                 "sha256:" + rand(HEX, 64)])},
    {"family": "git_sha", "noun": "commit", "names": [["commit"], ["rev"], ["git", "sha"], ["revision"]],
     "make": lambda: rand(HEX, 40)},
    {"family": "uuid_id", "noun": "tenant id", "names": [["request", "id"], ["tenant", "id"], ["client", "id"], ["subscription", "id"]],
     "make": lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))},
]


# --- Names ------------------------------------------------------------------------------

def style(words, case):
    """A variable name in the form's own case; a name that carries `__` (Bundler's
    `BUNDLE_ENTERPRISE__CONTRIBSYS__COM`) is kept as the provider spells it."""
    if "" in words:
        return "_".join(words)
    if case == "snake":
        return "_".join(w.lower() for w in words)
    if case == "screaming":
        return "_".join(w.upper() for w in words)
    if case == "pascal":
        return "".join(w.capitalize() for w in words)
    return words[0].lower() + "".join(w.capitalize() for w in words[1:])  # camel


def expression(shape, lang, words):
    """A value that is code, not a literal: an environment read, a call, a field. Formats
    without expressions get the template their loader fills in instead (a literal)."""
    env, snake_name = style(words, "screaming"), style(words, "snake")
    camel_name, pascal_name = style(words, "camel"), style(words, "pascal")
    table = {
        "reference": {"py": f'os.environ["{env}"]', "go": f'os.Getenv("{env}")', "java": f'System.getenv("{env}")',
                      "kt": f'System.getenv("{env}")', "cs": f'Environment.GetEnvironmentVariable("{env}")',
                      "js": f"process.env.{env}", "rb": f'ENV.fetch("{env}")', "php": f"getenv('{env}')",
                      "sh": f"${{{env}}}", "env": f"${{{env}}}", "docker": f"${{{env}}}", "make": f"$({env})",
                      "tf": f"var.{snake_name}", "yaml": f"${{{env}}}"},
        "call": {"py": f"get_{snake_name}()", "go": f"load{pascal_name}()", "java": f"vault.read{pascal_name}()",
                 "kt": f"vault.read{pascal_name}()", "cs": f"await vault.Read{pascal_name}Async()",
                 "js": f"await getSecret('{snake_name}')", "rb": f"fetch_{snake_name}", "php": f"get_{snake_name}()",
                 "sh": f"$(cat /run/secrets/{snake_name})", "make": f"$(shell cat /run/secrets/{snake_name})",
                 "tf": f'data.vault_generic_secret.app.data["{snake_name}"]'},
        "field": {"py": f"settings.{env}", "go": f"cfg.{pascal_name}", "java": f"config.get{pascal_name}()",
                  "kt": f"config.{camel_name}", "cs": f"_options.Value.{pascal_name}", "js": f"config.{camel_name}",
                  "rb": f"Rails.application.credentials.{snake_name}", "php": f"$config['{snake_name}']",
                  "tf": f"local.{snake_name}", "make": f"$(VAULT_{env})"},
    }
    code = table[shape].get(lang)
    if code:
        return code, True
    templated = {"reference": f"${{{env}}}", "call": f"vault:secret/data/app#{snake_name}",
                 "field": f"{{{{ .Values.{camel_name} }}}}"}
    return templated[shape], False


# --- Assignment forms -------------------------------------------------------------------
# Each form renders (name, value, raw) as (lines before, the example's lines, lines after);
# `raw` means the value is code and is not quoted. A form with `multiline` writes a
# multi-line value (a PEM block) as it is; the others get it with escaped newlines.

FORMS = []


def form(name, filename, case, lang, multiline=False):
    def register(render):
        FORMS.append({"form": name, "filename": filename, "case": case, "lang": lang,
                      "multiline": multiline, "render": render})
        return render
    return register


def dq(value, raw):
    return value if raw else f'"{value}"'


def bare(value):
    """An unquoted config value, quoted only when it holds a space."""
    return f'"{value}"' if " " in value else value


def shell_word(value, raw):
    return value if raw or all(c in ALNUM + "_./:+=-@%," for c in value) else f"'{value}'"


@form("python", "{id}.py", "screaming", "py", multiline=True)
def _(n, v, raw):
    if "\n" in v:
        return ["import os", ""], [f'{n} = """{v.splitlines()[0]}', *v.splitlines()[1:], '"""'], []
    return ["import os", ""], [f"{n} = {dq(v, raw)}"], []


@form("yaml", "{id}.yaml", "snake", "yaml", multiline=True)
def _(n, v, raw):
    if "\n" in v:
        return ["service:"], [f"  {n}: |", *("    " + line for line in v.splitlines())], ["  region: eu-west-1"]
    return ["service:", "  region: eu-west-1"], [f"  {n}: {v}"], []


@form("yaml-quoted", "{id}.yaml", "snake", "yaml")
def _(n, v, raw):
    return ["service:", "  region: eu-west-1"], [f"  {n}: {dq(v, raw)}"], []


@form("json", "{id}.json", "camel", "json")
def _(n, v, raw):
    return ["{", '  "region": "eu-west-1",'], [f'  "{n}": "{v}"'], ["}"]


@form("dotenv", "{id}.env", "screaming", "env")
def _(n, v, raw):
    return ["APP_ENV=staging"], [f"{n}={v if raw else bare(v)}"], ["LOG_LEVEL=info"]


@form("csharp", "{id}.cs", "pascal", "cs")
def _(n, v, raw):
    line = f"    public static readonly string {n} = {v};" if raw else f'    public const string {n} = "{v}";'
    return ["namespace Acme.Billing;", "", "public static class Settings", "{"], [line], ["}"]


@form("java", "{id}.java", "screaming", "java")
def _(n, v, raw):
    return ["package com.acme.billing;", "", "public final class Settings {"], [f"    static final String {n} = {dq(v, raw)};"], ["}"]


@form("kotlin", "{id}.kt", "camel", "kt")
def _(n, v, raw):
    return ["package com.acme.billing", ""], [f"val {n} = {dq(v, raw)}"], []


@form("go-var", "{id}.go", "camel", "go")
def _(n, v, raw):
    return ["package config", ""], [f"var {n} string = {dq(v, raw)}"], []


@form("go-const", "{id}.go", "camel", "go")
def _(n, v, raw):
    return ["package config", ""], [f"var {n} = {v}" if raw else f'const {n} = "{v}"'], []


@form("go-raw-string", "{id}.go", "camel", "go", multiline=True)
def _(n, v, raw):
    lines = [f"\t{n} := {v}"] if raw else [f"\t{n} := `{line}" if i == 0 else line for i, line in enumerate(v.splitlines())]
    if not raw:
        lines[-1] += "`"
    return ["package config", "", "func load() {"], lines, [f"\t_ = {n}", "}"]


def xml_text(v):
    return html.escape(v, quote=True)


@form("xml-element", "{id}.xml", "camel", "xml", multiline=True)
def _(n, v, raw):
    body = ["    " + xml_text(line) for line in v.splitlines()]
    return ['<?xml version="1.0" encoding="UTF-8"?>', "<settings>"], [f"  <{n}>", *body, f"  </{n}>"], ["</settings>"]


@form("xml-attribute", "{id}.xml", "camel", "xml")
def _(n, v, raw):
    return ['<?xml version="1.0" encoding="UTF-8"?>', "<settings>"], [f'  <credentials {n}="{xml_text(v)}"/>'], ["</settings>"]


@form("xml-add-key", "{id}.xml", "pascal", "xml")
def _(n, v, raw):
    return (["<configuration>", "  <appSettings>"], [f'    <add key="{n}" value="{xml_text(v)}"/>'],
            ["  </appSettings>", "</configuration>"])


@form("java-setProperty", "{id}.java", "screaming", "java")
def _(n, v, raw):
    return (["public class Boot {", "    public static void main(String[] args) {"],
            [f'        System.setProperty("{n}", {dq(v, raw)});'], ["    }", "}"])


@form("go-setenv", "{id}.go", "screaming", "go")
def _(n, v, raw):
    return ["package main", "", 'import "os"', "", "func init() {"], [f'\tos.Setenv("{n}", {dq(v, raw)})'], ["}"]


@form("js-process-env", "{id}.js", "screaming", "js")
def _(n, v, raw):
    return ["'use strict';", ""], [f"process.env.{n} = {dq(v, raw)};"], []


@form("ruby-env", "{id}.rb", "screaming", "rb")
def _(n, v, raw):
    return ["require 'bundler/setup'", ""], [f'ENV["{n}"] = {dq(v, raw)}'], []


@form("shell-export-chain", "{id}.sh", "screaming", "sh")
def _(n, v, raw):
    return ["#!/usr/bin/env bash", "set -euo pipefail"], [f"export {n}={shell_word(v, raw)} && ./run.sh --deploy"], []


@form("php-concat", "{id}.php", "camel", "php")
def _(n, v, raw):
    quoted = v if raw else (f"'{v}'" if "$" in v else f'"{v}"')
    return ["<?php", f"${n} = '';"], [f"${n} .= {quoted};"], []


@form("php-array", "{id}.php", "snake", "php")
def _(n, v, raw):
    return ["<?php", "", "return ["], [f"    '{n}' => {v if raw else repr_single(v)},"], ["];"]


def repr_single(v):
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"


# Make's five assignment operators, one form each (same file, same line shape).
for _operator, _name in ((":=", "make-colon"), ("::=", "make-double-colon"), (":::=", "make-triple-colon"),
                         ("?=", "make-conditional"), ("+=", "make-append")):
    form(_name, "{id}.mk", "screaming", "make")(
        lambda n, v, raw, op=_operator: ([".PHONY: deploy", ""], [f"{n} {op} {v}"], ["", "deploy:", "\t./deploy.sh"]))


@form("docker-env", "Dockerfile.{id}", "screaming", "docker")
def _(n, v, raw):
    return ["FROM debian:bookworm-slim", "WORKDIR /app"], [f"ENV {n}={v if raw else bare(v)}"], ['CMD ["./server"]']


@form("docker-env-space", "Dockerfile.{id}", "screaming", "docker")
def _(n, v, raw):
    return ["FROM debian:bookworm-slim", "WORKDIR /app"], [f"ENV {n} {v}"], ['CMD ["./server"]']


@form("docker-arg", "Dockerfile.{id}", "screaming", "docker")
def _(n, v, raw):
    return ["FROM debian:bookworm-slim"], [f"ARG {n}={v if raw else bare(v)}"], ["RUN ./configure"]


@form("terraform", "{id}.tf", "snake", "tf")
def _(n, v, raw):
    return ['provider "acme" {', '  region = "eu-west-1"'], [f"  {n} = {dq(v, raw)}"], ["}"]


@form("terraform-variable-default", "{id}.tf", "snake", "tf", multiline=True)
def _(n, v, raw):
    if "\n" in v:
        default = ["  default = <<-EOT", *("    " + line for line in v.splitlines()), "  EOT"]
    else:
        default = [f"  default = {dq(v, raw)}"]
    return [], [f'variable "{n}" {{', "  type    = string", *default, "}"], []


@form("toml", "{id}.toml", "snake", "toml")
def _(n, v, raw):
    return ["[service]", 'region = "eu-west-1"'], [f'{n} = "{v}"'], []


@form("toml-unquoted", "{id}.toml", "snake", "toml")
def _(n, v, raw):
    return ["[service]", 'region = "eu-west-1"'], [f"{n} = {v}"], []


@form("ini-quoted", "{id}.ini", "snake", "ini")
def _(n, v, raw):
    return ["[service]", "region = eu-west-1"], [f'{n} = "{v}"'], []


@form("ini", "{id}.ini", "snake", "ini")
def _(n, v, raw):
    return ["[service]", "region = eu-west-1"], [f"{n}={v}"], []


@form("json-escaped-quotes", "{id}.json", "snake", "json")
def _(n, v, raw):
    inner = v.replace("\\", "\\\\")  # a `\n` in the inner JSON string is `\\n` in the outer one
    return ["{", '  "name": "billing",'], [f'  "config": "{{\\"{n}\\": \\"{inner}\\"}}"'], ["}"]


@form("json-escaped-newlines", "{id}.json", "screaming", "json")
def _(n, v, raw):
    inner = bare(v).replace("\\", "\\\\").replace('"', '\\"')
    return ["{", '  "name": "billing",'], [f'  "env": "APP_ENV=staging\\n{n}={inner}\\nLOG_LEVEL=info"'], ["}"]


PROSE_COMMENT = [("{id}.py", "#"), ("{id}.go", "//"), ("{id}.sh", "#"), ("{id}.js", "//")]


def prose_comment(n, v, raw, noun, index):
    _, mark = PROSE_COMMENT[index % len(PROSE_COMMENT)]
    if raw:
        return [], [f"{mark} the {noun} comes from {v}; never commit it"], ["main()"]
    return [], [f"{mark} the {noun} is {v} — rotate it after the demo"], ["main()"]


def prose_markdown(n, v, raw, noun, index):
    if "\n" in v:
        return ["# Staging notes", ""], [f"The {noun} for staging:", "", "```", *v.splitlines(), "```"], []
    if raw:
        return ["# Staging notes", ""], [f"The {noun} is read from `{v}` at start-up."], []
    quoted = f"`{v}`" if index % 2 else v
    return ["# Staging notes", ""], [f"The {noun} for staging is {quoted}; rotate it after the demo."], []


FORMS.append({"form": "prose-comment", "filename": None, "case": "snake", "lang": "prose", "multiline": False,
              "render": None, "prose": prose_comment})
FORMS.append({"form": "prose-markdown", "filename": "{id}.md", "case": "snake", "lang": "md", "multiline": True,
              "render": None, "prose": prose_markdown})


# --- Negatives: the same keyword, the wrong shape ---------------------------------------

GENERIC_SHAPES = ["placeholder", "template", "masked", "repeated", "sequential", "type-name", "path", "url",
                  "reference", "call", "field", "constant-name"]
PLACEHOLDERS = ["your_api_key_here", "<TOKEN>", "changeme", "REDACTED", "TODO", "replace-me", "<your-secret-here>",
                "dummy", "example", "none", "CHANGE_ME", "insert-token-here"]


def sequence(charset, length):
    """A sequential filler in the family's own alphabet."""
    run = {HEX: "0123456789abcdef", BASE32: "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", UPPER_ALNUM: "ABCDEF0123456789"}.get(
        charset, rng.choice(["abcdef0123456789", "0123456789abcdef", "abcdefghijklmnopqrstuvwxyz0123456789", "1234567890"]))
    return (run * (length // len(run) + 1))[:length]


def generic_negative(shape, fam, lang, words, sample):
    """(value, raw, words): a value of `shape` under the family's keyword."""
    env, snake_name, camel_name = style(words, "screaming"), style(words, "snake"), style(words, "camel")
    length = min(len(sample), 64)
    if shape in ("reference", "call", "field"):
        return (*expression(shape, lang, words), words)
    if shape == "constant-name":
        return rng.choice([snake_name, camel_name, "X-Api-Key", "Authorization"]), False, \
            words + [rng.choice(["key", "field", "header", "param", "name"])]
    value = {
        "placeholder": lambda: rng.choice(PLACEHOLDERS),
        "template": lambda: rng.choice([f"${{{env}}}", f"{{{{ secrets.{env} }}}}", f"{{{{ .Values.{camel_name} }}}}",
                                        f"%({snake_name})s", f"${env}", f"@@{env}@@"]),
        "masked": lambda: rng.choice(["********", "x" * length, "XXXX-XXXX-XXXX-XXXX", "*" * length]),
        "repeated": lambda: rng.choice(fam.get("charset", ALNUM).replace("x", "")) * length,
        "sequential": lambda: sequence(fam.get("charset", ALNUM), length),
        "type-name": lambda: rng.choice(["string", "String", "str", "SecretStr", "<string>"]),
        "path": lambda: rng.choice(["/etc/ssl/private/server.key", "~/.aws/credentials", f"./secrets/{snake_name}.txt",
                                    f"/run/secrets/{snake_name}", "/var/lib/acme/keys/signing.pem"]),
        "url": lambda: rng.choice(["https://oauth2.googleapis.com/token", "https://api.github.com/user",
                                   "https://login.microsoftonline.com/common/oauth2/v2.0/token",
                                   "https://vault.internal:8200/v1/secret/data/app"]),
    }[shape]()
    return value, False, words


def family_fakes(fam, sample):
    """(shape, make) negatives that keep the family's prefix but not its shape."""
    fakes = list(fam["fakes"])
    prefix = fam["prefix"]
    if prefix and not fam["own_fakes_only"]:
        rest, charset = max(len(sample) - len(prefix), 8), fam["charset"]
        fakes += [
            ("prefix-filler", lambda: prefix + rng.choice("xX0A") * rest),
            ("prefix-sequential", lambda: prefix + sequence(charset, rest)),
            ("prefix-placeholder", lambda: prefix + rng.choice(["your_token_here", "YOUR_TOKEN_HERE", "<redacted>",
                                                                "...", "REPLACE_ME", "example"])),
        ]
        if fam["strict"]:
            # The documented length is exact: a shortened token, as docs and logs show one.
            fakes.append(("truncated", lambda: prefix + rand(charset, 6) + rng.choice(["...", "…", "****"])))
    return fakes


# --- Assembly ---------------------------------------------------------------------------

def render(form_spec, words, value, raw, noun, index):
    """An example in one form: (file name template, lines, first, last)."""
    name = style(words, form_spec["case"])
    if "\n" in value and not form_spec["multiline"]:
        value = value.replace("\n", "\\n")
    if form_spec["render"] is None:
        before, example, after = form_spec["prose"](name, value, raw, noun, index)
        filename = form_spec["filename"] or PROSE_COMMENT[index % len(PROSE_COMMENT)][0]
    else:
        before, example, after = form_spec["render"](name, value, raw)
        filename = form_spec["filename"]
    return filename, before + example + after, len(before) + 1, len(before) + len(example)


def examples():
    """Per family and form: one positive, and one negative (three for the generic
    families, whose false positives matter most) that alternates between the family's own
    fakes and the generic wrong shapes, so every shape meets every form."""
    out = []

    def add(fam_name, form_spec, shape, positive, words, value, raw, noun, index):
        filename, lines, first, last = render(form_spec, words, value, raw, noun, index)
        out.append({"family": fam_name, "form": form_spec["form"], "shape": shape, "positive": positive,
                    "filename": filename, "lines": lines, "first_line": first, "last_line": last})

    for f_index, fam in enumerate(FAMILIES):
        sample = fam["make"]()
        fakes = family_fakes(fam, sample)
        generic = GENERIC_SHAPES[f_index % len(GENERIC_SHAPES):] + GENERIC_SHAPES[:f_index % len(GENERIC_SHAPES)]
        generic_count = fake_count = 0
        per_form = 3 if fam["family"] in GENERIC_FAMILIES else 1
        for index, form_spec in enumerate(FORMS):
            lang = form_spec["lang"]
            names = fam["names"]
            add(fam["family"], form_spec, "real", True, names[(index + f_index) % len(names)], fam["make"](), False,
                fam["noun"], index)
            for k in range(per_form):
                words = names[(index + k + 1) % len(names)]
                if fakes and (index + k) % 2 == 0:
                    shape, make = fakes[fake_count % len(fakes)]
                    fake_count += 1
                    value, raw = make(), False
                else:
                    shape = generic[generic_count % len(generic)]
                    generic_count += 1
                    value, raw, words = generic_negative(shape, fam, lang, words, sample)
                add(fam["family"], form_spec, shape, False, words, value, raw, fam["noun"], index + k)
    for fam in NEGATIVE_ONLY:
        for index, form_spec in enumerate(FORMS):
            words = fam["names"][index % len(fam["names"])]
            add(fam["family"], form_spec, fam["family"], False, words, fam["make"](), False, fam["noun"], index)
    return out


# Ordinary code: the repository's own tracked files, in 40-line pieces (the DLP crate,
# tests and this benchmark are left out: they hold rule patterns and planted values).
CODE_SOURCES = [
    ("rust", ".rs", "crates/*.rs", 2000),
    ("python", ".py", "bench/*.py", 600),
    ("shell", ".sh", "bench/*/run", 300),
    ("yaml", ".yaml", "deploy/*.yaml", 300),
    ("toml", ".toml", "*Cargo.toml", 200),
    ("cargo-lock", ".lock", "Cargo.lock", 400),
    ("markdown", ".md", "*.md", 300),
    ("dockerfile", "", "Dockerfile", 100),
]
CHUNK = 40


def code_negatives():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    out = []
    for lang, ext, pattern, budget in CODE_SOURCES:
        lines = []
        for rel in sorted(p for p in tracked if fnmatch.fnmatch(p, pattern)):
            if "moat-dlp" in rel or "/tests" in rel or rel.endswith("tests.rs") or "/benches/" in rel \
                    or rel.startswith("bench/dlp") or rel.startswith("tests/"):
                continue
            text = (REPO / rel).read_text().split("#[cfg(test)]")[0]
            lines.extend(text.splitlines())
            if len(lines) >= budget:
                break
        lines = lines[:budget]
        for start in range(0, len(lines), CHUNK):
            piece = lines[start:start + CHUNK]
            filename = "Dockerfile.{id}" if lang == "dockerfile" else "{id}" + ext
            out.append({"family": "ordinary-code", "form": f"code-{lang}", "shape": "source", "positive": False,
                        "filename": filename, "lines": piece, "first_line": 1, "last_line": len(piece)})
    return out


def main():
    if sys.argv[1:2] == ["--seed"] and len(sys.argv) == 3:
        rng.seed(int(sys.argv[2]))
    elif len(sys.argv) > 1:
        raise SystemExit("usage: generate_forms.py [--seed N]")
    if FORMS_DIR.exists():
        shutil.rmtree(FORMS_DIR)
    FORMS_DIR.mkdir()
    written = examples() + code_negatives()
    # Interleaved, so neither a file's name nor its neighbours say which examples are positive.
    rng.shuffle(written)
    labels = []
    for number, example in enumerate(written, start=1):
        name = example["filename"].format(id=f"{number:05d}")
        (FORMS_DIR / name).write_text("\n".join(example["lines"]) + "\n")
        labels.append({"file": name, "first_line": example["first_line"], "last_line": example["last_line"],
                       "family": example["family"], "form": example["form"], "shape": example["shape"],
                       "positive": example["positive"]})
    (HERE / "forms_labels.json").write_text(json.dumps(labels, indent=0))
    positives = sum(1 for label in labels if label["positive"])
    code_lines = sum(len(e["lines"]) for e in written if e["family"] == "ordinary-code")
    print(f"forms corpus: {positives} positives and {len(labels) - positives} negatives "
          f"({code_lines} lines of ordinary code among them) across {len(FAMILIES)} families and {len(FORMS)} forms")


if __name__ == "__main__":
    main()
