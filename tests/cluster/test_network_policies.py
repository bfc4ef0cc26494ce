"""The rendered NetworkPolicies allow exactly the flows the system uses: every (source, destination,
port) between our pods, KFP, cluster DNS and the outside is evaluated the way Kubernetes does
(a pod selected by a policy of a direction accepts only what one of their rules allows, on the
pod's own port after a Service's translation) and compared with the expected matrix, allowed and
denied pairs alike. KFP's pods are those of the pinned backend release, with the labels and ports
of its own manifests (fixtures/kfp-2.17.0-platform-agnostic.json)."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.assets import REPO, compiled_executors, pod_specs

NAMESPACE = "kubeflow"
KFP_FIXTURE = Path(__file__).parent / "fixtures" / "kfp-2.17.0-platform-agnostic.json"
KFP_RELEASE = json.loads(KFP_FIXTURE.read_text())
# What KFP's launcher in a step pod opens (backend 2.17.0): Service name and port.
LAUNCHER_SERVICES = (("metadata-grpc-service", 8080), ("seaweedfs", 9000), ("ml-pipeline", 8887))


def kfp_pods() -> list[Endpoint]:
    """KFP's pods at the pinned release, each named `kfp:<deployment>`."""
    return [
        Endpoint(
            f"kfp:{pod['name']}",
            f"10.244.2.{i + 10}",
            tuple((proto, int(port)) for proto, port in (p.split("/") for p in pod["ports"])),
            pod["labels"],
            NAMESPACE,
        )
        for i, pod in enumerate(KFP_RELEASE["pods"])
    ]


def service_target(service: str, port: int) -> tuple[str, tuple[str, int]]:
    """The KFP pod (`kfp:<deployment>`) and pod port a connection to `service:port` reaches."""
    (spec,) = [s for s in KFP_RELEASE["services"] if s["name"] == service]
    (target,) = [p["targetPort"] for p in spec["ports"] if p["port"] == port]
    (pod,) = [e for e in kfp_pods() if selects({"matchLabels": spec["selector"]}, e.labels)]
    return pod.name, ("TCP", int(target))


@dataclass(frozen=True)
class Endpoint:
    """A pod (labels, namespace) or an address outside the pod network, with the ports it serves."""

    name: str
    ip: str
    ports: tuple[tuple[str, int], ...]
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    namespace: str | None = None  # None: not a pod (a node, the internet)


def template_labels(resources: list[dict[str, Any]], name: str) -> dict[str, str]:
    (resource,) = [r for r in resources if r["metadata"]["name"] == name and pod_specs(r)]
    return dict(resource["spec"]["template"]["metadata"]["labels"])


def step_labels() -> dict[str, str]:
    """The labels the compiled pipelines put on every step pod (all steps carry the same)."""
    labels = {
        tuple(sorted(platform.get("podMetadata", {}).get("labels", {}).items()))
        for _, _, platform in compiled_executors()
    }
    assert len(labels) == 1, f"step pods are labelled differently: {labels}"
    return dict(labels.pop())


