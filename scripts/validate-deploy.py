#!/usr/bin/env python3
"""Checks deploy/ offline, with schemas from pinned packages, not by eye.

    .tools/venv/bin/python scripts/validate-deploy.py [--deploy-dir DIR] [--env-of DEPLOYMENT]

(scripts/install-emulators.sh installs the packages into .tools/venv.) Checks:

  kubernetes   every manifest listed by deploy/kubernetes/kustomization.yaml (and no file left
               out of it) against the Kubernetes OpenAPI schemas shipped by kubernetes-validate,
               strict (an unknown field is an error), for each version in K8S_VERSIONS; then
               what the schemas cannot say: resource quantities, requests <= limits, images
               set, the hardening every container must have.
  keda         ScaledObject and TriggerAuthentication against KEDA_SCHEMAS below (taken from
               KEDA's CRDs, keda.sh/v1alpha1), and the aws-sqs-queue trigger's metadata.
  wiring       names that must agree across files: service accounts, selectors, the scale
               target, the trigger's authentication, the queue URL and SUBMISSIONS_QUEUE_NAME,
               HTTP_ADDR and the probes' port, and terminationGracePeriodSeconds greater than
               SHUTDOWN_GRACE_PERIOD_SEC.
  grafana      deploy/grafana/*.json against DASHBOARD_SCHEMA (structure: panels with a
               datasource, targets with expr, unique ids), every expression parsed as PromQL.
  prometheus   deploy/prometheus/alerts.yaml against RULES_SCHEMA, every expression parsed.
               (That the telemetry_collector_* series the dashboard and the rules query exist
               is checked by the collector's deploy test against its real /metrics output.)
  iam          deploy/**/*policy*.json are IAM policy documents.

Prints one line per check and one per problem; exits 1 on any problem, 2 if a package is
missing.
"""

import argparse
import json
import pathlib
import re
import sys

try:
    import jsonschema
    import kubernetes_validate
    import promql_parser
    import yaml
except ImportError as e:  # pragma: no cover - the message is the point
    print(f"validate-deploy: {e}: run scripts/install-emulators.sh", file=sys.stderr)
    sys.exit(2)

# The oldest Kubernetes release we claim to support, and the newest kubernetes-validate ships.
K8S_VERSIONS = ["1.30", ".".join(kubernetes_validate.latest_version().split(".")[:2])]

# Kubernetes resource quantity (the pattern of the apimachinery Quantity's OpenAPI schema).
QUANTITY = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


# JSON Schema in short: a closed object (unknown fields are errors) and its parts.
def obj(required=(), closed=True, **properties):
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def array(items, min_items=0, **extra):
    return {"type": "array", "items": items, "minItems": min_items, **extra}


def enum(*values):
    return {"enum": list(values)}


STRING = {"type": "string"}
TEXT = {"type": "string", "minLength": 1}
STRING_MAP = {"type": "object", "additionalProperties": STRING}
INT32 = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
DURATION = {"type": "string", "pattern": "^([0-9]+[smhdwy])+$"}

