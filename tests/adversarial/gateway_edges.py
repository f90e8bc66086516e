"""The LLM gateway with the official openai and anthropic SDKs: every string is scanned, unknown fields and ungoverned options are refused, nothing reaches the vendor before its record, a stream cannot dodge the token budget, an abandoned request still has an outcome."""

import json
import os
import time
import urllib.request

import anthropic
import openai
from common import Moat, check, git_repo, start

SECRET = "AKIAQ3EGRBJXZ7KLMN4P"
CARD = 4111111111111111

CONFIG = """
[org]
name = "Adversarial Gateway"

[[repos]]
name = "claims"
source = "{root}/repos/claims"
tier = "internal"
permissions = "static"

[permissions.static]
grants = [{ repos = ["*"], teams = ["eng"] }]

[[vendors]]
name = "anthropic"
kind = "anthropic"
base_url = "VENDOR"
key_env = "STANDIN_ANTHROPIC_KEY"
region = "us"
attestations = { soc2_type2 = true, dpa = true }

[[vendors]]
name = "openai"
kind = "openai"
base_url = "VENDOR"
key_env = "STANDIN_OPENAI_KEY"
region = "us"
attestations = { soc2_type2 = true, dpa = true }

[[models]]
alias = "claude"
vendor = "anthropic"
version = "claude-sonnet-4-5-20250929"

[[models]]
alias = "gpt"
vendor = "openai"
version = "gpt-4.1-2025-04-14"

[[models]]
alias = "gpt-keeps"
vendor = "openai"
version = "gpt-4.1-2025-04-14"
options = ["store"]
"""


def recorded(vendor):
    with urllib.request.urlopen(f"{vendor}/_standin/requests") as response:
        return json.load(response)


def events(moat, action):
    return moat.json("audit", "search", "--action", action)["events"]


def run(binary, standin):
    moat = Moat(binary, "")
    vendor_process, vendor = start([standin], moat.env, "listening on ")
    try:
        with open(moat.config, "w") as f:
            f.write(CONFIG.replace("{root}", moat.root).replace("VENDOR", vendor))
        git_repo(os.path.join(moat.root, "repos"), "claims", {"src/lib.rs": "pub fn claim() {}\n"})
        moat.run("index")
        moat.run("user", "add", "dev@example.com", "--team", "eng")
        token = moat.token("dev@example.com", "gateway")
        url = moat.serve()
        try:
            exercise(moat, url, vendor, token)
        finally:
            moat.stop()
    finally:
        vendor_process.terminate()
        vendor_process.wait(timeout=10)


