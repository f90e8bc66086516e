#!/usr/bin/env python3
"""Generates the labelled DLP corpus: fake but well-formed secrets, personal and health
data embedded in realistic code and configuration of several languages (positives), and
real source code, identifiers, hashes, base64 blobs, prose and placeholders (negatives).

Deterministic (fixed seed). Writes corpus/ and labels.json beside this file:
labels.json = [{"file", "first_line", "last_line", "kind"}], one per planted value;
every other line of the corpus is a negative. Usage: python3 bench/dlp/generate.py
"""
import base64
import json
import os
import random
import string
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CORPUS = HERE / "corpus"
PER_KIND = 12
rng = random.Random(20261123)

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"


def rand(chars, n):
    return "".join(rng.choice(chars) for _ in range(n))


def luhn_complete(prefix, length):
    digits = [int(c) for c in prefix]
    while len(digits) < length - 1:
        digits.append(rng.randrange(10))
    for check in range(10):
        candidate = digits + [check]
        total = 0
        for i, d in enumerate(reversed(candidate)):
            if i % 2 == 1:
                d *= 2
                if d > 9:
                    d -= 9
            total += d
        if total % 10 == 0:
            return "".join(map(str, candidate))
    raise AssertionError


def card():
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16)])
    number = luhn_complete(prefix + "".join(str(rng.randrange(10)) for _ in range(2)), length)
    if length == 16:
        return " ".join(number[i:i + 4] for i in range(0, 16, 4)) if rng.random() < 0.5 else number
    return number


def ssn():
    while True:
        area = rng.randrange(1, 899)
        if area != 666:
            return f"{area:03d}-{rng.randrange(1, 99):02d}-{rng.randrange(1, 9999):04d}"


def itin():
    group = rng.choice(list(range(50, 66)) + list(range(70, 89)))
    return f"9{rng.randrange(10)}{rng.randrange(10)}-{group}-{rng.randrange(1, 9999):04d}"


def npi():
    body = "1" + "".join(str(rng.randrange(10)) for _ in range(8))
    full = luhn_complete("80840" + body, 15)
    return full[5:]


def iban():
    country, length = rng.choice([("DE", 22), ("GB", 22), ("FR", 27), ("NL", 18), ("ES", 24)])
    if country == "GB":
        bban = rand(string.ascii_uppercase, 4) + rand(string.digits, 14)
    elif country == "NL":
        bban = rand(string.ascii_uppercase, 4) + rand(string.digits, 10)
    else:
        bban = rand(string.digits, length - 4)
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    value = f"{country}{check:02d}{bban}"
    return " ".join(value[i:i + 4] for i in range(0, len(value), 4)) if rng.random() < 0.5 else value


def pem(label, lines=12):
    body = "\n".join(rand(B64, 64) for _ in range(lines)) + "\n" + rand(B64, 40) + "=="
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"


def jwt():
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'sub': 'usr_' + rand(HEX, 8), 'iat': rng.randrange(10**9, 2 * 10**9)})}.{rand(URLSAFE, 43)}"


def email():
    first = rng.choice(["jane", "omar", "li", "maria", "tom", "aisha", "dev", "ops"])
    last = rng.choice(["doe", "khan", "wei", "garcia", "smith", "nguyen", "ops", "team"])
    domain = rng.choice(["acme-health.com", "northwind.io", "contoso-bank.net", "globex.org", "initech.co.uk"])
    return f"{first}.{last}@{domain}"


def phone():
    return rng.choice(["({a}) {b}-{c}", "{a}-{b}-{c}", "+1 {a} {b} {c}", "{a}.{b}.{c}"]).format(
        a=rng.randrange(201, 989), b=rng.randrange(200, 999), c=f"{rng.randrange(0, 9999):04d}")


def dob():
    y, m, d = rng.randrange(1940, 2010), rng.randrange(1, 13), rng.randrange(1, 29)
    return f"{y}-{m:02d}-{d:02d}" if rng.random() < 0.5 else f"{m}/{d}/{y}"


