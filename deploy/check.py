"""Validates the deploy files as far as a machine without Docker or a
Kubernetes cluster allows: YAML syntax, the Compose structure (services,
dependencies, anchors resolved), the Kubernetes objects (kinds, selectors,
probes on /readyz and /healthz, a PodDisruptionBudget), the systemd unit's
sections, and that every port and path matches contracts.md."""
import configparser
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).parent
errors = []


def check(cond, message):
    if not cond:
        errors.append(message)


compose = yaml.safe_load((HERE / "compose.yaml").read_text())
services = compose.get("services", {})
for name in ["postgres", "redis", "migrate", "central-a", "central-b", "balancer"]:
    check(name in services, f"compose: service {name} missing")
for name in ["central-a", "central-b"]:
    svc = services.get(name, {})
    env = svc.get("environment", {})
    check(env.get("DATABASE_URL", "").startswith("postgres://"), f"compose: {name} DATABASE_URL")
    check(env.get("REDIS_URL", "").startswith("redis://"), f"compose: {name} REDIS_URL")
    check("/readyz" in " ".join(svc.get("healthcheck", {}).get("test", [])), f"compose: {name} readiness on /readyz")
    for dep in svc.get("depends_on", {}):
        check(dep in services, f"compose: {name} depends on unknown {dep}")
check((HERE / "nginx.conf").exists(), "compose: nginx.conf missing")
check("grpc_pass" in (HERE / "nginx.conf").read_text(), "nginx: gRPC is not proxied")

docs = list(yaml.safe_load_all((HERE / "k8s" / "samu-central.yaml").read_text()))
kinds = {d["kind"]: d for d in docs if d}
for kind in ["ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget"]:
    check(kind in kinds, f"k8s: {kind} missing")
for d in docs:
    check("apiVersion" in d and "metadata" in d and "name" in d["metadata"], f"k8s: {d.get('kind')} lacks apiVersion/metadata.name")
dep = kinds.get("Deployment", {})
pod = dep.get("spec", {}).get("template", {})
check(dep.get("spec", {}).get("selector", {}).get("matchLabels") == pod.get("metadata", {}).get("labels"), "k8s: selector does not match the pod labels")
container = pod.get("spec", {}).get("containers", [{}])[0]
check(container.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", "k8s: readiness probe not on /readyz")
check(container.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", "k8s: liveness probe not on /healthz")
ports = {p["containerPort"] for p in container.get("ports", [])}
check(ports == {50051, 8080}, f"k8s: container ports {ports} != contracts.md 50051/8080")
pdb = kinds.get("PodDisruptionBudget", {})
check(pdb.get("spec", {}).get("selector") == dep.get("spec", {}).get("selector"), "k8s: the PDB does not select the Deployment's pods")

unit = configparser.ConfigParser(strict=False, interpolation=None)
unit.read(HERE / "samu-central.service")
for section in ["Unit", "Service", "Install"]:
    check(unit.has_section(section), f"systemd: [{section}] missing")
check("serve" in unit.get("Service", "ExecStart", fallback=""), "systemd: ExecStart does not serve")

# Transport security: plaintext only when stated (docs/security.md), so
# every deployment states its mode.
for name in ["central-a", "central-b"]:
    env = services.get(name, {}).get("environment", {})
    tls = bool(env.get("SAMU_TLS_CERT")) and bool(env.get("SAMU_TLS_KEY"))
    check(tls or env.get("SAMU_PLAINTEXT") == "1", f"compose: {name} states no TLS mode (SAMU_TLS_CERT+SAMU_TLS_KEY or SAMU_PLAINTEXT=1)")
k8s_env = {e.get("name"): e.get("value") for e in container.get("env", [])}
k8s_tls = bool(k8s_env.get("SAMU_TLS_CERT")) and bool(k8s_env.get("SAMU_TLS_KEY"))
check(k8s_tls or k8s_env.get("SAMU_PLAINTEXT") == "1", "k8s: no TLS mode stated (SAMU_TLS_CERT+SAMU_TLS_KEY or SAMU_PLAINTEXT=1)")
for probe in ["readinessProbe", "livenessProbe"]:
    scheme = container.get(probe, {}).get("httpGet", {}).get("scheme", "HTTP")
    check(scheme == ("HTTPS" if k8s_tls else "HTTP"), f"k8s: {probe} scheme {scheme} does not match the TLS mode")
check("SAMU_TLS_CERT" in (HERE / "samu-central.service").read_text(), "systemd: no TLS mode stated")

dockerfile = (HERE / "Dockerfile").read_text()
check(dockerfile.count("FROM ") >= 2, "Dockerfile: not multi-stage")
check("--locked" in dockerfile, "Dockerfile: build not --locked")

if errors:
    print("\n".join(f"deploy check: {e}" for e in errors))
    sys.exit(1)
print("deploy check: 6 files valid")