# KEDA's CRDs (keda.sh_scaledobjects.yaml, keda.sh_triggerauthentications.yaml, v1alpha1),
# cut to the fields these manifests may use, with their types, required fields and enums as
# there. One deliberate difference: unknown fields are errors here. The API server would
# prune them silently (structural schemas), so a misspelt `minReplicaCount` would be lost.
OBJECT_META = obj(
    ["name"],
    closed=False,
    name={"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 253},
    labels=STRING_MAP,
    annotations=STRING_MAP,
)
# HPAScalingRules: 0 < periodSeconds <= 1800, value > 0, stabilization within an hour.
HPA_RULES = obj(
    policies=array(obj(
        ["periodSeconds", "type", "value"],
        periodSeconds={"type": "integer", "minimum": 1, "maximum": 1800},
        type=enum("Pods", "Percent"),
        value={"type": "integer", "minimum": 1},
    )),
    selectPolicy=enum("Max", "Min", "Disabled"),
    stabilizationWindowSeconds={"type": "integer", "minimum": 0, "maximum": 3600},
    tolerance={"type": ["string", "integer"]},
)
TRIGGER = obj(
    ["metadata", "type"],
    authenticationRef=obj(["name"], kind=enum("TriggerAuthentication", "ClusterTriggerAuthentication"), name=STRING),
    # Every metadata value is a string in the CRD: `queueLength: 5` (a YAML number) is refused.
    metadata=STRING_MAP,
    metricType=enum("AverageValue", "Value", "Utilization"),
    name=STRING,
    type=STRING,
    useCachedMetrics={"type": "boolean"},
)
SCALED_OBJECT_SCHEMA = obj(
    ["apiVersion", "kind", "metadata", "spec"],
    apiVersion={"const": "keda.sh/v1alpha1"},
    kind={"const": "ScaledObject"},
    metadata=OBJECT_META,
    spec=obj(
        ["scaleTargetRef", "triggers"],
        advanced=obj(
            horizontalPodAutoscalerConfig=obj(name=STRING, behavior=obj(scaleUp=HPA_RULES, scaleDown=HPA_RULES)),
            restoreToOriginalReplicaCount={"type": "boolean"},
        ),
        cooldownPeriod=INT32,
        initialCooldownPeriod=INT32,
        idleReplicaCount=INT32,
        minReplicaCount=INT32,
        maxReplicaCount=INT32,
        pollingInterval=INT32,
        fallback=obj(["failureThreshold", "replicas"], failureThreshold=INT32, replicas=INT32),
        scaleTargetRef=obj(["name"], apiVersion=STRING, kind=STRING, name=STRING, envSourceContainerName=STRING),
        triggers=array(TRIGGER, 1),
    ),
)
POD_IDENTITY = obj(
    ["provider"],
    provider=enum("azure-workload", "gcp", "aws", "aws-eks", "none"),
    identityOwner=enum("keda", "workload"),
    roleArn={"type": "string", "pattern": "^arn:aws[a-z-]*:iam::"},
    identityId=STRING,
    identityTenantId=STRING,
    identityAuthorityHost=STRING,
)
# "RoleArn ... Mutually exclusive with IdentityOwner" (the CRD's descriptions).
POD_IDENTITY["not"] = {"required": ["roleArn", "identityOwner"]}
TRIGGER_AUTHENTICATION_SCHEMA = obj(
    ["apiVersion", "kind", "metadata", "spec"],
    apiVersion={"const": "keda.sh/v1alpha1"},
    kind={"const": "TriggerAuthentication"},
    metadata=OBJECT_META,
    spec={
        **obj(
            podIdentity=POD_IDENTITY,
            secretTargetRef=array(obj(["key", "name", "parameter"], key=STRING, name=STRING, parameter=STRING)),
            env=array(obj(["name", "parameter"], containerName=STRING, name=STRING, parameter=STRING)),
        ),
        "minProperties": 1,
    },
)
KEDA_SCHEMAS = {
    "ScaledObject": SCALED_OBJECT_SCHEMA,
    "TriggerAuthentication": TRIGGER_AUTHENTICATION_SCHEMA,
}
# The aws-sqs-queue scaler's parameters (KEDA docs, scalers/aws-sqs): queueURL or
# queueURLFromEnv, awsRegion required; the rest optional; numbers and booleans as strings.
AWS_SQS_METADATA_SCHEMA = {
    **obj(
        ["awsRegion"],
        queueURL={"type": "string", "pattern": r"^https://sqs\.[^/]+/[^/]+/[^/]+$"},
        queueURLFromEnv=STRING,
        queueLength={"type": "string", "pattern": "^[1-9][0-9]*$"},
        activationQueueLength={"type": "string", "pattern": "^[0-9]+$"},
        awsRegion=TEXT,
        awsEndpoint=STRING,
        # Deprecated since KEDA 2.13 in favour of a TriggerAuthentication (podIdentity).
        identityOwner=enum("pod", "operator"),
        scaleOnInFlight=enum("true", "false"),
        scaleOnDelayed=enum("true", "false"),
    ),
    "anyOf": [{"required": ["queueURL"]}, {"required": ["queueURLFromEnv"]}],
}

# Grafana's dashboard model (JSON model, schemaVersion 36+), the parts a provisioned or
# imported dashboard needs: an input for the Prometheus datasource, panels placed on the grid,
# each with that datasource and PromQL targets. Open objects: Grafana adds fields freely.
DATASOURCE = obj(["type", "uid"], closed=False, type={"const": "prometheus"}, uid={"const": "${DS_PROMETHEUS}"})
GRID = obj(
    ["h", "w", "x", "y"],
    closed=False,
    h={"type": "integer", "minimum": 1},
    w={"type": "integer", "minimum": 1, "maximum": 24},
    x={"type": "integer", "minimum": 0, "maximum": 23},
    y={"type": "integer", "minimum": 0},
)
TARGET = obj(
    ["refId", "expr", "datasource"],
    closed=False,
    refId={"type": "string", "pattern": "^[A-Z]$"},
    expr=TEXT,
    datasource=DATASOURCE,
    legendFormat=STRING,
)
PANEL = {
    **obj(
        ["id", "type", "title", "gridPos"],
        closed=False,
        id={"type": "integer", "minimum": 1},
        title=TEXT,
        gridPos=GRID,
        type=enum("row", "timeseries", "stat", "gauge", "bargauge", "heatmap", "table", "text"),
    ),
    # A row holds no query; every other panel queries the Prometheus input.
    "if": {"properties": {"type": {"const": "row"}}},
    "then": {"properties": {"collapsed": {"const": False}}},
    "else": obj(["datasource", "targets"], closed=False, datasource=DATASOURCE, targets=array(TARGET, 1)),
}
DS_INPUT = obj(
    ["name", "type", "pluginId"],
    closed=False,
    name={"const": "DS_PROMETHEUS"},
    type={"const": "datasource"},
    pluginId={"const": "prometheus"},
)
DASHBOARD_SCHEMA = obj(
    ["__inputs", "title", "uid", "schemaVersion", "panels", "time", "templating"],
    closed=False,
    __inputs={"type": "array", "contains": DS_INPUT},
    title=TEXT,
    uid={"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
    schemaVersion={"type": "integer", "minimum": 36},
    time=obj(["from", "to"], closed=False, to=STRING, **{"from": STRING}),
    templating=obj(["list"], closed=False, list=array(obj(["name", "type"], closed=False, name=STRING, type=STRING))),
    panels=array(PANEL, 1),
)

# Prometheus's rule file format (rules files, as in `rule_files:`; a PrometheusRule's spec is
# the same `groups:`).
ALERT_RULE = obj(
    ["alert", "expr", "for", "labels", "annotations"],
    alert={"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"},
    expr=TEXT,
    keep_firing_for=DURATION,
    labels={**obj(["severity"], closed=False, severity=enum("critical", "warning", "info")), "additionalProperties": STRING},
    annotations={**obj(["summary", "description"], closed=False), "additionalProperties": TEXT},
    **{"for": DURATION},
)
RULES_SCHEMA = obj(
    ["groups"],
    groups=array(obj(["name", "rules"], name=TEXT, interval=DURATION, rules=array(ALERT_RULE, 1)), 1),
)

# IAM policy document (the grammar's top level and statement elements).
ACTION = {"type": "string", "pattern": r"^([a-z0-9-]+:[A-Za-z0-9*?]+|\*)$"}
RESOURCE = {"type": "string", "pattern": r"^(arn:[^:]+:[^:]*:[^:]*:[^:]*:.+|\*)$"}


def one_or_many(item):
    return {"oneOf": [item, array(item, 1, uniqueItems=True)]}


STATEMENT = {
    **obj(
        ["Effect"],
        Sid={"type": "string", "pattern": "^[A-Za-z0-9]*$"},
        Effect=enum("Allow", "Deny"),
        Action=one_or_many(ACTION),
        NotAction=one_or_many(ACTION),
        Resource=one_or_many(RESOURCE),
        NotResource=one_or_many(RESOURCE),
        Condition={"type": "object"},
    ),
    "oneOf": [{"required": ["Action"]}, {"required": ["NotAction"]}],
    "anyOf": [{"required": ["Resource"]}, {"required": ["NotResource"]}],
}
IAM_SCHEMA = obj(
    ["Version", "Statement"],
    Version={"const": "2012-10-17"},
    Id=STRING,
    Statement=array(STATEMENT, 1),
)


COLLECTOR = "telemetry-collector"
COLLECTOR_CONTAINER = "collector"
GRACE_VAR = "SHUTDOWN_GRACE_PERIOD_SEC"
GRACE_DEFAULT_SEC = 20.0


class Checker:
    """Counts checks and collects problems, each printed as it is found."""

    def __init__(self, root):
        self.root = root
        self.problems = 0
        self.passed = 0

    def rel(self, path):
        try:
            return str(pathlib.Path(path).relative_to(self.root))
        except ValueError:
            return str(path)

    def fail(self, where, message):
        self.problems += 1
        print(f"FAIL {where}: {message}")

    def ok(self, message):
        self.passed += 1
        print(f"ok   {message}")

    def schema(self, where, schema, instance, what):
        """Validates `instance`; one line per error, with the path inside the document."""
        validator = jsonschema.Draft202012Validator(schema)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        for e in errors:
            self.fail(where, f"{_path(e.absolute_path)}: {e.message}")
        if not errors:
            self.ok(f"{where}: {what}")
        return not errors


def _path(parts):
    return "." + ".".join(str(p) for p in parts) if parts else "(top)"


def load_yaml_docs(checker, path):
    try:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        checker.fail(checker.rel(path), f"not readable YAML: {e}")
        return []
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            checker.fail(checker.rel(path), f"document {i + 1} is not a mapping")
    return [d for d in docs if isinstance(d, dict)]


# ---------------------------------------------------------------------------------------------
# Kubernetes


def check_kubernetes(c, deploy):
    """Returns every document of the manifests, as (file, document)."""
    k8s = deploy / "kubernetes"
    kustomization = k8s / "kustomization.yaml"
    docs = load_yaml_docs(c, kustomization)
    if not docs:
        c.fail(c.rel(kustomization), "missing or empty")
        return []
    listed = docs[0].get("resources") or []
    on_disk = sorted(p.name for p in k8s.glob("*.yaml") if p.name != "kustomization.yaml")
    for name in sorted(set(on_disk) - set(listed)):
        c.fail(c.rel(kustomization), f"{name} is not listed in resources: `kubectl apply -k` would skip it")
    for name in listed:
        if not (k8s / name).is_file():
            c.fail(c.rel(kustomization), f"resources lists {name}, which does not exist")
    for image in docs[0].get("images") or []:
        if not image.get("name") or not (image.get("newTag") or image.get("digest")):
            c.fail(c.rel(kustomization), f"images entry {image} needs a name and a newTag or digest")

    resources = []
    for name in listed:
        path = k8s / name
        if not path.is_file():
            continue
        for doc in load_yaml_docs(c, path):
            where = f"{c.rel(path)} {doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"
            resources.append((where, doc))
            if not isinstance(doc.get("apiVersion"), str) or not isinstance(doc.get("kind"), str):
                c.fail(where, "apiVersion and kind are required")
                continue
            if doc["apiVersion"].startswith("keda.sh/"):
                check_keda(c, where, doc)
                continue
            for version in K8S_VERSIONS:
                try:
                    kubernetes_validate.validate(doc, version, strict=True)
                    c.ok(f"{where}: Kubernetes {version} schema (strict)")
                except kubernetes_validate.ValidationError as e:
                    c.fail(where, f"Kubernetes {e.version} schema: {_path(e.absolute_path)}: {e.message}")
                except kubernetes_validate.SchemaNotFoundError as e:
                    c.fail(where, e.message)
            check_pod_spec(c, where, doc)
    return resources


def pod_spec(doc):
    if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
    return None


def check_pod_spec(c, where, doc):
    """What the schemas leave open: quantities, limits, images and the hardening."""
    spec = pod_spec(doc)
    if spec is None:
        return
    problems = c.problems
    strategy = ((doc.get("spec") or {}).get("strategy") or {}).get("type")
    if strategy not in (None, "RollingUpdate", "Recreate"):
        c.fail(where, f"strategy.type {strategy!r} is neither RollingUpdate nor Recreate")
    pod_sc = spec.get("securityContext") or {}
    for container in spec.get("containers") or []:
        cwhere = f"{where} container {container.get('name')}"
        if not container.get("image"):
            c.fail(cwhere, "no image")
        res = container.get("resources") or {}
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                value = (res.get(kind) or {}).get(resource)
                if value is None:
                    c.fail(cwhere, f"resources.{kind}.{resource} is not set")
                elif not QUANTITY.match(str(value)):
                    c.fail(cwhere, f"resources.{kind}.{resource} {value!r} is not a Kubernetes quantity")
        for resource in ("cpu", "memory"):
            request = _quantity((res.get("requests") or {}).get(resource))
            limit = _quantity((res.get("limits") or {}).get(resource))
            if request is not None and limit is not None and request > limit:
                c.fail(cwhere, f"{resource} request is above its limit")
        sc = container.get("securityContext") or {}

        def effective(key):
            return sc.get(key, pod_sc.get(key))

        wanted = {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
        }
        for key, value in wanted.items():
            got = sc.get(key) if key in ("readOnlyRootFilesystem", "allowPrivilegeEscalation") else effective(key)
            if got != value:
                c.fail(cwhere, f"securityContext.{key} is {got!r}, must be {value!r}")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            c.fail(cwhere, "securityContext.capabilities.drop must contain ALL")
        if ((effective("seccompProfile") or {}).get("type")) != "RuntimeDefault":
            c.fail(cwhere, "seccompProfile.type must be RuntimeDefault")
    if c.problems == problems:
        c.ok(f"{where}: quantities, limits, image and hardening")


_SUFFIX = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def _quantity(value):
    if value is None:
        return None
    m = re.match(r"^([0-9.]+)([a-zA-Z]*)$", str(value))
    if not m or m.group(2) not in _SUFFIX:
        return None
    return float(m.group(1)) * _SUFFIX[m.group(2)]


# ---------------------------------------------------------------------------------------------
# KEDA


def check_keda(c, where, doc):
    schema = KEDA_SCHEMAS.get(doc.get("kind"))
    if schema is None:
        c.fail(where, f"no schema for {doc.get('kind')} (known: {', '.join(KEDA_SCHEMAS)})")
        return
    if not c.schema(where, schema, doc, "KEDA CRD schema (keda.sh/v1alpha1)"):
        return
    if doc["kind"] == "ScaledObject":
        spec = doc["spec"]
        low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
        if not 0 <= low <= high:
            c.fail(where, f"minReplicaCount {low} must be within 0..=maxReplicaCount {high}")
        for i, trigger in enumerate(spec["triggers"]):
            if trigger["type"] == "aws-sqs-queue":
                c.schema(f"{where} triggers[{i}]", AWS_SQS_METADATA_SCHEMA, trigger["metadata"],
                         "aws-sqs-queue metadata")


# ---------------------------------------------------------------------------------------------
# Across files


def find(resources, kind, name=None):
    return [d for _, d in resources if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env") or [] if "name" in e}


def check_wiring(c, resources):
    before = c.problems
    names = {(d.get("kind"), (d.get("metadata") or {}).get("name")) for _, d in resources}
    for where, doc in resources:
        spec = pod_spec(doc)
        if spec is not None:
            account = spec.get("serviceAccountName")
            if account and ("ServiceAccount", account) not in names:
                c.fail(where, f"serviceAccountName {account} is not defined in deploy/kubernetes")
            labels = ((doc["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
            selector = (doc["spec"].get("selector") or {}).get("matchLabels") or {}
            if not selector or any(labels.get(k) != v for k, v in selector.items()):
                c.fail(where, f"selector {selector} does not match the pod labels {labels}")
        if doc.get("kind") == "ServiceAccount" and not (
            (doc["metadata"].get("annotations") or {}).get("eks.amazonaws.com/role-arn", "").startswith("arn:aws")
        ):
            c.fail(where, "needs the IRSA annotation eks.amazonaws.com/role-arn with a role ARN")

    deployments = find(resources, "Deployment", COLLECTOR)
    if len(deployments) != 1:
        c.fail("deploy/kubernetes", f"expected one Deployment {COLLECTOR}, found {len(deployments)}")
        return
    deployment = deployments[0]
    where = f"Deployment/{COLLECTOR}"
    pod = pod_spec(deployment)
    pod_labels = deployment["spec"]["template"]["metadata"].get("labels") or {}
    containers = [x for x in pod.get("containers") or [] if x.get("name") == COLLECTOR_CONTAINER]
    if len(containers) != 1:
        c.fail(where, f"expected one container named {COLLECTOR_CONTAINER}")
        return
    container = containers[0]
    env = env_of(container)
    if "replicas" in deployment["spec"]:
        c.fail(where, "sets replicas; KEDA owns the count, and a re-apply would reset it")

    # (f) The kubelet's SIGKILL must come after the collector's own drain.
    grace_pod = pod.get("terminationGracePeriodSeconds", 30)
    try:
        grace_app = float(env.get(GRACE_VAR, GRACE_DEFAULT_SEC))
    except (TypeError, ValueError):
        c.fail(where, f"{GRACE_VAR}={env.get(GRACE_VAR)!r} is not a number")
        grace_app = None
    if grace_app is not None:
        if grace_pod > grace_app:
            c.ok(f"{where}: terminationGracePeriodSeconds {grace_pod} > {GRACE_VAR} {grace_app:g}")
        else:
            c.fail(where, f"terminationGracePeriodSeconds {grace_pod} must exceed {GRACE_VAR} "
                          f"{grace_app:g}: the pod would be killed before the collector hands its messages back")

    # HTTP_ADDR must listen on the pod's interfaces, on the port the probes and Service use.
    ports = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
    addr = env.get("HTTP_ADDR") or "127.0.0.1:9898"
    host, _, port = addr.rpartition(":")
    if host not in ("0.0.0.0", "[::]"):
        c.fail(where, f"HTTP_ADDR {addr} is not reachable from outside the pod: use 0.0.0.0:{port}")
    if ports.get("metrics") != int(port or 0):
        c.fail(where, f"container port `metrics` {ports.get('metrics')} differs from HTTP_ADDR's port {port}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (container.get(probe) or {}).get("httpGet") or {}
        if get.get("path") != path or get.get("port") not in ("metrics", ports.get("metrics")):
            c.fail(where, f"{probe} must be GET {path} on port metrics, is {get}")

    for kind in ("Service", "PodDisruptionBudget"):
        for doc in find(resources, kind):
            selector = doc["spec"].get("selector") or {}
            selector = selector.get("matchLabels", selector) if kind == "PodDisruptionBudget" else selector
            if selector and all(pod_labels.get(k) == v for k, v in selector.items()):
                continue
            if doc["metadata"]["name"].startswith(COLLECTOR):
                c.fail(f"{kind}/{doc['metadata']['name']}", f"selector {selector} does not select the collector's pods")
    for svc in find(resources, "Service"):
        for p in svc["spec"].get("ports") or []:
            target = p.get("targetPort")
            if isinstance(target, str) and target not in ports:
                c.fail(f"Service/{svc['metadata']['name']}", f"targetPort {target} is not a container port")

    for so in find(resources, "ScaledObject"):
        swhere = f"ScaledObject/{so['metadata']['name']}"
        ref = so["spec"]["scaleTargetRef"]
        if ref.get("kind", "Deployment") != "Deployment" or ref["name"] != COLLECTOR:
            c.fail(swhere, f"scaleTargetRef {ref} is not the Deployment {COLLECTOR}")
        for trigger in so["spec"]["triggers"]:
            auth = (trigger.get("authenticationRef") or {}).get("name")
            if auth and ("TriggerAuthentication", auth) not in names:
                c.fail(swhere, f"authenticationRef {auth} is not defined in deploy/kubernetes")
            url = trigger["metadata"].get("queueURL", "")
            queue = env.get("SUBMISSIONS_QUEUE_NAME", "submissions")
            if trigger["type"] == "aws-sqs-queue" and url.rsplit("/", 1)[-1] != queue:
                c.fail(swhere, f"queueURL {url} is not the collector's queue {queue}")

    for sup in find(resources, "Deployment", "shard-supervisor"):
        swhere = "Deployment/shard-supervisor"
        if sup["spec"].get("replicas") != 1:
            c.fail(swhere, "must run exactly one replica")
        if (sup["spec"].get("strategy") or {}).get("type") != "Recreate":
            c.fail(swhere, "strategy must be Recreate, so two never run at once")
    if c.problems == before:
        c.ok("names agree across the manifests (accounts, selectors, ports, probes, scale target, queue)")


# ---------------------------------------------------------------------------------------------
# PromQL


# Grafana's variables are not PromQL: give each a value of its kind before parsing.
_GRAFANA_RANGES = re.compile(r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}")


def check_promql(c, where, expr):
    """Parses `expr`, one line if it does not parse. Whether its telemetry_collector_* series
    exist is checked by the Rust deploy test, against the collector's own /metrics output."""
    try:
        promql_parser.parse(_GRAFANA_RANGES.sub("5m", expr))
    except ValueError as e:
        c.fail(where, f"PromQL does not parse: {e}: {' '.join(expr.split())}")


def json_documents(c, paths, missing, schema, what):
    """Yields (where, document) for each of `paths` that is JSON and valid against `schema`."""
    if not paths:
        c.fail("deploy", missing)
    for path in paths:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            c.fail(c.rel(path), f"not JSON: {e}")
            continue
        if c.schema(c.rel(path), schema, document, what):
            yield c.rel(path), document


def check_grafana(c, deploy):
    dashboards = sorted((deploy / "grafana").glob("*.json"))
    for where, dashboard in json_documents(c, dashboards, "no Grafana dashboard in grafana/",
                                           DASHBOARD_SCHEMA, "Grafana dashboard structure"):
        panels = dashboard["panels"]
        ids = [p["id"] for p in panels]
        for dup in sorted({i for i in ids if ids.count(i) > 1}):
            c.fail(where, f"panel id {dup} is used more than once")
        cells = {}
        for panel in panels:
            g = panel["gridPos"]
            if g["x"] + g["w"] > 24:
                c.fail(where, f"panel {panel['id']} {panel['title']!r} runs past the grid's 24 columns")
            for cell in ((x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])):
                if cell in cells:
                    c.fail(where, f"panel {panel['id']} {panel['title']!r} overlaps panel {cells[cell]}")
                    break
                cells[cell] = panel["id"]
        before, exprs = c.problems, 0
        for panel in panels:
            for target in panel.get("targets") or []:
                exprs += 1
                check_promql(c, f"{where} panel {panel['id']} {panel['title']!r} {target['refId']}", target["expr"])
        if c.problems == before:
            c.ok(f"{where}: {len(panels)} panels, unique ids, no overlap, {exprs} expressions parse")


def check_alerts(c, deploy):
    path = deploy / "prometheus" / "alerts.yaml"
    where = c.rel(path)
    docs = load_yaml_docs(c, path)
    if len(docs) != 1:
        c.fail(where, "expected one YAML document")
        return
    if not c.schema(where, RULES_SCHEMA, docs[0], "Prometheus rules file structure"):
        return
    before = c.problems
    seen = set()
    rules = [r for g in docs[0]["groups"] for r in g["rules"]]
    for rule in rules:
        if rule["alert"] in seen:
            c.fail(where, f"alert {rule['alert']} is defined twice")
        seen.add(rule["alert"])
        check_promql(c, f"{where} {rule['alert']}", rule["expr"])
    if c.problems == before:
        c.ok(f"{where}: {len(rules)} alerts, expressions parse")


# ---------------------------------------------------------------------------------------------
# IAM


def check_iam(c, deploy):
    policies = sorted(p for p in deploy.rglob("*.json") if "policy" in p.name)
    for where, document in json_documents(c, policies, "no IAM policy (*policy*.json)",
                                          IAM_SCHEMA, "IAM policy document"):
        sids = [s["Sid"] for s in document["Statement"] if "Sid" in s]
        if len(sids) != len(set(sids)):
            c.fail(where, "statement ids (Sid) must be unique")


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deploy-dir", type=pathlib.Path, default=root / "deploy",
                        help="the folder to check (default: deploy/ of this checkout)")
    parser.add_argument("--env-of", metavar="DEPLOYMENT",
                        help="only print the env of the Deployment's first container as one JSON "
                             "object (for the Rust tests, which feed it to the program's own parser)")
    args = parser.parse_args()
    deploy = args.deploy_dir.resolve()
    if args.env_of:
        return print_env_of(deploy, args.env_of)
    c = Checker(deploy.parent)
    print(f"validate-deploy: {c.rel(deploy)} with kubernetes-validate {kubernetes_validate.__version__} "
          f"(Kubernetes {', '.join(K8S_VERSIONS)}), jsonschema {_version('jsonschema')}, "
          f"promql-parser {_version('promql-parser')}")
    resources = check_kubernetes(c, deploy)
    if resources and not c.problems:
        check_wiring(c, resources)
    elif resources:
        print("skip names across the manifests: fix the problems above first")
    check_grafana(c, deploy)
    check_alerts(c, deploy)
    check_iam(c, deploy)
    if c.problems:
        print(f"validate-deploy: {c.problems} problem(s); {c.passed} check(s) good")
        return 1
    print(f"validate-deploy: all {c.passed} checks good")
    return 0


def print_env_of(deploy, name):
    for path in sorted((deploy / "kubernetes").glob("*.yaml")):
        with open(path, encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                if doc and doc.get("kind") == "Deployment" and doc["metadata"]["name"] == name:
                    print(json.dumps(env_of(pod_spec(doc)["containers"][0])))
                    return 0
    print(f"validate-deploy: no Deployment {name} in {deploy / 'kubernetes'}", file=sys.stderr)
    return 1


def _version(package):
    import importlib.metadata

    return importlib.metadata.version(package)


if __name__ == "__main__":
    sys.exit(main())
