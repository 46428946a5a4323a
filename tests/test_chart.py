"""The Helm chart, rendered and linted by Helm's own engine (helm-python-sdk).

Each notable combination of values is rendered once per module; every rendered
object except CRD-typed ones (ServiceMonitor) is validated strictly against the
Kubernetes OpenAPI schemas; the RBAC rules must be exactly the least set the
operator needs (the DrsJob rules where DrsJobs are watched, the leader-election
rules on the release's Leases alone); bad values must be rejected with a
message that names them. High availability: two replicas with leader election,
RollingUpdate, a PodDisruptionBudget and anti-affinity by default; ``shards``
give one Deployment, Lease, Service and PodDisruptionBudget per shard, whose
selectors put every possible DrsJob into exactly one of them.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from drs_operator.domain.selectors import parse_selector
from drs_operator.engine import settings

ROOT = Path(__file__).resolve().parent.parent
CHART_DIR = ROOT / "charts" / "drs-operator"
RELEASE = "drs"
RELEASE_NS = "ops"
# The oldest version Chart.yaml's kubeVersion admits, and a current one.
KUBE_VERSIONS = ("1.25.0", "1.33.0")
# Kinds kubernetes_validate has no schema for (they come from CRDs).
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}

# The least rules the operator needs: (apiGroup, resource, verb).
EXPECTED_RULES = frozenset(
    {
        ("drs.operators.dev", "drsjobs", "get"),
        ("drs.operators.dev", "drsjobs", "list"),
        ("drs.operators.dev", "drsjobs", "watch"),
        ("drs.operators.dev", "drsjobs/status", "patch"),
        ("", "secrets", "get"),
        ("", "events", "create"),
        ("", "events", "patch"),
    }
)

CREDENTIALS = {
    "create": True,
    "accessKey": "AKEXAMPLE",
    "secretKey": "sk-very-secret",
    "projectId": "0123456789abcdef0123456789abcdef",
    "region": "ap-southeast-1",
}

# name -> values; each is rendered once.
COMBINATIONS: dict[str, dict[str, Any]] = {
    "default": {},
    "cluster-wide": {"clusterWide": True},
    "two-namespaces": {"watchNamespaces": ["team-a", "team-b"]},
    "credentials": {"watchNamespaces": ["team-a", "team-b"], "credentials": CREDENTIALS},
    "credentials-cluster-wide": {
        "clusterWide": True,
        "credentials": {**CREDENTIALS, "name": "drs-quickstart", "namespaces": ["x", "y"]},
    },
    "service-monitor": {
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}
    },
    "prometheus-rule": {"metrics": {"prometheusRule": {"enabled": True, "labels": {"r": "p"}}}},
    "network-policy": {
        "networkPolicy": {
            "enabled": True,
            "ingress": {"metricsFrom": [{"namespaceSelector": {"matchLabels": {"n": "mon"}}}]},
            "egress": {"cidrs": ["10.0.0.0/8", "100.64.0.0/10"], "ports": [443]},
        }
    },
    "pdb": {"replicaCount": 3, "podDisruptionBudget": {"minAvailable": 2}},
    "single-replica": {"replicaCount": 1, "leaderElection": {"enabled": False}},
    "shards": {"shards": ["a", "b"]},
    "shards-cluster-wide": {"shards": ["tenant-x"], "clusterWide": True},
    "scheduling-and-extras": {
        "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
        "extraArgs": ["--log-level", "debug"],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "ops", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a"]}]}
                    ]
                }
            }
        },
        "priorityClassName": "system-cluster-critical",
        "podAnnotations": {"team": "data"},
        "podLabels": {"cost-center": "42"},
        "image": {"pullSecrets": ["regcred"], "tag": "1.2.3"},
        "serviceAccount": {"annotations": {"iam": "x"}},
    },
    "everything-off": {
        "metrics": {"service": {"enabled": False}},
        "rbac": {"create": False},
        "serviceAccount": {"create": False, "name": "preexisting"},
        "podDisruptionBudget": {"enabled": False},
    },
}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def render(chart: helm.Chart, values: dict[str, Any]) -> list[dict[str, Any]]:
    rendered = chart.render(values, name=RELEASE, namespace=RELEASE_NS)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


@pytest.fixture(scope="module")
def manifests(chart: helm.Chart) -> dict[str, list[dict[str, Any]]]:
    return {name: render(chart, values) for name, values in COMBINATIONS.items()}


def only(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    containers = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def env_of(docs: list[dict[str, Any]]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container(docs)["env"]}


def normalised_rules(role: dict[str, Any]) -> set[tuple[str, ...]]:
    """(apiGroup, resource, verb), or (apiGroup, resource, verb, name) for named rules."""
    out: set[tuple[str, ...]] = set()
    for rule in role["rules"]:
        assert set(rule) <= {"apiGroups", "resources", "verbs", "resourceNames"}, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    for name in rule.get("resourceNames") or [None]:
                        out.add((group, resource, verb) + ((name,) if name else ()))
    return out


LEASE_ROLE_SUFFIX = "-leader-election"


def drsjob_roles(docs: list[dict[str, Any]], kind: str = "Role") -> list[dict[str, Any]]:
    return [d for d in of_kind(docs, kind) if not d["metadata"]["name"].endswith(LEASE_ROLE_SUFFIX)]


def lease_rules(*leases: str) -> set[tuple[str, ...]]:
    """Create Leases (not limitable by name), get and update the named ones."""
    group = "coordination.k8s.io"
    named = {(group, "leases", verb, lease) for lease in leases for verb in ("get", "update")}
    return {(group, "leases", "create")} | named


# ----------------------------------------------------------------- lint + schema


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_lint_is_clean_in_strict_mode(combination: str) -> None:
    report = helm.lint(CHART_DIR, COMBINATIONS[combination], strict=True, namespace=RELEASE_NS)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_every_manifest_is_valid_kubernetes(
    manifests: dict[str, list[dict[str, Any]]], combination: str
) -> None:
    docs = manifests[combination]
    assert docs
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
            continue
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def test_every_object_carries_the_standard_labels(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    for name, docs in manifests.items():
        for doc in docs:
            labels = doc["metadata"]["labels"]
            assert labels["app.kubernetes.io/name"] == "drs-operator", (name, doc["kind"])
            assert labels["app.kubernetes.io/instance"] == RELEASE
            assert labels["app.kubernetes.io/managed-by"] == "Helm"
            assert labels["helm.sh/chart"] == "drs-operator-0.1.0"


def test_chart_metadata(chart: helm.Chart) -> None:
    meta = chart.metadata
    assert meta["apiVersion"] == "v2"
    assert meta["kubeVersion"] == ">=1.25.0-0"
    assert meta["appVersion"] == "0.1.0"


# ------------------------------------------------------------------------- RBAC


@pytest.mark.parametrize(
    ("combination", "namespaces"),
    [
        ("default", [RELEASE_NS]),
        ("two-namespaces", ["team-a", "team-b"]),
        ("credentials", ["team-a", "team-b"]),
    ],
)
def test_namespaced_mode_has_a_least_privilege_role_in_each_namespace(
    manifests: dict[str, list[dict[str, Any]]], combination: str, namespaces: list[str]
) -> None:
    docs = manifests[combination]
    assert not of_kind(docs, "ClusterRole") and not of_kind(docs, "ClusterRoleBinding")
    roles = drsjob_roles(docs)
    bindings = drsjob_roles(docs, "RoleBinding")
    assert sorted(r["metadata"]["namespace"] for r in roles) == namespaces
    assert sorted(b["metadata"]["namespace"] for b in bindings) == namespaces
    for role in roles:
        assert normalised_rules(role) == EXPECTED_RULES
    sa = only(docs, "ServiceAccount")
    for binding in bindings:
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": roles[0]["metadata"]["name"],
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": RELEASE_NS}
        ]
    assert env_of(docs)["DRS_OPERATOR_NAMESPACES"] == ",".join(namespaces)
    assert "DRS_OPERATOR_ALL_NAMESPACES" not in env_of(docs)


def test_cluster_wide_mode_has_a_least_privilege_cluster_role(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    docs = manifests["cluster-wide"]
    assert not drsjob_roles(docs) and not drsjob_roles(docs, "RoleBinding")
    role = only(docs, "ClusterRole")
    assert normalised_rules(role) == EXPECTED_RULES
    binding = only(docs, "ClusterRoleBinding")
    assert binding["roleRef"]["kind"] == "ClusterRole"
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "drs-drs-operator", "namespace": RELEASE_NS}
    ]
    env = env_of(docs)
    assert env["DRS_OPERATOR_ALL_NAMESPACES"] == "true"
    assert "DRS_OPERATOR_NAMESPACES" not in env


def test_rbac_and_service_account_can_be_left_to_the_user(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    docs = manifests["everything-off"]
    kinds = {d["kind"] for d in docs}
    assert kinds == {"Deployment"}, "no RBAC at all, the lease Role included"
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "preexisting"


# ------------------------------------------------------------------- Deployment


def test_deployment_shape_and_security(manifests: dict[str, list[dict[str, Any]]]) -> None:
    docs = manifests["default"]
    deployment = only(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2, "a leader and a standby"
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }, "the new pod stands by before the old one releases the Lease"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["serviceAccountName"] == only(docs, "ServiceAccount")["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["runAsGroup"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}

    c = container(docs)
    assert c["image"] == "drs-operator:0.1.0", "the tag defaults to the appVersion"
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert (sc["runAsUser"], sc["runAsGroup"]) == (65532, 65532)
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "args" not in c, "the image's ENTRYPOINT is `drs-operator run`"

    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert c["resources"]["requests"] and c["resources"]["limits"]

    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_operator_settings_cover_every_flag_and_nothing_else(chart: helm.Chart) -> None:
    """values.operator mirrors settings.OPTIONS one to one (camelCase of each flag)."""

    def camel(flag: str) -> str:
        head, *rest = flag.split("-")
        return head + "".join(part.capitalize() for part in rest)

    assert set(chart.values["operator"]) == {camel(o.flag) for o in settings.OPTIONS}


def test_rendered_env_is_accepted_by_the_operator(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    """The Deployment's env, fed to the operator's own settings parser, gives its defaults."""
    env = env_of(manifests["default"])
    for option in settings.OPTIONS:
        if option.flag != "ca-bundle":  # empty by default: left out, the operator default applies
            assert settings.env_name(option.flag) in env, option.flag
    parsed = settings.from_sources(None, env)
    expected = dataclasses.replace(
        settings.Settings(),
        watching=settings.WatchingSettings(namespaces=(RELEASE_NS,), clusterwide=False),
        serving=dataclasses.replace(settings.ServingSettings(), log_format="json"),
        election=dataclasses.replace(
            settings.ElectionSettings(),
            enabled=True,
            lease_name="drs-drs-operator",
            lease_namespace=RELEASE_NS,
        ),
    )
    assert parsed == expected


def test_numbers_are_not_written_in_exponent_form(chart: helm.Chart) -> None:
    docs = render(chart, {"operator": {"maxBodyBytes": 123456789, "rateLimit": 2.5}})
    env = env_of(docs)
    assert env["DRS_OPERATOR_MAX_BODY_BYTES"] == "123456789"
    assert env["DRS_OPERATOR_RATE_LIMIT"] == "2.5"
    parsed = settings.from_sources(None, env)
    assert parsed.http.max_body_bytes == 123456789


def test_config_checksum_follows_the_settings(chart: helm.Chart) -> None:
    def checksum(values: dict[str, Any]) -> str:
        deployment = only(render(chart, values), "Deployment")
        value: str = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        return value

    base = checksum({})
    assert checksum({}) == base
    assert checksum({"operator": {"batchSize": 20}}) != base
    assert checksum({"watchNamespaces": ["other"]}) != base


def test_scheduling_and_extras_reach_the_pod(manifests: dict[str, list[dict[str, Any]]]) -> None:
    docs = manifests["scheduling-and-extras"]
    values = COMBINATIONS["scheduling-and-extras"]
    template = only(docs, "Deployment")["spec"]["template"]
    pod = template["spec"]
    assert pod["nodeSelector"] == values["nodeSelector"]
    assert pod["tolerations"] == values["tolerations"]
    assert pod["affinity"] == values["affinity"]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert template["metadata"]["annotations"]["team"] == "data"
    assert template["metadata"]["labels"]["cost-center"] == "42"
    c = container(docs)
    assert c["image"] == "drs-operator:1.2.3"
    assert c["args"] == ["--log-level", "debug"]
    assert env_of(docs)["HTTPS_PROXY"] == "http://proxy:3128"
    assert env_of(docs)["DRS_OPERATOR_BATCH_SIZE"] == "10", "extraEnv adds, it does not replace"


def test_image_digest_wins_over_the_tag(chart: helm.Chart) -> None:
    digest = "sha256:" + "a" * 64
    docs = render(chart, {"image": {"repository": "registry.example/drs", "digest": digest}})
    assert container(docs)["image"] == f"registry.example/drs@{digest}"


# ------------------------------------------------------------------ credentials


def test_credentials_secret_in_each_watched_namespace(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    docs = manifests["credentials"]
    secrets = of_kind(docs, "Secret")
    assert sorted(s["metadata"]["namespace"] for s in secrets) == ["team-a", "team-b"]
    for secret in secrets:
        assert secret["metadata"]["name"] == "drs-credentials", "defaults to defaultCredentials"
        decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        assert decoded == {
            "accessKey": "AKEXAMPLE",
            "secretKey": "sk-very-secret",
            "projectId": CREDENTIALS["projectId"],
            "region": "ap-southeast-1",
        }
    deployment = only(docs, "Deployment")
    assert "sk-very-secret" not in yaml.safe_dump(deployment), "no secret in the Deployment"
    assert "checksum/credentials" in deployment["spec"]["template"]["metadata"]["annotations"]


def test_credentials_secret_cluster_wide_goes_to_the_listed_namespaces(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    secrets = of_kind(manifests["credentials-cluster-wide"], "Secret")
    assert sorted(s["metadata"]["namespace"] for s in secrets) == ["x", "y"]
    assert {s["metadata"]["name"] for s in secrets} == {"drs-quickstart"}


def test_no_secret_unless_asked(manifests: dict[str, list[dict[str, Any]]]) -> None:
    for name, docs in manifests.items():
        if not COMBINATIONS[name].get("credentials", {}).get("create"):
            assert not of_kind(docs, "Secret"), name


# ------------------------------------------------------- optional objects


def test_metrics_service_by_default_and_service_monitor_on_request(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    default = manifests["default"]
    service = only(default, "Service")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}
    ]
    pod_labels = only(default, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert not of_kind(default, "ServiceMonitor")

    docs = manifests["service-monitor"]
    monitor = only(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items()
        <= only(docs, "Service")["metadata"]["labels"].items()
    )


def test_prometheus_rule_is_off_by_default_and_ships_the_documented_alerts(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    assert not of_kind(manifests["default"], "PrometheusRule")
    rule = only(manifests["prometheus-rule"], "PrometheusRule")
    assert rule["metadata"]["labels"]["r"] == "p"
    shipped = yaml.safe_load((CHART_DIR / "files" / "alerts.yaml").read_text(encoding="utf-8"))
    assert rule["spec"] == {"groups": shipped["groups"]}
    alerts = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    assert {"DrsTaskFailed", "DrsJobsNotSynced", "DrsOperatorStalled"} <= {
        a["alert"] for a in alerts
    }


def test_network_policy(manifests: dict[str, list[dict[str, Any]]]) -> None:
    assert not of_kind(manifests["default"], "NetworkPolicy")
    policy = only(manifests["network-policy"], "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    ingress_ports = {p["port"] for rule in policy["ingress"] for p in rule["ports"]}
    assert ingress_ports == {"metrics", "health"}
    assert policy["ingress"][0]["from"] == [{"namespaceSelector": {"matchLabels": {"n": "mon"}}}]
    dns, https = policy["egress"]
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
    assert [t["ipBlock"]["cidr"] for t in https["to"]] == ["10.0.0.0/8", "100.64.0.0/10"]
    assert https["ports"] == [{"port": 443, "protocol": "TCP"}]


def test_pod_disruption_budget_by_default_with_more_than_one_replica(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    pdb = only(manifests["default"], "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1, "a drain evicts one replica at a time"
    pod_labels = only(manifests["default"], "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert only(manifests["pdb"], "PodDisruptionBudget")["spec"]["minAvailable"] == 2
    # One replica: minAvailable 1 would block every drain, so no PodDisruptionBudget.
    assert not of_kind(manifests["single-replica"], "PodDisruptionBudget")


# ------------------------------------------------------------- high availability


def test_leader_election_is_on_with_the_pod_name_as_identity(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    docs = manifests["default"]
    env = {e["name"]: e for e in container(docs)["env"]}
    assert env["DRS_OPERATOR_LEADER_ELECTION"]["value"] == "true"
    assert env["DRS_OPERATOR_LEASE_NAME"]["value"] == "drs-drs-operator", "named after the release"
    assert env["DRS_OPERATOR_LEASE_NAMESPACE"]["value"] == RELEASE_NS
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert "DRS_OPERATOR_SELECTOR" not in env, "without shards: every DrsJob"
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    pod_labels = only(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= pod_labels.items()


def test_one_replica_without_leader_election_is_recreated(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    docs = manifests["single-replica"]
    deployment = only(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    env = env_of(docs)
    assert env["DRS_OPERATOR_LEADER_ELECTION"] == "false"
    assert "DRS_OPERATOR_LEASE_NAME" not in env
    assert not [r for r in of_kind(docs, "Role") if r["metadata"]["name"].endswith("-election")]
    assert not settings.from_sources(None, env).election.enabled


@pytest.mark.parametrize("combination", ["default", "two-namespaces", "cluster-wide", "shards"])
def test_leases_are_granted_in_the_release_namespace_only(
    manifests: dict[str, list[dict[str, Any]]], combination: str
) -> None:
    docs = manifests[combination]
    leases = [e["value"] for d in of_kind(docs, "Deployment") for e in d["spec"]["template"][
        "spec"]["containers"][0]["env"] if e["name"] == "DRS_OPERATOR_LEASE_NAME"]  # fmt: skip
    assert len(set(leases)) == len(of_kind(docs, "Deployment")), "a Lease per Deployment"
    role = only(docs, "Role") if combination == "cluster-wide" else next(
        r for r in of_kind(docs, "Role") if r["metadata"]["name"].endswith(LEASE_ROLE_SUFFIX)
    )  # fmt: skip
    assert role["metadata"]["namespace"] == RELEASE_NS, "a Role, even in cluster-wide mode"
    assert normalised_rules(role) == lease_rules(*leases)
    for kind in ("Role", "ClusterRole"):  # no other role mentions Leases
        for other in of_kind(docs, kind):
            if other is not role:
                assert all("leases" not in rule["resources"] for rule in other["rules"])
    binding = next(
        b for b in of_kind(docs, "RoleBinding") if b["roleRef"]["name"] == role["metadata"]["name"]
    )
    assert binding["metadata"]["namespace"] == RELEASE_NS
    assert binding["subjects"][0]["name"] == only(docs, "ServiceAccount")["metadata"]["name"]


def _deployments(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in of_kind(docs, "Deployment")}


def test_shards_get_a_deployment_service_pdb_and_lease_each(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    docs = manifests["shards"]
    deployments = _deployments(docs)
    assert sorted(deployments) == ["drs-drs-operator", "drs-drs-operator-a", "drs-drs-operator-b"]
    selectors = {}
    for name, deployment in deployments.items():
        template = deployment["spec"]["template"]
        env = {e["name"]: e.get("value") for e in template["spec"]["containers"][0]["env"]}
        assert env["DRS_OPERATOR_LEASE_NAME"] == name
        selectors[name] = parse_selector(env["DRS_OPERATOR_SELECTOR"])
        labels = template["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        for other_name, other in deployments.items():  # no Deployment adopts another's pods
            if other_name != name:
                other_labels = other["spec"]["template"]["metadata"]["labels"]
                owned = (
                    deployment["spec"]["selector"]["matchLabels"].items() <= other_labels.items()
                )
                assert not owned or name == "drs-drs-operator", (name, other_name)
    assert str(selectors["drs-drs-operator-a"]) == "drs.operators.dev/shard=a"
    assert str(selectors["drs-drs-operator"]) == "drs.operators.dev/shard notin (a,b)"
    # Every DrsJob, labelled or not, belongs to exactly one shard.
    for labels in ({}, {"drs.operators.dev/shard": "a"}, {"drs.operators.dev/shard": "b"},
                   {"drs.operators.dev/shard": "c"}, {"drs.operators.dev/shard": "default"},
                   {"team": "x"}):  # fmt: skip
        owners = [name for name, selector in selectors.items() if selector.matches(labels)]
        assert len(owners) == 1, (labels, owners)

    pod_labels = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments.items()}
    services = {s["metadata"]["name"]: s for s in of_kind(docs, "Service")}
    assert sorted(services) == sorted(f"{n}-metrics" for n in deployments)
    pdbs = {p["metadata"]["name"]: p for p in of_kind(docs, "PodDisruptionBudget")}
    assert sorted(pdbs) == sorted(deployments)
    for name in pod_labels:
        # Each Service and PDB selects its own instance's pods, and no other's.
        for selected in (services[f"{name}-metrics"]["spec"]["selector"],
                         pdbs[name]["spec"]["selector"]["matchLabels"]):  # fmt: skip
            matches = [n for n, other in pod_labels.items() if selected.items() <= other.items()]
            assert matches == [name], (name, matches)


def test_shards_in_cluster_wide_mode(manifests: dict[str, list[dict[str, Any]]]) -> None:
    docs = manifests["shards-cluster-wide"]
    deployments = _deployments(docs)
    assert sorted(deployments) == ["drs-drs-operator", "drs-drs-operator-tenant-x"]
    only(docs, "ClusterRole")  # one for every shard: the same ServiceAccount


# ------------------------------------------------------------------------- CRD


def test_chart_crd_is_identical_to_the_repository_crd(chart: helm.Chart) -> None:
    source = ROOT / "crds" / "drsjobs.yaml"
    shipped = CHART_DIR / "crds" / "drsjobs.yaml"
    assert shipped.read_bytes() == source.read_bytes(), "run: cp crds/drsjobs.yaml " + str(
        shipped.relative_to(ROOT)
    )
    assert [c["filename"] for c in chart.crds] == ["drs-operator/crds/drsjobs.yaml"]


# ------------------------------------------------------------------ bad values

BAD_VALUES: list[tuple[dict[str, Any], str, str]] = [
    ({"operator": {"batchSize": 0}}, "'/operator/batchSize': minimum", "batch of nothing"),
    ({"operator": {"batchSize": 101}}, "'/operator/batchSize': maximum", "API pages at 100"),
    ({"operator": {"batchSize": "10"}}, "'/operator/batchSize': got string, want integer",
     "wrong type"),
    ({"operator": {"logLevel": "trace"}}, "'/operator/logLevel': value must be one of",
     "unknown log level"),
    ({"operator": {"logFormat": "xml"}}, "'/operator/logFormat': value must be one of",
     "unknown log format"),
    ({"operator": {"cadenceSteady": "a minute"}}, "'/operator/cadenceSteady'",
     "not a duration"),
    ({"operator": {"jitter": 1}}, "'/operator/jitter'", "jitter must stay below 1"),
    ({"operator": {"batchsize": 5}}, "additional properties 'batchsize' not allowed",
     "typo in a setting"),
    ({"operator": {"metricsPort": 70000}}, "'/operator/metricsPort': maximum", "not a port"),
    ({"replicas": 2}, "additional properties 'replicas' not allowed",
     "unknown top-level key (the key is replicaCount)"),
    ({"replicaCount": 0}, "'/replicaCount': minimum", "no operator at all"),
    ({"leaderElection": {"enabled": False}}, "replicaCount above 1 needs leaderElection",
     "two replicas without leader election would both write"),
    ({"shards": ["default"]}, "\"default\" is the main Deployment's shard",
     "the main instance's shard name"),
    ({"shards": ["Team_A"]}, "'/shards/0': 'Team_A' does not match pattern", "not a DNS label"),
    ({"shards": ["a", "a"]}, "'/shards'", "the same shard twice"),
    ({"shards": ["a" * 17]}, "'/shards/0'", "too long for the names derived from it"),
    ({"podDisruptionBudget": {"maxUnavailable": 1}},
     "additional properties 'maxUnavailable' not allowed", "minAvailable is the setting"),
    ({"operator": {"leaseDuration": "soon"}}, "'/operator/leaseDuration'", "not a duration"),
    ({"watchNamespaces": ["Team_A"]}, "'/watchNamespaces/0': 'Team_A' does not match pattern",
     "not a DNS-1123 label"),
    ({"watchNamespaces": "team-a"}, "'/watchNamespaces': got string, want array",
     "a string, not a list"),
    ({"watchNamespaces": ["a", "a"]}, "'/watchNamespaces'", "duplicate namespaces"),
    ({"image": {"tag": 1.2}}, "'/image/tag': got number, want string",
     "unquoted numeric tag"),
    ({"image": {"pullPolicy": "Sometimes"}}, "'/image/pullPolicy': value must be one of",
     "unknown pull policy"),
    ({"clusterWide": "yes"}, "'/clusterWide': got string, want boolean", "wrong type"),
    ({"credentials": {"create": True, "apiKey": "x"}},
     "additional properties 'apiKey' not allowed", "unknown credentials key"),
    ({"extraEnv": [{"value": "x"}]}, "'/extraEnv/0': missing property 'name'",
     "env var without a name"),
    # Cross-field rules, enforced by the templates:
    ({"clusterWide": True, "watchNamespaces": ["a"]}, "exclude each other",
     "two watching modes at once"),
    ({"credentials": {"create": True, "region": "r"}}, "give exactly one of token",
     "no auth method"),
    ({"credentials": {"create": True, "token": "t", "username": "u", "password": "p",
                      "domain": "d"}}, "give exactly one of token", "two auth methods"),
    ({"credentials": {"create": True, "accessKey": "ak"}}, "accessKey and secretKey go together",
     "half an AK/SK pair"),
    ({"credentials": {"create": True, "username": "u", "password": "p"}},
     "username, password and domain go together", "password auth without a domain"),
    ({"credentials": {"namespaces": ["x"]}}, "only used with clusterWide",
     "namespaces ignored in namespaced mode"),
    ({"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}},
     "needs metrics.service.enabled", "ServiceMonitor without a Service"),
    ({"serviceAccount": {"create": False}}, "serviceAccount.name is required",
     "no ServiceAccount at all"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("values", "message"),
    [pytest.param(v, m, id=reason) for v, m, reason in BAD_VALUES],
)
def test_bad_values_are_rejected_with_a_clear_message(
    chart: helm.Chart, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmError) as caught:
        chart.render(values, name=RELEASE, namespace=RELEASE_NS)
    assert message in str(caught.value)


def test_default_values_pass_the_schema(chart: helm.Chart) -> None:
    chart.validate_schema(chart.values)
    schema = chart.schema
    assert schema is not None
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) >= set(chart.values), "every default key is in the schema"


@pytest.mark.parametrize(
    ("hosts", "expected", "reason"),
    [
        (["drs.*.example.com", "http://127.0.0.1:*"], ("drs.*.example.com", "http://127.0.0.1:*"),
         "a list is passed comma-separated"),
        ([], (), "an empty list allows only each Secret's own endpoint, not the default"),
    ],
)  # fmt: skip
def test_allowed_endpoint_hosts_reach_the_operator(
    chart: helm.Chart, hosts: list[str], expected: tuple[str, ...], reason: str
) -> None:
    env = env_of(render(chart, {"operator": {"allowedEndpointHosts": hosts}}))
    parsed = settings.from_sources(None, env)
    assert tuple(p.text for p in parsed.http.allowed_endpoint_hosts.patterns) == expected, reason