# kind -> (variable name used in code, value generator). The variable names are what a
# developer would write; rules that need context (aws secret, datadog) get it from them.
KINDS = {
    "aws-access-key-id": ("aws_access_key_id", lambda: "AKIA" + rand(string.ascii_uppercase + string.digits, 16)),
    "aws-secret-access-key": ("aws_secret_access_key", lambda: rand(B64, 40)),
    "gcp-api-key": ("maps_api_key", lambda: "AIza" + rand(URLSAFE, 35)),
    "gcp-oauth-client-secret": ("google_client_secret", lambda: "GOCSPX-" + rand(URLSAFE, 28)),
    "azure-storage-account-key": ("storage_connection", lambda: "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=" + rand(B64, 86) + "==;EndpointSuffix=core.windows.net"),
    "github-pat": ("github_token", lambda: "ghp_" + rand(ALNUM, 36)),
    "github-oauth-token": ("gh_oauth", lambda: "gho_" + rand(ALNUM, 36)),
    "github-fine-grained-pat": ("gh_pat", lambda: "github_pat_" + rand(ALNUM + "_", 82)),
    "gitlab-pat": ("gitlab_token", lambda: "glpat-" + rand(URLSAFE, 20)),
    "slack-bot-token": ("slack_bot_token", lambda: f"xoxb-{rand(string.digits, 11)}-{rand(string.digits, 13)}-{rand(ALNUM, 24)}"),
    "slack-webhook-url": ("slack_webhook", lambda: f"https://hooks.slack.com/services/T{rand(string.ascii_uppercase + string.digits, 8)}/B{rand(string.ascii_uppercase + string.digits, 10)}/{rand(ALNUM, 24)}"),
    "stripe-secret-key": ("stripe_key", lambda: "sk_live_" + rand(ALNUM, rng.randrange(24, 60))),
    "stripe-webhook-secret": ("stripe_webhook_signing", lambda: "whsec_" + rand(ALNUM, 32)),
    "twilio-api-key": ("twilio_key_sid", lambda: "SK" + rand(HEX, 32)),
    "sendgrid-api-key": ("sendgrid_key", lambda: f"SG.{rand(URLSAFE, 22)}.{rand(URLSAFE, 43)}"),
    "mailgun-api-key": ("mailgun_key", lambda: "key-" + rand(HEX, 32)),
    "openai-api-key": ("openai_key", lambda: f"sk-proj-{rand(URLSAFE, 20)}T3BlbkFJ{rand(URLSAFE, 20)}"),
    "anthropic-api-key": ("anthropic_key", lambda: f"sk-ant-api03-{rand(URLSAFE, 93)}AA"),
    "huggingface-token": ("hf_token", lambda: "hf_" + rand(string.ascii_letters, 34)),
    "npm-token": ("npm_auth", lambda: "npm_" + rand(ALNUM, 36)),
    "pypi-token": ("pypi_upload", lambda: "pypi-AgEIcHlwaS5vcmc" + rand(URLSAFE, 60)),
    "dockerhub-pat": ("docker_pat", lambda: "dckr_pat_" + rand(URLSAFE, 27)),
    "digitalocean-token": ("do_token", lambda: "dop_v1_" + rand(HEX, 64)),
    "shopify-token": ("shopify_access", lambda: "shpat_" + rand(HEX, 32)),
    "square-access-token": ("square_token", lambda: "sq0atp-" + rand(URLSAFE, 22)),
    "datadog-api-key": ("DD_API_KEY", lambda: rand(HEX, 32)),
    "new-relic-key": ("newrelic_key", lambda: "NRAK-" + rand(string.ascii_uppercase + string.digits, 27)),
    "linear-api-key": ("linear_key", lambda: "lin_api_" + rand(ALNUM, 40)),
    "age-secret-key": ("age_identity", lambda: "AGE-SECRET-KEY-1" + rand("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)),
    "hashicorp-vault-token": ("vault_token", lambda: "hvs." + rand(URLSAFE, 92)),
    "telegram-bot-token": ("telegram_bot", lambda: f"{rng.randrange(10**8, 10**10)}:AA{rand(URLSAFE, 33)}"),
    "discord-webhook-url": ("discord_hook", lambda: f"https://discord.com/api/webhooks/{rand(string.digits, 18)}/{rand(URLSAFE, 68)}"),
    "postman-api-key": ("postman_key", lambda: f"PMAK-{rand(HEX, 24)}-{rand(HEX, 34)}"),
    "jwt": ("session_jwt", jwt),
    "database-url-password": ("database_url", lambda: f"postgres://app_{rand(string.ascii_lowercase, 4)}:{rand(ALNUM, 16)}@db-{rand(string.ascii_lowercase, 5)}.internal:5432/payments"),
    "url-basic-auth": ("mirror_url", lambda: f"https://deploy:{rand(ALNUM, 14)}@artifacts.internal/repo"),
    "generic-password-assignment": ("db_password", lambda: rand(ALNUM + "!#%&*", 16)),
    "generic-secret-assignment": ("client_secret", lambda: rand(ALNUM, 32)),
    "private-key-rsa": ("private_key", lambda: pem("RSA PRIVATE KEY")),
    "private-key-openssh": ("ssh_key", lambda: pem("OPENSSH PRIVATE KEY")),
    "private-key-ec": ("ec_key", lambda: pem("EC PRIVATE KEY", 3)),
    "private-key-pgp": ("pgp_key", lambda: pem("PGP PRIVATE KEY BLOCK")),
    "email": ("contact", email),
    "us-ssn": ("ssn", ssn),
    "us-itin": ("itin", itin),
    "payment-card": ("card_number", card),
    "iban": ("iban", iban),
    "phone-us": ("phone", phone),
    "us-npi": ("NPI", npi),
    "medical-record-number": ("MRN", lambda: rand(string.ascii_uppercase, 1) + rand(string.digits, 7)),
    "date-of-birth": ("DOB", dob),
}

# How a value is written in each language. Multi-line values (PEM) use a block form.
TEMPLATES = {
    "py": ("{name} = \"{value}\"", "{name} = \"\"\"\n{value}\n\"\"\""),
    "js": ("const {name} = '{value}';", "const {name} = `\n{value}\n`;"),
    "go": ("\t{name} := \"{value}\"", "\t{name} := `\n{value}\n`"),
    "yaml": ("{name}: {value}", "{name}: |\n{value}"),
    "env": ("{name}={value}", "{name}=\"\n{value}\n\""),
    "java": ("    String {name} = \"{value}\";", "    String {name} = \"\"\"\n{value}\n\"\"\";"),
    "rb": ("{name} = '{value}'", "{name} = <<~KEY\n{value}\nKEY"),
}
PRELUDE = {
    "py": ["import os", "", "def connect(settings):", "    return settings", ""],
    "js": ["'use strict';", "", "function connect(settings) {", "  return settings;", "}", ""],
    "go": ["package config", "", "func settings() map[string]string {"],
    "yaml": ["service: payments", "replicas: 3", "env:"],
    "env": ["# service configuration", "PORT=8080", "LOG_LEVEL=info"],
    "java": ["package com.acme.payments;", "", "public class Settings {"],
    "rb": ["# frozen_string_literal: true", "", "module Settings"],
}
# Personal data sits in prose-like contexts rather than assignments.
PII_CONTEXT = {
    "email": "{name}: {value}",
    "us-ssn": "patient ssn: {value}",
    "us-itin": "taxpayer itin {value}",
    "payment-card": "card on file: {value}",
    "iban": "refund to IBAN {value}",
    "phone-us": "call {value} for support",
    "us-npi": "provider NPI: {value}",
    "medical-record-number": "MRN: {value}",
    "date-of-birth": "DOB: {value}",
}


def write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def positives(labels):
    count = 0
    for kind, (name, make) in KINDS.items():
        for i in range(PER_KIND):
            ext = rng.choice(list(TEMPLATES))
            value = make()
            lines = list(PRELUDE[ext])
            if kind in PII_CONTEXT:
                comment = "#" if ext in ("py", "yaml", "env", "rb") else "//"
                text = f"{comment} " + PII_CONTEXT[kind].format(name=name, value=value)
            else:
                single, block = TEMPLATES[ext]
                text = (block if "\n" in value else single).format(name=name, value=value)
            start = len(lines) + 1
            lines.extend(text.split("\n"))
            lines.extend(["", "# end" if ext in ("py", "yaml", "env", "rb") else "// end"])
            rel = f"positives/{kind}/{i:02d}.{ext}"
            write(CORPUS / rel, lines)
            # One label per value, covering the lines it spans (PEM keys span many).
            text_lines = text.split("\n")
            first = next(i for i, l in enumerate(text_lines) if value.split("\n")[0] in l)
            last = first + value.count("\n")
            labels.append({"file": rel, "first_line": start + first, "last_line": start + last, "kind": kind})
            count += 1
    return count


# Evasion forms, found from outside (issue #17 section 4): each writes a value so that a
# rule keyed on its usual shape, or on the name the generator would put next to it,
# misses it. None of them sits next to the rule's own keyword in a variable name.
NAMED = [
    lambda: "AKIA" + rand(string.ascii_uppercase + string.digits, 16),
    lambda: "ghp_" + rand(ALNUM, 36),
    lambda: "sk_live_" + rand(ALNUM, 32),
    lambda: "glpat-" + rand(URLSAFE, 20),
    lambda: "xoxb-" + rand(string.digits, 11) + "-" + rand(string.digits, 13) + "-" + rand(ALNUM, 24),
]
CYRILLIC = {"A": "\u0410", "B": "\u0412", "C": "\u0421", "E": "\u0415", "K": "\u041a", "M": "\u041c",
            "O": "\u041e", "P": "\u0420", "T": "\u0422", "X": "\u0425", "a": "\u0430", "c": "\u0441",
            "e": "\u0435", "o": "\u043e", "p": "\u0440", "x": "\u0445"}


def der_body(prefix, lines):
    first = prefix + rand(B64, 64 - len(prefix))
    return "\n".join([first] + [rand(B64, 64) for _ in range(lines - 1)])


def dotted(number):
    return ".".join(number[i:i + 4] for i in range(0, len(number), 4))


def valid_ssn_digits():
    return ssn().replace("-", "")


def invisible(value):
    at = rng.randrange(4, len(value) - 4)
    return value[:at] + rng.choice(["\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad"]) + value[at:]


def lookalike(value):
    spots = [i for i, c in enumerate(value[:8]) if c in CYRILLIC]
    if not spots:
        return "\uff41" + value[1:] if value[0] == "a" else value
    at = rng.choice(spots)
    return value[:at] + CYRILLIC[value[at]] + value[at + 1:]


EVASIONS = {
    "after-underscore": lambda: f"fallback = PROD_{rng.choice(NAMED)()}_OLD",
    "neutral-name": lambda: f"v{rng.randrange(100)} = \"{rng.choice(NAMED)()}\"",
    "ssn-no-dashes": lambda: rng.choice([
        "patient_ssn = {d}", "{{\"ssn\": {d}}}", "SSN {a} {b} {c}", "social security no. {a}.{b}.{c}"]).format(
            d=(d := valid_ssn_digits()), a=d[:3], b=d[3:5], c=d[5:]),
    "card-dots": lambda: "paid with " + dotted(luhn_complete(rng.choice(["4", "51", "55"]) + rand(string.digits, 2), 16)),
    "pem-no-end": lambda: "-----BEGIN RSA PRIVATE KEY-----\n" + der_body("MIIEowIBAAKCAQEA", 6),
    "pem-body-only": lambda: der_body(rng.choice(["MIIEowIBAAKCAQEA", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "MHcCAQEEI",
                                                  "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU"]), 4),
    "zero-width": lambda: f"token: {invisible(rng.choice(NAMED)())}",
    "homoglyph": lambda: f"key = {lookalike(rng.choice(NAMED)())}",
    "base64-wrapped": lambda: "blob: " + base64.b64encode(f"aws_access_key_id={NAMED[0]()}\n".encode()).decode(),
    "hex-wrapped": lambda: "payload = 0x" + rng.choice(NAMED[1:3])().encode().hex(),
}


def evasions(labels):
    count = 0
    for form, make in EVASIONS.items():
        for i in range(PER_KIND):
            text = make()
            lines = ["# settings", "", text, "", "# end"]
            rel = f"evasion/{form}/{i:02d}.txt"
            write(CORPUS / rel, lines)
            labels.append({"file": rel, "first_line": 3, "last_line": 3 + text.count("\n"), "kind": f"evasion:{form}"})
            count += 1
    return count


def lookalike_negatives():
    """Lines that look like a positive in context but are not one."""
    lines = []
    lorem = "the service retries each request twice before it reports an error to the caller".split()
    for _ in range(50):
        digits = rand(string.digits, 9)
        lines.append(rng.choice(["order number {d} shipped", "invoice_id = {d}", "\"account\": {d},",
                                 "tracking: {d}", "ssn_last4 = {l}, order {d}"]).format(d=digits, l=digits[-4:]))
        bad = luhn_complete("4" + rand(string.digits, 3), 16)
        bad = bad[:-1] + str((int(bad[-1]) + 1) % 10)
        lines.append("build " + dotted(bad))
        lines.append(f"oid = \"1.2.840.{rng.randrange(10**5, 10**6)}.1.1.{rng.randrange(20)}\"")
        prose = " ".join(rng.choice(lorem) for _ in range(10)).encode()
        lines.append("readme = " + base64.b64encode(prose).decode())
        lines.append("greeting = " + prose.hex())
        lines.append(rng.choice(["// \u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440: \u0441\u043e\u0440\u043e\u043a \u0440\u0430\u0437",
                                 "# \u65e5\u672c\u8a9e\u306e\u30b3\u30e1\u30f3\u30c8",
                                 "# \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u03c3\u03c7\u03cc\u03bb\u03b9\u03b1",
                                 "title = \"family \U0001f468\u200d\U0001f469\u200d\U0001f467 photos\""]))
        lines.append("-----BEGIN PUBLIC KEY-----")
        lines.append("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + rand(B64, 20))
        lines.append("-----END PUBLIC KEY-----")
        lines.append("cert: MIIDdzCCAl+gAwIBAgIE" + rand(B64, 40))
    return lines


def negatives():
    lines = []
    # Real source code: Moat's own non-test sources (the DLP crate, which holds the rule
    # patterns, and test modules, which hold planted values, are left out).
    for path in sorted((REPO / "crates").rglob("*.rs")):
        rel = str(path.relative_to(REPO))
        if "moat-dlp" in rel or "/tests" in rel or rel.endswith("tests.rs") or "/benches/" in rel:
            continue
        text = path.read_text().split("#[cfg(test)]")[0]
        lines.extend(l for l in text.splitlines() if l.strip())
    code = lines[:3000]
    generated = []
    for _ in range(300):
        generated.append(f"request_id = \"{uuid.UUID(int=rng.getrandbits(128))}\"")
        generated.append(f"commit: {rand(HEX, 40)}")
        generated.append(f"  \"integrity\": \"sha256-{base64.b64encode(rng.randbytes(32)).decode()}\",")
        generated.append(f"thumbnail = \"{base64.b64encode(rng.randbytes(48)).decode()}\"")
    lorem = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua".split()
    for _ in range(200):
        generated.append("# " + " ".join(rng.choice(lorem) for _ in range(12)))
    placeholders = [
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "password = \"changeme\"", "api_key: \"<YOUR_API_KEY>\"",
        "token = \"${GITHUB_TOKEN}\"", "STRIPE_KEY=sk_live_xxxxxxxxxxxxxxxxxxxxxxxx", "secret = os.environ[\"CLIENT_SECRET\"]",
        "db_password = \"{{ vault_db_password }}\"", "contact: someone@example.com", "client_secret: \"REPLACE_ME\"",
        "auth_token = process.env.AUTH_TOKEN", "# set OPENAI_API_KEY before running", "password: \"********\"",
    ]
    for i in range(200):
        generated.append(placeholders[i % len(placeholders)])
    for _ in range(100):
        bad = luhn_complete("4" + rand(string.digits, 3), 16)
        bad = bad[:-1] + str((int(bad[-1]) + 1) % 10)
        generated.append(f"order_number = {bad}")
        generated.append(f"version = \"{rng.randrange(10)}.{rng.randrange(30)}.{rng.randrange(100)}\"")
        generated.append(f"listen_addr = \"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}:{rng.randrange(1024, 65535)}\"")
        generated.append(f"created = \"{rng.randrange(2000, 2026)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}\"")
        generated.append(f"ssn_field = \"000-{rng.randrange(10, 99)}-{rng.randrange(1000, 9999)}\"")
    lookalikes = lookalike_negatives()
    all_lines = code + generated + lookalikes
    rng.shuffle(generated)
    for index in range(0, len(lookalikes), 100):
        write(CORPUS / f"negatives/lookalike_{index // 100:03d}.txt", lookalikes[index:index + 100])
    for index in range(0, len(code), 100):
        write(CORPUS / f"negatives/source_{index // 100:03d}.rs", code[index:index + 100])
    for index in range(0, len(generated), 100):
        write(CORPUS / f"negatives/generated_{index // 100:03d}.txt", generated[index:index + 100])
    return len(all_lines)


def main():
    if CORPUS.exists():
        import shutil
        shutil.rmtree(CORPUS)
    labels = []
    count = positives(labels)
    count += evasions(labels)
    negative_lines = negatives()
    (HERE / "labels.json").write_text(json.dumps(labels, indent=0))
    kinds = len({l["kind"] for l in labels})
    print(f"corpus: {count} positives across {kinds} kinds, {negative_lines} negative lines")


if __name__ == "__main__":
    main()
