"""The LLM gateway with the official `openai` and `anthropic` Python SDKs.

Runs a real `moat serve` with its own configuration: two indexed git repositories
(`claims`, internal and tagged `phi`; `vault`, restricted), vendors and pinned models.
The vendors point at `standin-vendor`, a local server speaking OpenAI's and Anthropic's
documented wire formats, because no machine here can reach the real APIs; it records
what it receives, which is how this test checks what left.

Usage: gateway_sdks.py MOAT_BINARY STANDIN_BINARY [CODEX_BINARY]
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import urllib.request

import anthropic
import openai

SECRET = "AKIAQ3EGRBJXZ7KLMN4P"

CLAIMS = textwrap.dedent(
    """\
    /// Decides whether a claim is payable under the member's plan.
    pub fn adjudicate(claim: &Claim, plan: &Plan) -> Result<Payable, Denial> {
        let member = plan.member(claim.member_id).ok_or(Denial::UnknownMember)?;
        if !member.active_on(claim.service_date) {
            return Err(Denial::NotCovered { reason: "inactive".into() });
        }
        let allowed = plan.fee_schedule.allowed(claim.procedure_code, claim.units);
        let copay = member.copay_for(claim.procedure_code).min(allowed);
        Ok(Payable { amount: allowed - copay, copay, deductible_applied: false })
    }
    """
)

VAULT = textwrap.dedent(
    """\
    /// Derives the tenant master key from the hardware root.
    pub fn derive_master_key(root: &HsmHandle, tenant: TenantId) -> Result<MasterKey, HsmError> {
        let label = format!("tenant/{}/master", tenant.as_uuid());
        let wrapped = root.derive(KeyDerivation::HkdfSha384 { label: label.as_bytes(), length: 48 })?;
        let key = MasterKey::unwrap_from(&wrapped, root.attestation()?)?;
        audit_key_event(tenant, KeyEvent::Derived { fingerprint: key.fingerprint() });
        Ok(key)
    }
    """
)


def check(condition, message):
    if not condition:
        raise SystemExit(f"FAIL: {message}")
    print(f"ok: {message}")


def git_repo(root, name, text):
    path = os.path.join(root, name)
    os.makedirs(os.path.join(path, "src"))
    with open(os.path.join(path, "src", "lib.rs"), "w") as f:
        f.write(text)
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
    )
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "first"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True)
    return path


def config(root, vendor_url):
    claims = git_repo(root, "claims", CLAIMS)
    vault = git_repo(root, "vault", VAULT)
    return textwrap.dedent(
        f"""\
        [org]
        name = "Interop Health"

        [[repos]]
        name = "claims"
        source = {json.dumps(claims)}
        tier = "internal"
        tags = ["phi"]
        permissions = "static"

        [[repos]]
        name = "vault"
        source = {json.dumps(vault)}
        tier = "restricted"
        permissions = "static"

        [permissions.static]
        grants = [{{ repos = ["*"], teams = ["engineering"] }}]

        [[vendors]]
        name = "anthropic"
        kind = "anthropic"
        base_url = "{vendor_url}"
        key_env = "STANDIN_ANTHROPIC_KEY"
        region = "us"
        attestations = {{ soc2_type2 = true, dpa = true }}

        [[vendors]]
        name = "anthropic-hipaa"
        kind = "anthropic"
        base_url = "{vendor_url}"
        key_env = "STANDIN_ANTHROPIC_KEY"
        region = "us"
        attestations = {{ soc2_type2 = true, dpa = true, baa = true, zero_retention = true }}

        [[vendors]]
        name = "openai"
        kind = "openai"
        base_url = "{vendor_url}"
        key_env = "STANDIN_OPENAI_KEY"
        region = "us"
        attestations = {{ soc2_type2 = true, dpa = true }}

        [[vendors]]
        name = "on-prem"
        kind = "openai-compatible"
        base_url = "{vendor_url}"
        key_env = "STANDIN_OPENAI_KEY"
        region = "us"
        on_prem = true

        [[vendors]]
        name = "azure"
        kind = "azure-openai"
        base_url = "{vendor_url}"
        key_env = "STANDIN_OPENAI_KEY"
        api_version = "2024-10-21"
        region = "us"
        attestations = {{ soc2_type2 = true, dpa = true }}

        [[vendors]]
        name = "bedrock"
        kind = "bedrock"
        base_url = "{vendor_url}"
        aws_region = "us-east-1"
        region = "us"
        attestations = {{ soc2_type2 = true, dpa = true }}

        [[vendors]]
        name = "vertex"
        kind = "vertex"
        base_url = "{vendor_url}"
        gcp_project = "standin-project"
        gcp_location = "us-east5"
        credentials_file = "{root}/vertex-key.json"
        region = "us"
        attestations = {{ soc2_type2 = true, dpa = true }}

        [[models]]
        alias = "claude"
        vendor = "anthropic"
        version = "claude-sonnet-4-5-20250929"

        [[models]]
        alias = "claude-hipaa"
        vendor = "anthropic-hipaa"
        version = "claude-sonnet-4-5-20250929"

        [[models]]
        alias = "gpt"
        vendor = "openai"
        version = "gpt-4.1-2025-04-14"

        [[models]]
        alias = "local"
        vendor = "on-prem"
        version = "qwen2.5-coder-32b-instruct"

        [[models]]
        alias = "claude-vertex"
        vendor = "vertex"
        version = "claude-sonnet-4-5@20250929"

        [[models]]
        alias = "gemini"
        vendor = "vertex"
        version = "gemini-2.5-pro"

        [[models]]
        alias = "claude-bedrock"
        vendor = "bedrock"
        version = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"

        [[models]]
        alias = "llama-bedrock"
        vendor = "bedrock"
        version = "meta.llama3-1-70b-instruct-v1:0"

        [[models]]
        alias = "azure-gpt"
        vendor = "azure"
        version = "gpt-4o-prod"

        [[models]]
        alias = "codex"
        vendor = "openai"
        version = "gpt-5-codex"
        api = "responses"

        [gateway]
        max_prompt_bytes = 65536
        redact_answers = true

        [gateway.teams.interns]
        requests_per_minute = 2
        """
    )


def moat(binary, config_path, *args):
    result = subprocess.run(
        [binary, "--config", config_path, *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, MOAT_LOG="warn"),
    )
    if result.returncode != 0:
        raise SystemExit(f"moat {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def start(command, env, prefix):
    """Starts a server that prints `<prefix>http://ADDR` and returns (process, url)."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    line = process.stdout.readline()
    if not line.startswith(prefix):
        process.kill()
        raise SystemExit(f"{command[0]} did not start: {line!r} {process.stderr.read()}")
    return process, line[len(prefix) :].strip()