def endpoints(resources: list[dict[str, Any]]) -> dict[str, Endpoint]:
    tcp = "TCP"
    ours = {
        "postgres": ("stockpredictor-postgres", (tcp, 5432)),
        "mlflow": ("stockpredictor-mlflow", (tcp, 5000)),
        "api": ("stockpredictor-api", (tcp, 8000)),
        "db-roles": ("stockpredictor-db-roles", (tcp, 8080)),  # a Job: it serves nothing
    }
    found = [
        Endpoint(key, f"10.244.0.{i + 10}", (port,), template_labels(resources, name), NAMESPACE)
        for i, (key, (name, port)) in enumerate(ours.items())
    ]
    found += [
        Endpoint("step", "10.244.0.20", ((tcp, 8080),), step_labels(), NAMESPACE),
        *kfp_pods(),
        Endpoint("neighbour", "10.244.0.40", ((tcp, 8080),), {"app": "unrelated"}, NAMESPACE),
        Endpoint("dns", "10.244.0.2", (("UDP", 53), (tcp, 53)), {"k8s-app": "kube-dns"}, "kube-system"),
        Endpoint("elsewhere", "10.244.1.5", ((tcp, 8080), (tcp, 443)), {"app": "other"}, "default"),
        Endpoint("kube-api", "172.18.0.2", ((tcp, 6443),)),
        Endpoint("internet", "142.250.74.46", ((tcp, 443), (tcp, 80))),
        Endpoint("metadata-server", "169.254.169.254", ((tcp, 80), (tcp, 443))),
    ]
    return {e.name: e for e in found}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert not selector.get("matchExpressions"), "the evaluator knows matchLabels only"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def peer_matches(peer: dict[str, Any], endpoint: Endpoint, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        address = ipaddress.ip_address(endpoint.ip)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(cidr) for cidr in block.get("except", [])
        )
    if endpoint.namespace is None:
        return False
    if "namespaceSelector" in peer:
        namespace_labels = {"kubernetes.io/metadata.name": endpoint.namespace}
        if not selects(peer["namespaceSelector"], namespace_labels):
            return False
    elif endpoint.namespace != policy_namespace:
        return False
    return selects(peer.get("podSelector", {}), endpoint.labels)


def rule_allows(rule: dict[str, Any], peers_key: str, peer: Endpoint, port: tuple[str, int], ns: str) -> bool:
    ports = rule.get("ports")
    if ports and not any((p.get("protocol", "TCP"), p.get("port")) == port for p in ports):
        return False
    peers = rule.get(peers_key)
    return not peers or any(peer_matches(p, peer, ns) for p in peers)


def direction_allows(
    policies: list[dict[str, Any]], direction: str, pod: Endpoint, peer: Endpoint, port: tuple[str, int]
) -> bool:
    """Whether `pod` lets this connection through in `direction` ("Ingress" from peer, "Egress" to it)."""
    if pod.namespace is None:
        return True  # not a pod: no NetworkPolicy applies
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    applying = [
        p
        for p in policies
        if p["metadata"]["namespace"] == pod.namespace
        and direction in p["spec"]["policyTypes"]
        and selects(p["spec"]["podSelector"], pod.labels)
    ]
    if not applying:
        return True
    return any(
        rule_allows(rule, peers_key, peer, port, p["metadata"]["namespace"])
        for p in applying
        for rule in p["spec"].get(rules_key, [])
    )