def exercise(moat, url, vendor, token):
    claude = anthropic.Anthropic(base_url=url, auth_token=token, api_key=None, max_retries=0)
    gpt = openai.OpenAI(base_url=f"{url}/v1", api_key=token, max_retries=0)

    # Strings that are not message text: a system block, metadata, a tool's and a
    # schema property's description, a property name, a card number as a JSON number,
    # a text document.
    claude.messages.create(
        model="claude",
        max_tokens=64,
        system=[{"type": "text", "text": f"deploy with {SECRET}"}],
        metadata={"user_id": SECRET},
        tools=[
            {
                "name": "lookup",
                "description": f"uses {SECRET}",
                "input_schema": {
                    "type": "object",
                    "properties": {SECRET: {"type": "string", "description": f"like {SECRET}"}, "card": {"type": "number", "default": CARD}},
                },
            }
        ],
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": f"notes: {SECRET}"}},
                    {"type": "text", "text": "read it"},
                ],
            }
        ],
    )
    gpt.chat.completions.create(
        model="gpt",
        messages=[
            {"role": "user", "name": f"dev-{SECRET}", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": f"https://img.example/{SECRET}.png"}},
            ]}
        ],
        prediction={"type": "content", "content": f'key = "{SECRET}"'},
    )
    sent = recorded(vendor)
    check(len(sent) == 2, "two requests reached the vendor")
    check(all(SECRET not in r["raw_body"] and str(CARD) not in r["raw_body"] for r in sent), "no planted value reached it, in any field")

    # Unknown fields and ungoverned options never leave.
    before = len(recorded(vendor))
    try:
        gpt.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}], extra_body={"x_side_channel": SECRET})
        check(False, "an unknown field is refused")
    except openai.BadRequestError as error:
        check("x_side_channel" in str(error), "an unknown top-level field is refused by name (400)")
    try:
        gpt.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}], store=True)
        check(False, "store is refused")
    except openai.BadRequestError as error:
        check("store" in str(error), "`store: true` is refused for a model that does not list it")
    kept = gpt.chat.completions.create(model="gpt-keeps", messages=[{"role": "user", "content": "hi"}], store=True)
    check(kept.choices[0].message.content.startswith("echo"), "and passes for one that does")
    check(len(recorded(vendor)) == before + 1, "the refused requests sent nothing")

    # Each request that left has its `gateway.requested` event first, and its outcome
    # names it.
    requested = events(moat, "gateway.requested")
    outcomes = [e for e in events(moat, "gateway.request") if e["details"].get("requested_seq")]
    check(len(requested) == 3 and len(outcomes) == 3, "three sends, three requested events, three outcomes")
    for outcome in outcomes:
        for seq in outcome["details"]["requested_seq"]:
            check(seq < outcome["seq"] and any(r["seq"] == seq for r in requested), f"outcome {outcome['seq']} follows its requested event {seq}")

    # Values written to slip past rules keyed on their usual shape: after `_`, with a
    # zero-width space or a Cyrillic letter inside, base64- or hex-wrapped, an SSN with
    # no dashes, a card with dots, a private key with no END line or no armour at all.
    import base64 as b64
    body = "MIIEowIBAAKCAQEAr7Lq2Mn9Pv4Ts8Wz1Bc3De6Fg0Hj5Kl2Mn7Op4Qr9St1Uv6Wx3\nYz8Ab5Cd0Ef2Gh7Ij4Kl9Mn1Op3Qr5St7Uv9Wx2Yz4Ab6Cd8Ef0Gh1Ij3Kl5Mn7Op9Q"
    wrapped = b64.b64encode(f"aws_access_key_id={SECRET}".encode()).decode()
    evasive = "\n".join([
        f"PROD_{SECRET}_OLD",
        SECRET[:8] + "\u200b" + SECRET[8:],
        "\u0410" + SECRET[1:],
        wrapped,
        "0x" + SECRET.encode().hex(),
        "ssn: 536228173 and SSN 536 22 8173",
        "card 4111.1111.1111.1111",
        "-----BEGIN RSA PRIVATE KEY-----\n" + body,
        "key = '''\n" + body + "\n'''",
    ])
    before = len(recorded(vendor))
    gpt.chat.completions.create(model="gpt", messages=[{"role": "user", "content": evasive}])
    claude.messages.create(model="claude", max_tokens=64, messages=[{"role": "user", "content": evasive}])
    sent = recorded(vendor)[before:]
    check(len(sent) == 2, "both evasive prompts were sent, redacted")
    for request in sent:
        seen = json.dumps(json.loads(request["raw_body"]), ensure_ascii=False).replace("\u200b", "")
        seen = seen.replace("\\n", "")
        for value in [SECRET, wrapped, SECRET.encode().hex(), "536228173", "536 22 8173", "4111.1111.1111.1111", body.replace("\n", "")]:
            leaked = [value[i:i + 8] for i in range(len(value) - 7) if value[i:i + 8] in seen]
            check(not leaked, f"no fragment of {value[:12]}... reached the vendor ({leaked[:2]})")

    # A stream that did not ask for usage still counts, and shows no usage chunk.
    chunks = list(gpt.chat.completions.create(model="gpt", stream=True, messages=[{"role": "user", "content": "hello stream"}]))
    check(all(c.usage is None for c in chunks), "the client that did not ask sees no usage")
    last = events(moat, "gateway.request")[-1]
    check(last["details"]["tokens_in"] > 0 and last["details"]["tokens_out"] > 0, "yet its tokens are counted against the budget")

    # A client that goes away: its request still gets an outcome, linked.
    impatient = openai.OpenAI(base_url=f"{url}/v1", api_key=token, max_retries=0, timeout=0.3)
    try:
        impatient.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "STANDIN_SLOW_ANSWER hi"}])
        check(False, "the impatient client timed out")
    except openai.APITimeoutError:
        pass
    aborted = []
    for _ in range(50):
        aborted = [e for e in events(moat, "gateway.request") if e["details"].get("outcome") == "aborted"]
        if aborted:
            break
        time.sleep(0.1)
    check(len(aborted) == 1 and aborted[0]["details"]["requested_seq"], "an abandoned request has an aborted outcome beside its requested event")