def recorded(vendor_url):
    with urllib.request.urlopen(f"{vendor_url}/_standin/requests") as response:
        return json.load(response)


def clear(vendor_url):
    request = urllib.request.Request(f"{vendor_url}/_standin/requests", method="DELETE")
    urllib.request.urlopen(request).close()


def main():
    moat_binary, standin_binary = sys.argv[1], sys.argv[2]
    root = tempfile.mkdtemp(prefix="moat-gateway-")
    env = dict(
        os.environ,
        MOAT_LOG="warn",
        STANDIN_ANTHROPIC_KEY="sk-ant-org-key",
        STANDIN_OPENAI_KEY="sk-org-key",
        # Bedrock's keys, from the environment as AWS's tools read them (the ones the
        # stand-in checks signatures with); no instance metadata service here.
        AWS_ACCESS_KEY_ID="AKIASTANDINBEDROCK01",
        AWS_SECRET_ACCESS_KEY="standin/bedrock/secret/access/key/0000000",
        AWS_EC2_METADATA_DISABLED="true",
    )
    vendor, vendor_url = start([standin_binary], env, "listening on ")
    server = None
    try:
        config_path = os.path.join(root, "moat.toml")
        with open(config_path, "w") as f:
            f.write(config(root, vendor_url))
        # The stand-in's test service account (its key made for these tests only), its
        # token endpoint the stand-in's.
        pem = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../crates/standin-vendor/src/vertex/test-service-account.pem")
        with open(pem) as key, open(os.path.join(root, "vertex-key.json"), "w") as f:
            json.dump({
                "type": "service_account", "project_id": "standin-project", "private_key_id": "standin-key-1",
                "private_key": key.read(), "client_email": "moat-gateway@standin-project.iam.gserviceaccount.com",
                "token_uri": f"{vendor_url}/token",
            }, f)
        moat(moat_binary, config_path, "index")
        moat(moat_binary, config_path, "user", "add", "dev@example.com", "--team", "engineering")
        moat(moat_binary, config_path, "user", "add", "intern@example.com", "--team", "interns")
        tokens = {}
        for email in ("dev@example.com", "intern@example.com"):
            issued = json.loads(
                moat(moat_binary, config_path, "token", "issue", "--user", email, "--scope", "gateway", "--json")
            )
            tokens[email] = issued["secret"]
        server, url = start(
            [moat_binary, "--config", config_path, "serve", "--listen", "127.0.0.1:0"],
            env,
            "moat listening on ",
        )
        dev = tokens["dev@example.com"]
        run_checks(url, vendor_url, dev, tokens["intern@example.com"])
        if len(sys.argv) > 3:
            codex_exec(sys.argv[3], root, url, vendor_url, dev)
        provenance(moat_binary, config_path, root, url, dev)
        gateway_metrics(url)
    finally:
        for process in (server, vendor):
            if process is not None:
                process.terminate()
                process.wait(timeout=10)
    print("gateway interop: all checks passed")


