"""helm lint / template for the defaults and every ci/*-values.yaml; the rendered objects keep the
chart's promises (least privilege, hardened pods, toggles); manifests/install does not drift."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.chart.helm import (
    CHART,
    EXPECTED_RULES,
    LEASE_RULES,
    ROOT,
    SYNC_RULES,
    by_kind,
    helm,
    helm_bin,
    render,
    rule_set,
)

pytestmark = pytest.mark.cluster  # needs the testenv's helm binary (no control plane)

CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))


def test_ci_values_exist() -> None:
    assert {p.name for p in CI_VALUES} >= {
        "default-values.yaml",
        "watch-namespaces-values.yaml",
        "monitoring-values.yaml",
        "external-crds-values.yaml",
        "ha-values.yaml",
        "sync-values.yaml",
        "cluster-wide-values.yaml",
        "scrape-jobs-values.yaml",
    }


@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=lambda p: p.name if p else "defaults")
def test_lint_and_template(values: Path | None) -> None:
    extra = ["-f", str(values)] if values else []
    lint = helm("lint", "--strict", str(CHART), *extra)
    assert "0 chart(s) failed" in lint.stdout
    docs = render(*extra)
    kinds = {d["kind"] for d in docs}
    assert {"ServiceAccount", "Deployment", "Service", "Pod"} <= kinds
    assert kinds & {"ClusterRole", "Role"}
    for d in docs:
        assert d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "scoutly", d["kind"]


def _operator_cluster_roles(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in by_kind(docs, "ClusterRole") if r["metadata"]["name"] not in AGGREGATED]


def test_rbac_is_exactly_what_the_code_uses_in_every_mode() -> None:
    # the default: namespace-scoped, a Role in the release namespace, nothing cluster-wide
    default = render()
    assert not _operator_cluster_roles(default) and not by_kind(default, "ClusterRoleBinding")
    (own,) = by_kind(default, "Role")
    assert own["metadata"]["namespace"] == "scoutly-system" and rule_set(own["rules"]) == EXPECTED_RULES
    (own_binding,) = by_kind(default, "RoleBinding")
    assert own_binding["metadata"]["namespace"] == "scoutly-system"
    assert own_binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": own["metadata"]["name"]
    }  # fmt: skip
    (dep,) = by_kind(default, "Deployment")
    assert _env(dep)["SCOUTLY_NAMESPACES"]["value"] == "scoutly-system"

    # cluster-wide: only as an explicit opt-in
    cluster = render("--set", "watchAllNamespaces=true", "--set", "watchNamespaces={ignored}")
    (role,) = _operator_cluster_roles(cluster)
    assert rule_set(role["rules"]) == EXPECTED_RULES
    (dep,) = by_kind(cluster, "Deployment")
    assert "SCOUTLY_NAMESPACES" not in _env(dep)
    (binding,) = by_kind(cluster, "ClusterRoleBinding")
    (sa,) = [
        s for s in by_kind(cluster, "ServiceAccount") if s["metadata"]["name"] == "scoutly-scoutly-operator"
    ]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "scoutly-system"}
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert not by_kind(cluster, "Role")

    ns = render("--set", "watchNamespaces={team-a,team-b}")
    assert not _operator_cluster_roles(ns) and not by_kind(ns, "ClusterRoleBinding")
    roles = by_kind(ns, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    for r in roles:
        assert rule_set(r["rules"]) == EXPECTED_RULES
    assert sorted(b["metadata"]["namespace"] for b in by_kind(ns, "RoleBinding")) == ["team-a", "team-b"]
    (dep,) = by_kind(ns, "Deployment")
    env = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SCOUTLY_NAMESPACES"] == "team-a,team-b"
    # nothing broad: no wildcard, no Secrets, no ConfigMaps, no escalation verbs
    for rules in [role["rules"], *(r["rules"] for r in roles)]:
        flat = rule_set(rules)
        assert not any("*" in t for t in flat)
        assert not {res for _, res, _ in flat} & {
            "secrets",
            "configmaps",
            "serviceaccounts",
            "roles",
            "rolebindings",
        }
        assert not {verb for *_, verb in flat} & {"escalate", "bind", "impersonate", "deletecollection"}


AGGREGATED = {"scoutly-view", "scoutly-edit"}


def test_aggregated_roles_for_people_grant_targets_and_nothing_else() -> None:
    roles = {r["metadata"]["name"]: r for r in by_kind(render(), "ClusterRole")}
    view, edit = roles["scoutly-view"], roles["scoutly-edit"]
    assert rule_set(view["rules"]) == {
        ("scoutly.io", res, verb)
        for res in ("scrapetargets", "scrapetargets/status")
        for verb in ("get", "list", "watch")
    }
    assert rule_set(edit["rules"]) == {
        ("scoutly.io", "scrapetargets", verb)
        for verb in ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
    } | {("scoutly.io", "scrapetargets/status", verb) for verb in ("get", "list", "watch")}
    agg = "rbac.authorization.k8s.io/aggregate-to-"
    assert {k for k, v in view["metadata"]["labels"].items() if k.startswith(agg) and v == "true"} == {
        f"{agg}view", f"{agg}edit", f"{agg}admin"
    }  # fmt: skip
    assert {k for k, v in edit["metadata"]["labels"].items() if k.startswith(agg) and v == "true"} == {
        f"{agg}edit", f"{agg}admin"
    }  # fmt: skip
    off = render("--set", "rbac.aggregatedRoles=false")
    assert not AGGREGATED & {r["metadata"]["name"] for r in by_kind(off, "ClusterRole")}


def _env(dep: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}


def _assert_real_settings(env: dict[str, dict[str, Any]]) -> None:
    from scoutly.config import OperatorSettings

    for name in env:
        if name.startswith("SCOUTLY_"):
            assert name.removeprefix("SCOUTLY_").lower() in OperatorSettings.model_fields, name


def test_leader_election_off_by_default() -> None:
    docs = render()
    (dep,) = by_kind(docs, "Deployment")
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"] == {"type": "Recreate"}
    env = _env(dep)
    assert not {"SCOUTLY_LEADER_ELECTION", "POD_NAME", "POD_NAMESPACE"} & set(env)
    assert not by_kind(docs, "PodDisruptionBudget")
    assert not any(r["rules"][0]["apiGroups"] == ["coordination.k8s.io"] for r in by_kind(docs, "Role"))
    proc = helm(
        "template", "x", str(CHART), "--set", "replicaCount=2", "--kube-version", "1.36.3", check=False
    )
    assert proc.returncode != 0 and "leaderElection.enabled" in proc.stderr


def test_leader_election_renders_lease_rbac_rolling_update_and_pdb() -> None:
    docs = render("-f", str(CHART / "ci/ha-values.yaml"))
    (dep,) = by_kind(docs, "Deployment")
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["strategy"]["type"] == "RollingUpdate"
    env = _env(dep)
    assert env["SCOUTLY_LEADER_ELECTION"]["value"] == "true"
    assert env["SCOUTLY_LEADER_ELECTION_NAMESPACE"]["value"] == "scoutly-system"
    assert env["SCOUTLY_LEADER_ELECTION_LEASE_NAME"]["value"] == "scoutly-scoutly-operator"
    assert env["SCOUTLY_LEASE_DURATION"]["value"] == "20s"
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    _assert_real_settings(env)
    # the operator's own rules are unchanged; the Lease rules are a Role of their own
    (own, role) = sorted(by_kind(docs, "Role"), key=lambda r: r["metadata"]["name"])
    assert rule_set(own["rules"]) == EXPECTED_RULES
    assert role["metadata"]["namespace"] == "scoutly-system"
    assert rule_set(role["rules"]) == LEASE_RULES
    for r in role["rules"]:  # get/update only on the release's Lease; create cannot be restricted by name
        if r["verbs"] == ["create"]:
            assert "resourceNames" not in r
        else:
            assert r["resourceNames"] == ["scoutly-scoutly-operator"]
    (binding,) = [b for b in by_kind(docs, "RoleBinding") if b["roleRef"]["name"] == role["metadata"]["name"]]
    assert binding["metadata"]["namespace"] == "scoutly-system"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "scoutly-scoutly-operator", "namespace": "scoutly-system"}
    ]
    (pdb,) = by_kind(docs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert (
        pdb["spec"]["selector"]["matchLabels"].items()
        <= dep["spec"]["template"]["metadata"]["labels"].items()
    )
    # one replica with leader election: rolling update (the new pod waits as a standby), no PDB
    one = render("--set", "leaderElection.enabled=true")
    assert not by_kind(one, "PodDisruptionBudget")
    (dep,) = by_kind(one, "Deployment")
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "RollingUpdate"
    # watch-namespace mode: the Lease Role comes in addition to the per-namespace Roles
    ns = render("--set", "leaderElection.enabled=true", "--set", "watchNamespaces={team-a}")
    sets = {r["metadata"]["namespace"]: rule_set(r["rules"]) for r in by_kind(ns, "Role")}
    assert sets == {"team-a": EXPECTED_RULES, "scoutly-system": LEASE_RULES}


def test_sync_off_by_default() -> None:
    docs = render()
    assert not by_kind(docs, "CronJob")
    (dep,) = by_kind(docs, "Deployment")
    assert not {"SCOUTLY_SYNC_INTERVAL", "SCOUTLY_SYNC_NAMESPACE"} & set(_env(dep))


def test_sync_cronjob_and_in_operator_rbac_are_exactly_what_the_sync_uses() -> None:
    docs = render("-f", str(CHART / "ci/sync-values.yaml"))
    (dep,) = by_kind(docs, "Deployment")
    env = _env(dep)
    assert env["SCOUTLY_SYNC_INTERVAL"]["value"] == "10m"
    assert env["SCOUTLY_SYNC_NAMESPACE"]["value"] == "scoutly"
    _assert_real_settings(env)
    roles = {r["metadata"]["name"]: r for r in by_kind(docs, "Role")}
    bindings = {b["metadata"]["name"]: b for b in by_kind(docs, "RoleBinding")}
    # the operator: its watch Role plus the sync's verbs in sync.namespace
    op = roles["scoutly-scoutly-operator-operator-sync"]
    assert op["metadata"]["namespace"] == "scoutly" and rule_set(op["rules"]) == SYNC_RULES
    assert bindings["scoutly-scoutly-operator-operator-sync"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "scoutly-scoutly-operator", "namespace": "scoutly-system"}
    ]
    operator_rules = set().union(
        *(
            rule_set(roles[b["roleRef"]["name"]]["rules"])
            for b in bindings.values()
            if b["subjects"][0]["name"] == "scoutly-scoutly-operator"
        )
    )
    assert operator_rules == EXPECTED_RULES | SYNC_RULES
    # the CronJob: its own ServiceAccount in the release namespace, a Role with only the sync's verbs
    (sa,) = [
        s for s in by_kind(docs, "ServiceAccount") if s["metadata"]["name"] == "scoutly-scoutly-operator-sync"
    ]
    assert sa["metadata"]["namespace"] == "scoutly-system"
    sync = roles["scoutly-scoutly-operator-sync"]
    assert sync["metadata"]["namespace"] == "scoutly" and rule_set(sync["rules"]) == SYNC_RULES
    assert bindings["scoutly-scoutly-operator-sync"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "scoutly-scoutly-operator-sync", "namespace": "scoutly-system"}
    ]
    (cj,) = by_kind(docs, "CronJob")
    assert cj["metadata"]["namespace"] == "scoutly-system"
    assert cj["spec"]["schedule"] == "*/10 * * * *" and cj["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "scoutly-scoutly-operator-sync"
    assert pod["restartPolicy"] == "Never"
    (c,) = pod["containers"]
    (op_c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["image"] == op_c["image"] and c["imagePullPolicy"] == op_c["imagePullPolicy"]
    assert c["args"] == ["sync", "--namespace", "scoutly"]
    cenv = {e["name"]: e for e in c["env"]}
    assert cenv["SCOUTLY_MONGODB_URI"] == env["SCOUTLY_MONGODB_URI"]  # the operator's Secret reference
    assert cenv["SCOUTLY_MONGODB_DATABASE"] == env["SCOUTLY_MONGODB_DATABASE"]
    _assert_real_settings(cenv)
    # hardened like the Deployment
    assert pod["securityContext"] == dep["spec"]["template"]["spec"]["securityContext"]
    assert c["securityContext"] == op_c["securityContext"]
    assert c["resources"]["limits"]["memory"]
    # sync.namespace defaults to the first target namespace; rbac.create=false drops the Roles only
    default_ns = render("--set", "sync.cronJob.enabled=true", "--set", "sync.inOperator.interval=5m")
    assert {r["metadata"]["namespace"] for r in by_kind(default_ns, "Role")} == {"scoutly-system"}
    (cj,) = by_kind(default_ns, "CronJob")
    assert (
        cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][-1] == "scoutly-system"
    )
    no_rbac = render("-f", str(CHART / "ci/sync-values.yaml"), "--set", "rbac.create=false")
    assert not by_kind(no_rbac, "Role") and by_kind(no_rbac, "CronJob")


def test_rbac_off_renders_no_rbac() -> None:
    docs = render("--set", "rbac.create=false")
    assert not {d["kind"] for d in docs} & {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


def test_deployment_is_hardened_and_reads_secrets_only_by_reference() -> None:
    docs = render()
    (dep,) = by_kind(docs, "Deployment")
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (c,) = pod["containers"]
    assert c["image"] == "ghcr.io/scoutly/scoutly-operator:0.1.0"
    assert c["args"] == ["operator", "run"]
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    env = {e["name"]: e for e in c["env"]}
    assert env["SCOUTLY_MONGODB_URI"]["valueFrom"]["secretKeyRef"] == {
        "name": "scoutly-mongodb",
        "key": "uri",
    }
    assert env["SCOUTLY_MONGODB_SECRET_NAME"]["value"] == "scoutly-mongodb"
    assert env["SCOUTLY_OPENAI_SECRET_NAME"]["value"] == ""
    assert env["SCOUTLY_SCRAPE_IMAGE"]["value"] == c["image"]
    assert env["SCOUTLY_SCRAPE_SERVICE_ACCOUNT"]["value"] == "scoutly-scrape"
    assert env["SCOUTLY_NAMESPACES"]["value"] == "scoutly-system"
    assert env["SCOUTLY_SCRAPE_ALLOWED_IMAGES"]["value"] == ""  # only the scrape image itself
    assert env["SCOUTLY_SCRAPE_SETTINGS"]["value"] == "{}"
    for e in c["env"]:  # every setting the chart passes is a real setting of the operator
        from scoutly.config import OperatorSettings

        assert e["name"].removeprefix("SCOUTLY_").lower() in OperatorSettings.model_fields, e["name"]
    # no Secret objects, no secret values anywhere in the defaults
    assert not by_kind(docs, "Secret")
    (svc,) = by_kind(docs, "Service")
    assert svc["spec"]["ports"][0]["targetPort"] == "metrics"
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()


def test_scrape_service_account_has_no_token_and_no_binding() -> None:
    docs = render("--set", "watchNamespaces={team-a,team-b}")
    scrape = [s for s in by_kind(docs, "ServiceAccount") if s["metadata"]["name"] == "scoutly-scrape"]
    assert sorted(s["metadata"]["namespace"] for s in scrape) == ["team-a", "team-b"]
    assert all(s["automountServiceAccountToken"] is False for s in scrape)
    subjects = [s["name"] for b in by_kind(docs, "RoleBinding") for s in b["subjects"]]
    assert "scoutly-scrape" not in subjects


def test_network_policy_is_on_by_default_and_fences_dns_web_and_metadata() -> None:
    (default,) = by_kind(render(), "NetworkPolicy")
    assert default["metadata"]["namespace"] == "scoutly-system"
    docs = render(
        "-f", str(CHART / "ci/watch-namespaces-values.yaml"),
        "--set", "networkPolicy.clusterCidrs={10.96.0.0/12,198.18.0.0/15}",
        "--set", "networkPolicy.apiServerCidrs={203.0.113.10/32}",
    )  # fmt: skip
    pols = by_kind(docs, "NetworkPolicy")
    assert sorted(p["metadata"]["namespace"] for p in pols) == ["team-a", "team-b"]
    spec = pols[0]["spec"]
    assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/managed-by": "scoutly-operator"}}
    assert spec["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in spec
    dns, web, mongo = spec["egress"]
    # DNS only to the cluster DNS, never to anywhere
    assert {p["port"] for p in dns["ports"]} == {53}
    assert dns["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    # the ports the CRD's URLs allow (http and https)
    assert web["ports"] == [{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]
    block = web["to"][0]["ipBlock"]
    assert block["cidr"] == "0.0.0.0/0"
    excluded = set(block["except"])
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"} <= excluded
    assert {"10.96.0.0/12", "198.18.0.0/15", "203.0.113.10/32"} <= excluded  # cluster and API server
    assert mongo["ports"] == [{"port": 27017, "protocol": "TCP"}]
    assert mongo["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "mongodb"}
    # the metadata range stays excluded even when the blocked list is emptied
    (bare,) = by_kind(render("--set", "networkPolicy.blockedCidrs=null"), "NetworkPolicy")
    assert bare["spec"]["egress"][1]["to"][0]["ipBlock"]["except"] == ["169.254.0.0/16"]
    assert not by_kind(render("--set", "networkPolicy.enabled=false"), "NetworkPolicy")


def test_scrape_jobs_placement_and_settings_reach_the_operator() -> None:
    from scoutly.config import OperatorSettings

    docs = render("-f", str(CHART / "ci/scrape-jobs-values.yaml"))
    (dep,) = by_kind(docs, "Deployment")
    env = {k: v["value"] for k, v in _env(dep).items() if "value" in v}
    settings = OperatorSettings(
        **{k.removeprefix("SCOUTLY_").lower(): v for k, v in env.items() if k.startswith("SCOUTLY_")}
    )
    assert settings.allowed_image_prefixes == ["registry.corp/scoutly/"]
    assert settings.image_pull_secrets == ["regcred"]
    assert dict(settings.scrape_env)["SCOUTLY_SCRAPE_RATE_PER_HOST"] == "2"
    assert dict(settings.scrape_env)["SCOUTLY_SCRAPE_RESPECT_ROBOTS"] == "true"
    assert settings.scrape_node_selector == {"pool": "scrape"}
    assert settings.scrape_tolerations[0]["key"] == "scrape"
    assert settings.scrape_priority_class_name == "scrape-low"
    assert settings.scrape_labels == {"kueue.x-k8s.io/queue-name": "scrapes"}
    (test_pod,) = by_kind(docs, "Pod")
    assert test_pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]


def test_monitoring_toggles_load_the_shared_files() -> None:
    default = render()
    assert not by_kind(default, "ServiceMonitor") and not by_kind(default, "PrometheusRule")
    (cm,) = by_kind(default, "ConfigMap")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["scoutly.json"]) == json.loads(
        (CHART / "dashboards/scoutly.json").read_text()
    )

    docs = render("-f", str(CHART / "ci/monitoring-values.yaml"))
    (sm,) = by_kind(docs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    assert sm["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s"}]
    (rule,) = by_kind(docs, "PrometheusRule")
    # the rule file's groups, ScoutlyOperatorDown scoped to this release's scrape job and namespace
    placeholder = 'job="scoutly-operator-metrics", namespace="scoutly-system"'
    text = (CHART / "rules/alerts.yaml").read_text()
    scoped = 'job="scoutly-scoutly-operator-metrics", namespace="scoutly-system"'
    assert rule["spec"]["groups"] == yaml.safe_load(text.replace(placeholder, scoped))["groups"]
    assert _alerts(docs)["ScoutlyOperatorDown"]["expr"].count(scoped) == 2
    (cm,) = by_kind(docs, "ConfigMap")
    assert cm["metadata"]["namespace"] == "monitoring"
    assert not by_kind(render("-f", str(CHART / "ci/external-crds-values.yaml")), "ConfigMap")


def _alerts(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    (rule,) = by_kind(docs, "PrometheusRule")
    return {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}


def test_operator_down_is_scoped_to_the_scrape_job_or_left_out() -> None:
    # no ServiceMonitor: how the operator is scraped is unknown, so an absent() would fire forever
    alerts = _alerts(render("--set", "prometheusRule.enabled=true", namespace="ops"))
    assert "ScoutlyOperatorDown" not in alerts and "ScoutlyScrapesFailing" in alerts
    alerts = _alerts(
        render(
            "--set",
            "prometheusRule.enabled=true",
            "--set",
            "prometheusRule.operatorJob=scoutly",
            namespace="ops",
        )
    )
    expr = alerts["ScoutlyOperatorDown"]["expr"]
    assert expr.count('up{job="scoutly", namespace="ops"}') == 2 and "scoutly-system" not in expr


def test_daily_token_budget_reaches_the_operator() -> None:
    (dep,) = by_kind(render("--set", "openai.dailyTokenBudget=2000000"), "Deployment")
    assert _env(dep)["SCOUTLY_LLM_DAILY_TOKEN_BUDGET"]["value"] == "2000000"
    (dep,) = by_kind(render(), "Deployment")
    assert _env(dep)["SCOUTLY_LLM_DAILY_TOKEN_BUDGET"]["value"] == "0"


def test_crd_toggles() -> None:
    (crd,) = by_kind(render(), "CustomResourceDefinition")
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    (crd,) = by_kind(render("--set", "crds.keep=false"), "CustomResourceDefinition")
    assert "annotations" not in crd["metadata"]
    assert not by_kind(render("--set", "crds.enabled=false"), "CustomResourceDefinition")


def test_helm_test_hook_checks_metrics() -> None:
    (pod,) = by_kind(render(), "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    script = pod["spec"]["containers"][0]["command"][-1]
    assert "http://scoutly-scoutly-operator-metrics.scoutly-system.svc:8080/metrics" in script
    compile(script, "<helm-test>", "exec")  # valid Python


def test_invalid_values_fail_with_the_schema_message_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad-values.yaml"
    bad.write_text("operator:\n  maxConcurrent: 0\nmongodb:\n  pasword: x\n")
    proc = helm("template", "x", str(CHART), "-f", str(bad), "--kube-version", "1.36.3", check=False)
    assert proc.returncode != 0
    assert "/operator/maxConcurrent" in proc.stderr and "minimum" in proc.stderr
    assert "'pasword' not allowed" in proc.stderr


def test_install_manifests_do_not_drift(tmp_path: Path) -> None:
    subprocess.run(
        ["make", "-s", "--no-print-directory", "manifests-install", f"INSTALL_DIR={tmp_path}", f"HELM={helm_bin()}"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    for name in ("crd.yaml", "scoutly-operator.yaml"):
        assert (ROOT / "manifests/install" / name).read_text() == (tmp_path / name).read_text(), (
            f"manifests/install/{name} drifted from the chart: run `make manifests`"
        )
    docs = [
        d for d in yaml.safe_load_all((ROOT / "manifests/install/scoutly-operator.yaml").read_text()) if d
    ]
    kinds = [d["kind"] for d in docs]
    assert kinds[0] == "Namespace"
    assert {"Role", "RoleBinding", "Deployment", "ServiceAccount", "NetworkPolicy"} <= set(kinds)
    assert "ClusterRoleBinding" not in kinds  # namespace-scoped by default
    assert not {"Pod", "CustomResourceDefinition", "ConfigMap", "Secret"} & set(kinds)
    crd = yaml.safe_load((ROOT / "manifests/install/crd.yaml").read_text())
    assert crd["metadata"]["name"] == "scrapetargets.scoutly.io"