def allowed_flows(resources: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """Every allowed (source, destination, "PROTO/port") where the source or destination is ours."""
    policies = [r for r in resources if r["kind"] == "NetworkPolicy"]
    nodes = endpoints(resources)
    ours = {"postgres", "mlflow", "api", "step", "db-roles"}
    flows = set()
    for src in nodes.values():
        for dst in nodes.values():
            if src is dst or not {src.name, dst.name} & ours:
                continue
            for port in dst.ports:
                if direction_allows(policies, "Egress", src, dst, port) and direction_allows(
                    policies, "Ingress", dst, src, port
                ):
                    flows.add((src.name, dst.name, f"{port[0]}/{port[1]}"))
    return flows


def expected_flows() -> set[tuple[str, str, str]]:
    dns = {
        (pod, "dns", port)
        for pod in ("postgres", "mlflow", "api", "step", "db-roles")
        for port in ("UDP/53", "TCP/53")
    }
    # the API takes requests from anywhere but from our other pods (their egress does not list it)
    outsiders = ("neighbour", "dns", "elsewhere", "kube-api", "internet", "metadata-server")
    api_clients = {(src, "api", "TCP/8000") for src in (*outsiders, *(pod.name for pod in kfp_pods()))}
    launcher = set()
    for service, port in LAUNCHER_SERVICES:
        pod, (proto, target) = service_target(service, port)
        launcher.add(("step", pod, f"{proto}/{target}"))
    return (
        dns
        | api_clients
        | launcher
        | {
            ("api", "postgres", "TCP/5432"),
            ("api", "mlflow", "TCP/5000"),
            ("mlflow", "postgres", "TCP/5432"),
            ("db-roles", "postgres", "TCP/5432"),
            ("db-roles", "mlflow", "TCP/5000"),
            ("step", "postgres", "TCP/5432"),
            ("step", "mlflow", "TCP/5000"),
            ("step", "internet", "TCP/443"),
            ("step", "kube-api", "TCP/6443"),
        }
    )


def test_kind_overlay_allows_exactly_the_expected_flows(kind_resources: list[dict[str, Any]]) -> None:
    allowed = allowed_flows(kind_resources)
    expected = expected_flows()
    assert allowed - expected == set(), "allowed but not expected"
    assert expected - allowed == set(), "expected but denied"


@pytest.mark.parametrize(
    "flow",
    [
        ("internet", "mlflow", "TCP/5000"),
        ("internet", "postgres", "TCP/5432"),
        ("neighbour", "mlflow", "TCP/5000"),
        ("kfp:ml-pipeline", "postgres", "TCP/5432"),
        ("step", "api", "TCP/8000"),
        ("step", "internet", "TCP/80"),
        ("step", "metadata-server", "TCP/80"),
        ("step", "elsewhere", "TCP/443"),
        ("mlflow", "internet", "TCP/443"),
        ("api", "internet", "TCP/443"),
        ("postgres", "mlflow", "TCP/5000"),
    ],
)
def test_the_flows_an_attacker_would_use_are_denied(
    flow: tuple[str, str, str], kind_resources: list[dict[str, Any]]
) -> None:
    assert flow not in allowed_flows(kind_resources)


def kfp_table(resources: list[dict[str, Any]]) -> dict[tuple[str, str], bool]:
    """Each KFP pod of the pinned release x each of its ports -> whether a pipeline step may open it."""
    allowed = allowed_flows(resources)
    return {
        (pod.name.removeprefix("kfp:"), f"{proto}/{port}"): ("step", pod.name, f"{proto}/{port}") in allowed
        for pod in kfp_pods()
        for proto, port in pod.ports
    }


def test_steps_reach_only_the_three_kfp_flows_of_the_launcher(kind_resources: list[dict[str, Any]]) -> None:
    table = kfp_table(kind_resources)
    assert {cell for cell, allowed in table.items() if allowed} == {
        ("metadata-grpc-deployment", "TCP/8080"),
        ("seaweedfs", "TCP/8333"),
        ("ml-pipeline", "TCP/8887"),
    }
    for denied in (("mysql", "TCP/3306"), ("ml-pipeline-ui", "TCP/3000"), ("ml-pipeline", "TCP/8888")):
        assert table[denied] is False, denied


def test_the_kfp_fixture_is_of_the_pinned_backend_release() -> None:
    pin = re.search(r"^KFP_VERSION \?= (\S+)$", (REPO / "mk" / "cluster.mk").read_text(), re.MULTILINE)
    assert pin and f"tag {pin.group(1)}," in KFP_RELEASE["source"]
    assert KFP_FIXTURE.name == f"kfp-{pin.group(1)}-platform-agnostic.json"


def test_every_pod_of_ours_is_under_default_deny_both_ways(kind_resources: list[dict[str, Any]]) -> None:
    policies = [r for r in kind_resources if r["kind"] == "NetworkPolicy"]
    deny_all = [
        p
        for p in policies
        if set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert deny_all, "no default-deny policy"
    for name in ("postgres", "mlflow", "api", "step"):
        pod = endpoints(kind_resources)[name]
        assert any(selects(p["spec"]["podSelector"], pod.labels) for p in deny_all), name


def test_the_evaluator_denies_what_a_default_deny_alone_leaves() -> None:
    """Guard against an evaluator that allows everything: a lone default deny blocks all but nothing."""
    pod = Endpoint(
        "pod", "10.244.0.9", (("TCP", 80),), {"app.kubernetes.io/part-of": "stockpredictor"}, NAMESPACE
    )
    other = Endpoint("other", "10.244.0.8", (("TCP", 80),), {"app": "x"}, NAMESPACE)
    deny = {
        "metadata": {"namespace": NAMESPACE},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    assert not direction_allows([deny], "Ingress", pod, other, ("TCP", 80))
    assert not direction_allows([deny], "Egress", pod, other, ("TCP", 80))
    assert direction_allows([], "Egress", pod, other, ("TCP", 80))