def run_checks(url, vendor_url, dev, intern):
    claude = anthropic.Anthropic(base_url=url, auth_token=dev, api_key=None, max_retries=0)
    gpt = openai.OpenAI(base_url=f"{url}/v1", api_key=dev, max_retries=0)

    # Plain requests: the alias arrives as the pinned version; the planted secret never
    # reaches the vendor; the caller's Moat token is not passed on.
    message = claude.messages.create(
        model="claude",
        max_tokens=64,
        messages=[{"role": "user", "content": f"deploy with {SECRET}"}],
    )
    check(message.content[0].text.startswith("echo: deploy with [REDACTED:"), "anthropic: plain answer, secret redacted")
    completion = gpt.chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": f"my key is {SECRET}"}]
    )
    check(completion.choices[0].message.content.startswith("echo: my key is [REDACTED:"), "openai: plain answer, secret redacted")
    check(completion.usage.prompt_tokens > 0, "openai: usage passes through")
    seen = recorded(vendor_url)
    check(len(seen) == 2, "the vendor received two requests")
    check(all(SECRET not in r["raw_body"] for r in seen), "the planted secret never reached the vendor")
    check(seen[0]["body"]["model"] == "claude-sonnet-4-5-20250929", "anthropic alias arrives as the pinned version")
    check(seen[1]["body"]["model"] == "gpt-4.1-2025-04-14", "openai alias arrives as the pinned version")
    check(all(dev not in json.dumps(r) for r in seen), "the Moat token never reaches the vendor")
    check(seen[1]["headers"].get("authorization") == "Bearer sk-org-key", "the vendor gets the organisation's key")

    # Streaming, with tool calls.
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}]
    with claude.messages.stream(
        model="claude",
        max_tokens=64,
        tools=tools,
        messages=[{"role": "user", "content": "STANDIN_TOOL weather in Paris"}],
    ) as stream:
        final = stream.get_final_message()
    check(final.stop_reason == "tool_use" and final.content[0].name == "get_weather", "anthropic: streamed tool use")
    text = ""
    with claude.messages.stream(
        model="claude", max_tokens=64, messages=[{"role": "user", "content": "hello stream"}]
    ) as stream:
        for piece in stream.text_stream:
            text += piece
    check(text == "echo: hello stream", "anthropic: streamed text")
    chunks = list(
        gpt.chat.completions.create(
            model="gpt",
            stream=True,
            stream_options={"include_usage": True},
            tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
            messages=[{"role": "user", "content": "STANDIN_TOOL weather"}],
        )
    )
    names = [
        c.choices[0].delta.tool_calls[0].function.name
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls and c.choices[0].delta.tool_calls[0].function.name
    ]
    check(names == ["get_weather"], "openai: streamed tool call")
    check(chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0, "openai: stream ends with usage")

    # Azure OpenAI behind the same OpenAI client: the deployment and API version in the
    # path, the key as `api-key`.
    clear(vendor_url)
    answer = gpt.chat.completions.create(model="azure-gpt", messages=[{"role": "user", "content": "hi azure"}])
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in gpt.chat.completions.create(model="azure-gpt", stream=True, messages=[{"role": "user", "content": "hi azure"}])
        if c.choices
    )
    vectors = gpt.embeddings.create(model="azure-gpt", input="hi azure")
    seen = recorded(vendor_url)
    check(
        answer.choices[0].message.content == "echo: hi azure" and streamed == "echo: hi azure" and len(vectors.data) == 1,
        "openai SDK: chat, streams and embeddings through an Azure OpenAI vendor",
    )
    check(
        [r["path"] for r in seen] == [
            "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21",
            "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21",
            "/openai/deployments/gpt-4o-prod/embeddings?api-version=2024-10-21",
        ] and all(r["headers"].get("api-key") == "sk-org-key" and "authorization" not in r["headers"] for r in seen),
        "azure: deployment, api-version and api-key as Azure wants them",
    )

    # What a model writes is redacted before the SDK sees it, streamed seven characters
    # at a time included, and in a tool call's arguments.
    written = "AKIAZ7VQ2MXR4HT8PLWN"
    message = claude.messages.create(model="claude", max_tokens=64, messages=[{"role": "user", "content": "STANDIN_WRITE_SECRET"}])
    check(written not in message.content[0].text and "[REDACTED:private-key-rsa:" in message.content[0].text, "anthropic: a secret the model wrote is redacted")
    text = ""
    with claude.messages.stream(model="claude", max_tokens=64, messages=[{"role": "user", "content": "STANDIN_WRITE_SECRET"}]) as stream:
        for piece in stream.text_stream:
            text += piece
    check(written not in text and "[REDACTED:aws-access-key-id:" in text and text.endswith("```\n"), "anthropic: a streamed secret is redacted whole")
    with claude.messages.stream(
        model="claude", max_tokens=64, tools=tools,
        messages=[{"role": "user", "content": "STANDIN_TOOL STANDIN_WRITE_SECRET"}],
    ) as stream:
        final = stream.get_final_message()
    content = final.content[0].input["content"]
    check(written not in content and "[REDACTED:private-key-rsa:" in content, "anthropic: a streamed tool call's arguments are redacted")
    text = "".join(
        c.choices[0].delta.content or ""
        for c in gpt.chat.completions.create(
            model="gpt", stream=True, messages=[{"role": "user", "content": "STANDIN_WRITE_SECRET"}]
        )
        if c.choices
    )
    check(written not in text and "[REDACTED:aws-access-key-id:" in text, "openai: a streamed secret is redacted whole")
    arguments = ""
    for c in gpt.chat.completions.create(
        model="gpt", stream=True,
        tools=[{"type": "function", "function": {"name": "write_file", "parameters": {"type": "object"}}}],
        messages=[{"role": "user", "content": "STANDIN_TOOL STANDIN_WRITE_SECRET"}],
    ):
        if c.choices and c.choices[0].delta.tool_calls:
            arguments += c.choices[0].delta.tool_calls[0].function.arguments or ""
    check(written not in json.loads(arguments)["content"], "openai: a streamed tool call's arguments are redacted")

    # Classification-aware egress.
    clear(vendor_url)
    prompt = f"Why is the copay wrong?\n```rust\n{CLAIMS}```"
    try:
        claude.messages.create(model="claude", max_tokens=64, messages=[{"role": "user", "content": prompt}])
        check(False, "phi code to a vendor without a BAA is refused")
    except anthropic.PermissionDeniedError as error:
        body = error.body["error"]["message"]
        check("`claims`" in body and "baa" in body, f"phi code to a vendor without a BAA is refused: {body}")
    check(recorded(vendor_url) == [], "nothing reached the vendor")
    message = claude.messages.create(
        model="claude-hipaa", max_tokens=64, messages=[{"role": "user", "content": prompt}]
    )
    check(message.content[0].text.startswith("echo:"), "the same prompt to a vendor with a BAA is allowed")
    vault_prompt = f"refactor:\n{VAULT}"
    try:
        gpt.chat.completions.create(model="gpt", messages=[{"role": "user", "content": vault_prompt}])
        check(False, "restricted code to a cloud vendor is refused")
    except openai.PermissionDeniedError as error:
        check("on-premises" in str(error), "restricted code to a cloud vendor is refused")
    local = gpt.chat.completions.create(model="local", messages=[{"role": "user", "content": vault_prompt}])
    check(local.choices[0].message.content.startswith("echo:"), "restricted code to the on-premises vendor is allowed")

    # Embeddings through the same pipeline, with the SDK's own defaults (it asks for
    # base64 and decodes it): redacted, held to the same egress rules.
    clear(vendor_url)
    embedded = gpt.embeddings.create(model="gpt", input=[f"key {SECRET}", "plain words"])
    check(
        len(embedded.data) == 2 and len(embedded.data[1].embedding) == 8 and embedded.usage.prompt_tokens > 0,
        "openai: embeddings answered and decoded by the SDK",
    )
    seen = recorded(vendor_url)
    check(
        len(seen) == 1 and seen[0]["path"] == "/v1/embeddings" and SECRET not in seen[0]["raw_body"],
        "embeddings: the planted secret never reached the vendor",
    )
    try:
        gpt.embeddings.create(model="gpt", input=vault_prompt)
        check(False, "restricted code to a cloud vendor is refused as embeddings too")
    except openai.PermissionDeniedError as error:
        check("on-premises" in str(error), "restricted code to a cloud vendor is refused as embeddings too")
    vectors = gpt.embeddings.create(model="local", input=vault_prompt, encoding_format="float", dimensions=4)
    check(len(vectors.data[0].embedding) == 4, "restricted code embedded on premises, as floats")
    try:
        gpt.embeddings.create(model="gpt", input=[[1734, 2201]])
        check(False, "token ids are refused")
    except openai.BadRequestError as error:
        check("token ids" in str(error), "embeddings: token ids are refused, saying why")

    # Translation: the anthropic SDK (as Claude Code) on an OpenAI-format model, the
    # openai SDK (as Cursor) on an Anthropic one, tools and streams included.
    clear(vendor_url)
    message = claude.messages.create(model="gpt", max_tokens=64, messages=[{"role": "user", "content": f"key {SECRET}"}])
    check(message.content[0].text.startswith("echo: key [REDACTED:") and message.usage.input_tokens > 0, "anthropic SDK on an OpenAI-format model")
    with claude.messages.stream(
        model="gpt", max_tokens=64, tools=tools,
        messages=[{"role": "user", "content": "STANDIN_TOOL weather in Paris"}],
    ) as stream:
        final = stream.get_final_message()
    check(final.stop_reason == "tool_use" and final.content[0].name == "get_weather"
          and final.content[0].input == {"echo": "STANDIN_TOOL weather in Paris"}, "anthropic SDK: a streamed tool use from an OpenAI-format model")
    seen = recorded(vendor_url)
    check([r["path"] for r in seen] == ["/v1/chat/completions", "/v1/chat/completions"] and all(SECRET not in r["raw_body"] for r in seen),
          "translated requests reach the OpenAI-format vendor in its format, redacted")
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in gpt.chat.completions.create(model="claude", stream=True, messages=[{"role": "user", "content": "hello claude"}])
        if c.choices
    )
    called = gpt.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "STANDIN_TOOL weather"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    )
    check(streamed == "echo: hello claude" and called.choices[0].message.tool_calls[0].function.name == "get_weather"
          and called.choices[0].finish_reason == "tool_calls", "openai SDK on an Anthropic model, streamed and with a tool call")

    # Amazon Bedrock behind the anthropic SDK: signed with the environment's AWS keys
    # (the stand-in checks the signature), streamed back from event-stream frames.
    clear(vendor_url)
    message = claude.messages.create(model="claude-bedrock", max_tokens=64, messages=[{"role": "user", "content": f"key {SECRET}"}])
    text = ""
    with claude.messages.stream(model="claude-bedrock", max_tokens=64, messages=[{"role": "user", "content": "hello bedrock"}]) as stream:
        for piece in stream.text_stream:
            text += piece
    seen = recorded(vendor_url)
    check(
        message.content[0].text.startswith("echo: key [REDACTED:") and text == "echo: hello bedrock"
        and [r["path"] for r in seen] == [
            "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke",
            "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream",
        ] and all(r["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIASTANDINBEDROCK01/") for r in seen),
        "anthropic SDK: Bedrock, signed with the environment's AWS keys, whole and streamed",
    )
    # Bedrock's other models through Converse, behind both SDKs.
    clear(vendor_url)
    message = claude.messages.create(model="llama-bedrock", max_tokens=64, messages=[{"role": "user", "content": f"key {SECRET}"}])
    text = ""
    with claude.messages.stream(model="llama-bedrock", max_tokens=64, messages=[{"role": "user", "content": "hello llama"}]) as stream:
        for piece in stream.text_stream:
            text += piece
    called = list(gpt.chat.completions.create(
        model="llama-bedrock", stream=True, messages=[{"role": "user", "content": "STANDIN_TOOL weather"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}],
    ))
    arguments = "".join(c.choices[0].delta.tool_calls[0].function.arguments or "" for c in called if c.choices and c.choices[0].delta.tool_calls)
    seen = recorded(vendor_url)
    check(
        message.content[0].text.startswith("echo: key [REDACTED:") and text == "echo: hello llama"
        and json.loads(arguments)["echo"] == "STANDIN_TOOL weather"
        and [r["path"].rsplit("/", 1)[1] for r in seen] == ["converse", "converse-stream", "converse-stream"]
        and all(SECRET not in r["raw_body"] for r in seen),
        "both SDKs: a Bedrock model of another maker through Converse, whole, streamed, with a tool call",
    )

    # A model served only through the Responses API, behind both SDKs' other formats:
    # Messages and Chat Completions translated into it, nothing kept at the vendor.
    clear(vendor_url)
    message = claude.messages.create(model="codex", max_tokens=64, messages=[{"role": "user", "content": f"key {SECRET}"}])
    text = ""
    with claude.messages.stream(model="codex", max_tokens=64, messages=[{"role": "user", "content": "hello codex"}]) as stream:
        for piece in stream.text_stream:
            text += piece
    called = list(gpt.chat.completions.create(
        model="codex", stream=True, messages=[{"role": "user", "content": "STANDIN_TOOL weather"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}],
    ))
    arguments = "".join(c.choices[0].delta.tool_calls[0].function.arguments or "" for c in called if c.choices and c.choices[0].delta.tool_calls)
    seen = recorded(vendor_url)
    check(
        message.content[0].text.startswith("echo: key [REDACTED:") and text == "echo: hello codex"
        and json.loads(arguments)["echo"] == "STANDIN_TOOL weather"
        and [r["path"] for r in seen] == ["/v1/responses"] * 3
        and all(r["body"]["model"] == "gpt-5-codex" and r["body"]["store"] is False and SECRET not in r["raw_body"] for r in seen),
        "both SDKs: a Responses-only model for Messages and Chat Completions clients, whole, streamed, with a tool call",
    )

    # Google Vertex AI behind the anthropic SDK: the service account's token had from the
    # stand-in's token endpoint (which checks the signed JWT), then rawPredict.
    clear(vendor_url)
    message = claude.messages.create(model="claude-vertex", max_tokens=64, messages=[{"role": "user", "content": "hello vertex"}])
    seen = recorded(vendor_url)
    check(
        message.content[0].text == "echo: hello vertex" and [r["path"] for r in seen] == [
            "/token", "/v1/projects/standin-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict",
        ] and seen[1]["headers"]["authorization"].startswith("Bearer ya29."),
        "anthropic SDK: Vertex AI with a service account's token",
    )
    # Gemini on Vertex AI through generateContent, behind both SDKs.
    clear(vendor_url)
    message = claude.messages.create(model="gemini", max_tokens=64, messages=[{"role": "user", "content": f"key {SECRET}"}])
    text = ""
    with claude.messages.stream(model="gemini", max_tokens=64, messages=[{"role": "user", "content": "hello gemini"}]) as stream:
        for piece in stream.text_stream:
            text += piece
    completion = gpt.chat.completions.create(model="gemini", messages=[{"role": "user", "content": "STANDIN_TOOL weather"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}])
    seen = [r for r in recorded(vendor_url) if r["path"] != "/token"]
    check(
        message.content[0].text.startswith("echo: key [REDACTED:") and text == "echo: hello gemini"
        and completion.choices[0].message.tool_calls[0].function.name == "get_weather"
        and [r["path"].rsplit(":", 1)[1] for r in seen] == ["generateContent", "streamGenerateContent?alt=sse", "generateContent"]
        and all(SECRET not in r["raw_body"] for r in seen),
        "both SDKs: Gemini on Vertex AI, whole, streamed, with a function call",
    )

    # The Responses API (what Codex CLI speaks) through the same pipeline: redacted,
    # never kept at the vendor unless the model allows it, streamed as typed events.
    clear(vendor_url)
    response = gpt.responses.create(model="gpt", instructions=f"deploy with {SECRET}", input=f"my key is {SECRET}")
    check(response.output_text.startswith("echo: my key is [REDACTED:"), "openai: responses.create, secret redacted")
    check(response.usage.input_tokens > 0 and response.usage.output_tokens > 0, "responses: usage passes through")
    seen = recorded(vendor_url)
    check(
        len(seen) == 1 and seen[0]["path"] == "/v1/responses" and seen[0]["body"]["store"] is False
        and SECRET not in seen[0]["raw_body"] and seen[0]["body"]["model"] == "gpt-4.1-2025-04-14",
        "responses: pinned, redacted, and store sent false",
    )
    deltas = ""
    with gpt.responses.stream(model="gpt", input="hello responses") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas += event.delta
        final = stream.get_final_response()
    check(deltas == "echo: hello responses" and final.output_text == deltas, "openai: responses.stream, typed events and the final response")
    called = gpt.responses.create(
        model="gpt", input="STANDIN_TOOL weather",
        tools=[{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}],
    )
    check(called.output[0].type == "function_call" and called.output[0].name == "get_weather", "openai: responses tool call")
    events = list(gpt.responses.create(model="gpt", stream=True, input="STANDIN_WRITE_SECRET"))
    streamed = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    completed = events[-1]
    check(
        completed.type == "response.completed" and written not in streamed
        and "[REDACTED:aws-access-key-id:" in streamed and completed.response.output_text == streamed,
        "openai: a secret a model writes in a Responses stream is redacted, the same in every event",
    )
    for kwargs, says in (({"store": True}, "store"), ({"model": "claude", "reasoning": {"effort": "high"}}, "`reasoning.effort` has no counterpart")):
        try:
            gpt.responses.create(**{"model": "gpt", "input": "hi", **kwargs})
            check(False, f"responses: {says} is refused")
        except openai.BadRequestError as error:
            check(says in str(error), f"responses: {says} is refused, saying why")
    # The Responses API on Anthropic-format models (Anthropic, Bedrock, Vertex): the
    # request as Messages, the answer and its stream as the Responses API's.
    for model, path in (("claude", "/v1/messages"), ("claude-bedrock", "invoke-with-response-stream"), ("claude-vertex", "streamRawPredict")):
        clear(vendor_url)
        translated = gpt.responses.create(model=model, instructions="be brief", input=f"my key is {SECRET}")
        check(translated.output_text.startswith("echo: my key is [REDACTED:") and translated.usage.output_tokens > 0,
              f"openai SDK: responses.create on {model}, an Anthropic-format model")
        deltas = ""
        with gpt.responses.stream(model=model, input="STANDIN_TOOL weather", tools=[
            {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}
        ]) as stream:
            for event in stream:
                if event.type == "response.function_call_arguments.delta":
                    deltas += event.delta
            final = stream.get_final_response()
        call = [item for item in final.output if item.type == "function_call"]
        seen = recorded(vendor_url)
        check(
            len(call) == 1 and call[0].name == "get_weather" and call[0].arguments == deltas
            and json.loads(deltas)["echo"] == "STANDIN_TOOL weather" and any(path in r["path"] for r in seen)
            and all(SECRET not in r["raw_body"] for r in seen),
            f"openai SDK: responses.stream with a tool call on {model}, typed events and the final response",
        )
    clear(vendor_url)
    azure = gpt.responses.create(model="azure-gpt", input="hi azure")
    seen = recorded(vendor_url)
    check(
        azure.output_text == "echo: hi azure" and seen[0]["path"] == "/openai/responses?api-version=2024-10-21"
        and seen[0]["body"]["model"] == "gpt-4o-prod" and seen[0]["headers"].get("api-key") == "sk-org-key",
        "openai SDK: responses through an Azure OpenAI vendor",
    )

    # Allowlist, budgets and rate limits.
    try:
        gpt.chat.completions.create(model="gpt-5-latest", messages=[{"role": "user", "content": "hi"}])
        check(False, "an unlisted model is refused")
    except openai.PermissionDeniedError as error:
        check("claude, claude-hipaa, gpt, local" in str(error), "an unlisted model is refused, naming the allowed ones")
    models = [m.id for m in gpt.models.list()]
    check(models == ["claude", "claude-hipaa", "gpt", "local", "claude-vertex", "gemini", "claude-bedrock", "llama-bedrock", "azure-gpt", "codex"], "models lists what the caller may use")
    limited = openai.OpenAI(base_url=f"{url}/v1", api_key=intern, max_retries=0)
    for _ in range(2):
        limited.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}])
    try:
        limited.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}])
        check(False, "the third request in a minute is refused")
    except openai.RateLimitError as error:
        retry = int(error.response.headers["retry-after"])
        check(1 <= retry <= 60, f"rate limit answers 429 with Retry-After {retry}")

    # A vendor failure mid-stream ends the client's stream with a well-formed error.
    try:
        for _ in gpt.chat.completions.create(
            model="gpt", stream=True, messages=[{"role": "user", "content": "STANDIN_FAIL_MIDSTREAM"}]
        ):
            pass
        check(False, "openai: a broken vendor stream raises")
    except openai.APIError as error:
        check("vendor" in str(error), f"openai: a broken vendor stream raises APIError: {error}")
    try:
        with claude.messages.stream(
            model="claude", max_tokens=64, messages=[{"role": "user", "content": "STANDIN_FAIL_MIDSTREAM"}]
        ) as stream:
            for _ in stream.text_stream:
                pass
        check(False, "anthropic: a broken vendor stream raises")
    except anthropic.APIStatusError as error:
        check("vendor" in str(error), f"anthropic: a broken vendor stream raises: {error}")

    # Malformed requests get the client format's own error and reach no vendor.
    clear(vendor_url)
    try:
        gpt.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x"}], max_tokens="many")
        check(False, "a field of the wrong type is refused")
    except openai.BadRequestError as error:
        check("max_tokens" in str(error), "openai: a field of the wrong type is a 400 in OpenAI's shape")
    try:
        claude.messages.create(model="claude", max_tokens=64, messages=[{"role": "user", "content": "x" * 70000}])
        check(False, "an oversized prompt is refused")
    except anthropic.APIStatusError as error:
        check(error.status_code == 413 and error.body["type"] == "error", "anthropic: an oversized prompt is a 413 in Anthropic's shape")
    request = urllib.request.Request(
        f"{url}/v1/messages",
        data=b'{"model": "claude", "messages": [',
        headers={"x-api-key": dev, "content-type": "application/json", "anthropic-version": "2023-06-01"},
        method="POST",
    )
    try:
        urllib.request.urlopen(request)
        check(False, "malformed JSON is refused")
    except urllib.error.HTTPError as error:
        body = json.load(error)
        check(error.code == 400 and body["error"]["type"] == "invalid_request_error", "malformed JSON is a 400 in Anthropic's shape")
    check(recorded(vendor_url) == [], "nothing malformed reached the vendor")
    try:
        anthropic.Anthropic(base_url=url, api_key="moat_wrong", max_retries=0).messages.create(
            model="claude", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
        check(False, "a bad token is refused")
    except anthropic.AuthenticationError:
        check(True, "a bad token is a 401 the SDK recognises")


def codex_exec(codex, root, url, vendor_url, dev):
    """Codex CLI (`codex exec`, headless) pointed at Moat's /v1 with the Responses API:
    its own requests (developer instructions, a `namespace` of tools, client metadata,
    encrypted reasoning asked back) pass the same checks; what it is told and what the
    model writes are redacted; a model Moat does not translate to is refused, saying so."""
    home = os.path.join(root, "codex-home")
    os.makedirs(home, exist_ok=True)
    with open(os.path.join(home, "config.toml"), "w") as f:
        # The vendor's own web search is an option no model here allows: off.
        f.write(textwrap.dedent(f"""\
            model = "gpt"
            model_provider = "moat"
            web_search = "disabled"

            [model_providers.moat]
            name = "Moat"
            base_url = "{url}/v1"
            env_key = "MOAT_TOKEN"
            wire_api = "responses"
            """))
    work = os.path.join(root, "codex-work")
    os.makedirs(work, exist_ok=True)

    def run(prompt, model=None):
        args = [os.path.abspath(codex), "exec", "--skip-git-repo-check", "--json"] + (["--model", model] if model else []) + [prompt]
        done = subprocess.run(
            args, cwd=work, env=dict(os.environ, CODEX_HOME=home, MOAT_TOKEN=dev),
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180,
        )
        events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        return done.returncode, events, done.stderr

    def said(events):
        return [e["item"]["text"] for e in events if e.get("type") == "item.completed" and e["item"].get("type") == "agent_message"]

    clear(vendor_url)
    code, events, stderr = run(f"deploy with {SECRET}")
    check(code == 0, f"codex exec through Moat ends well: {stderr[-2000:]}")
    answers = said(events)
    check(len(answers) == 1 and answers[0].startswith("echo: deploy with [REDACTED:aws-access-key-id:"), f"codex: the answer, the secret it was told redacted: {answers}")
    seen = recorded(vendor_url)
    check(
        len(seen) >= 1 and all(r["path"] == "/v1/responses" and r["body"]["store"] is False and SECRET not in r["raw_body"]
                               and r["body"]["model"] == "gpt-4.1-2025-04-14" for r in seen),
        "codex: its requests reach the vendor pinned, redacted and not kept",
    )
    code, events, stderr = run("STANDIN_WRITE_SECRET")
    answers = said(events)
    check(
        code == 0 and len(answers) == 1 and "AKIAZ7VQ2MXR4HT8PLWN" not in answers[0] and "[REDACTED:aws-access-key-id:" in answers[0],
        f"codex: a secret the model writes is redacted in the stream it reads: {answers}",
    )
    # On an Anthropic-format model, translated: the same answer, the request Messages.
    clear(vendor_url)
    code, events, stderr = run(f"deploy with {SECRET}", model="claude")
    answers = said(events)
    # Codex's environment context and the prompt are two user messages: one turn here.
    check(code == 0 and len(answers) == 1 and answers[0].startswith("echo: <environment_context>")
          and "\ndeploy with [REDACTED:aws-access-key-id:" in answers[0] and SECRET not in answers[0],
          f"codex on an Anthropic model: the answer, the secret redacted: {answers} {stderr[-2000:]}")
    seen = recorded(vendor_url)
    check(
        len(seen) >= 1 and all(r["path"] == "/v1/messages" and SECRET not in r["raw_body"]
                               and r["body"]["model"] == "claude-sonnet-4-5-20250929" and r["body"]["tools"] for r in seen),
        f"codex on an Anthropic model: Messages requests, pinned, redacted, its tools passed on: {[r['path'] for r in seen]}",
    )
    # A tool call the model makes is run by Codex, and its output goes back.
    clear(vendor_url)
    code, events, stderr = run("STANDIN_TOOL list the files", model="claude")
    seen = recorded(vendor_url)
    check(
        len(seen) >= 2 and any(b.get("type") == "tool_result" for m in seen[-1]["body"]["messages"] for b in (m["content"] if isinstance(m["content"], list) else [])),
        f"codex on an Anthropic model: a tool call made, run, and its result sent back: {code} {[e.get('type') for e in events]} {stderr[-1500:]}",
    )


def provenance(moat_binary, config_path, root, url, dev):
    """Code a model wrote, later committed, is reported by `moat scan`; code it only
    repeated from the prompt (the `claims` code pasted above) is not."""
    gpt = openai.OpenAI(base_url=f"{url}/v1", api_key=dev, max_retries=0)
    answer = gpt.chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": "write a backoff helper STANDIN_WRITE_CODE"}]
    )
    code = answer.choices[0].message.content.split("```rust\n")[1].split("```")[0]
    claims = os.path.join(root, "claims")
    with open(os.path.join(claims, "src", "backoff.rs"), "w") as f:
        f.write("// retry helper\n" + code)
    subprocess.run(["git", "add", "-A"], cwd=claims, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "backoff"],
        cwd=claims,
        check=True,
    )
    report = json.loads(moat(moat_binary, config_path, "scan", "claims", "--json"))
    generated = [f for f in report["findings"] if f["rule"] == "ai-generated"]
    check(
        [(f["path"], f["line"], f["model"]) for f in generated]
        == [("src/backoff.rs", 2, "gpt-4.1-2025-04-14")],
        f"moat scan reports the committed code a model wrote, and only that: {generated}",
    )
    # A model writes SQL built by concatenation; a person wrote a shell command from a
    # value. `--ai-only` checks the model's code and fails the build on it; the
    # person's mistake is for `--code`.
    answer = gpt.chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": "list a customer's orders STANDIN_WRITE_VULNERABLE"}]
    )
    code = answer.choices[0].message.content.split("```python\n")[1].split("```")[0]
    with open(os.path.join(claims, "src", "orders.py"), "w") as f:
        f.write(code)
    with open(os.path.join(claims, "src", "legacy.py"), "w") as f:
        f.write("import os\n\ndef backup(path):\n    os.system('tar czf /tmp/backup.tgz ' + path)\n")
    subprocess.run(["git", "add", "-A"], cwd=claims, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "orders"],
        cwd=claims,
        check=True,
    )
    scan = subprocess.run(
        [moat_binary, "--config", config_path, "scan", "claims", "--ai-only", "--format", "sarif", "--fail-on", "high"],
        capture_output=True, text=True, timeout=120,
    )
    check(scan.returncode == 1, f"--ai-only --fail-on high fails on the model's SQL: exit {scan.returncode} {scan.stderr}")
    results = json.loads(scan.stdout)["runs"][0]["results"]
    where = sorted({(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) for r in results})
    check(
        ("py-sql-concatenation", "src/orders.py") in where and all(uri != "src/legacy.py" for _, uri in where),
        f"--ai-only reports the model's files only: {where}",
    )
    rules = json.loads(scan.stdout)["runs"][0]["tool"]["driver"]["rules"]
    sql = [r for r in rules if r["id"] == "py-sql-concatenation"]
    check(sql and "external/cwe/cwe-89" in sql[0]["properties"]["tags"], f"the SARIF rule names its CWE: {sql}")
    everything = json.loads(moat(moat_binary, config_path, "scan", "claims", "--code", "--json", "--fail-on", "never"))
    check(
        any(f["rule"] == "py-shell-os" and f["path"] == "src/legacy.py" for f in everything["findings"]),
        "--code checks every file, the person's too",
    )


