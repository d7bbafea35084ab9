#!/usr/bin/env bash
# Runs the collector against local emulators: moto (SQS) and kinesalite (Kinesis) on free
# loopback ports, a queue `submissions` and a 2-shard stream `events`, a batch of sample
# submissions from sensor-fleet (valid ones and about 5 % broken), then the collector in the
# foreground.
# Ctrl-C stops the collector (it drains), then every process this script started (the
# emulators run in their own session, so Ctrl-C does not kill them before the drain).
#   scripts/try-collector.sh [SUBMISSIONS]     (default 200)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
count="${1:-200}"

scripts/install-emulators.sh
cargo build --release --locked -p telemetry-collector -p telemetry-fleet

free_port() { .tools/venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sqs_port=$(free_port); kinesis_port=$(free_port)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
setsid .tools/venv/bin/python crates/localenv/moto_server.py -H 127.0.0.1 -p "$sqs_port" >/dev/null 2>&1 & pids+=($!)
setsid .tools/node/node_modules/.bin/kinesalite --port "$kinesis_port" --shardLimit 100 --createStreamMs 0 >/dev/null 2>&1 & pids+=($!)

export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$sqs_port" AWS_ENDPOINT_URL_KINESIS="http://127.0.0.1:$kinesis_port"

# Wait for both emulators, then create the queue and the stream (boto3 comes with moto).
.tools/venv/bin/python - <<'PY'
import os, socket, time
import boto3
for port_var in ("AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_KINESIS"):
    host, port = os.environ[port_var].rsplit(":", 1)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", int(port)), timeout=0.2).close(); break
        except OSError:
            time.sleep(0.05)
boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL_SQS"]).create_queue(QueueName="submissions")
boto3.client("kinesis", endpoint_url=os.environ["AWS_ENDPOINT_URL_KINESIS"]).create_stream(StreamName="events", ShardCount=2)
PY

# The sample: 10 devices, 3-5 events of each type, 2 % with a bad device id, 2 % a null cmdl,
# 1 % a bad destination ip; sent as fast as the emulator takes them.
target/release/sensor-fleet --count "$count" --rate 1000 --quiet \
  --broken bad_device_id=0.02 --broken wrong_type=0.02 --broken bad_ip=0.01 --broken bad_submission_id=0

echo "collector running; Ctrl-C to stop (it drains, then exits; then the emulators stop)" >&2
# In the foreground: Ctrl-C reaches the collector, and the EXIT trap runs after it has drained.
SUMMARY_INTERVAL_SEC=2 QUEUE_WAIT_TIME_SEC=5 target/release/telemetry-collector || true