def gateway_metrics(url):
    """What the checks above did, as an operator's Prometheus sees it: requests by
    model, vendor, status and outcome, tokens, time to first byte, redactions by rule,
    refusals by reason; promtool accepts the scrape."""
    from metrics_promtool import samples, value

    with urllib.request.urlopen(f"{url}/metrics") as response:
        text = response.read().decode()
    checked = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True)
    check(checked.returncode == 0 and not (checked.stdout + checked.stderr).strip(),
          f"promtool accepts the gateway's metrics: {(checked.stdout + checked.stderr).decode()}")
    found = samples(text)
    check(value(found, "moat_gateway_requests_total", model="claude", vendor="anthropic", status="200", outcome="answered") >= 1,
          "gateway requests by model, vendor, status and outcome")
    check(value(found, "moat_gateway_requests_total", model="gpt", vendor="openai", outcome="answered") >= 1,
          "openai requests counted under their own vendor")
    check(value(found, "moat_gateway_requests_total", model="local", vendor="on-prem", outcome="answered") >= 1,
          "the on-premises vendor counted")
    check(value(found, "moat_gateway_refusals_total", reason="gateway.egress") >= 2,
          "egress refusals by reason (phi without a BAA, restricted code to a cloud vendor)")
    check(value(found, "moat_gateway_refusals_total", reason="gateway.rate-limit") >= 1, "rate-limit refusals")
    check(value(found, "moat_gateway_refusals_total", reason="gateway.model-allowlist") >= 1, "allowlist refusals")
    check(value(found, "moat_gateway_requests_total", model="other", outcome="refused") >= 1,
          "an unlisted model is counted as `other`")
    check("gpt-5-latest" not in text, "a model name a caller typed never becomes a label")
    check(value(found, "moat_gateway_tokens_total", direction="in") > 0 and value(found, "moat_gateway_tokens_total", direction="out") > 0,
          "tokens in and out")
    check(value(found, "moat_gateway_time_to_first_byte_seconds_count", vendor="anthropic") >= 1,
          "time to first byte per vendor")
    check(value(found, "moat_gateway_request_duration_seconds_count") >= 1, "request latency")
    redacted = {l["rule"] for n, l, v in found if n == "moat_redactions_total" and l.get("surface") == "gateway" and v > 0}
    check(bool(redacted), f"redactions by rule: {redacted}")


if __name__ == "__main__":
    main()
