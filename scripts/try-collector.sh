#!/usr/bin/env bash
# Runs the collector against local emulators: moto (SQS) and kinesalite (Kinesis) on free
# loopback ports, a queue `submissions` and a 2-shard stream `events`, a batch of sample
# submissions (valid ones and about 5 % broken), then the collector in the foreground.
# Ctrl-C stops the collector (it drains), then every process this script started (the
# emulators run in their own session, so Ctrl-C does not kill them before the drain).
#   scripts/try-collector.sh [SUBMISSIONS]     (default 200)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
count="${1:-200}"

scripts/install-emulators.sh
cargo build --release --locked -p telemetry-collector

free_port() { .tools/venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sqs_port=$(free_port); kinesis_port=$(free_port)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
setsid .tools/venv/bin/moto_server -H 127.0.0.1 -p "$sqs_port" >/dev/null 2>&1 & pids+=($!)
setsid .tools/node/node_modules/.bin/kinesalite --port "$kinesis_port" --shardLimit 100 --createStreamMs 0 >/dev/null 2>&1 & pids+=($!)

export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$sqs_port" AWS_ENDPOINT_URL_KINESIS="http://127.0.0.1:$kinesis_port"

.tools/venv/bin/python - "$count" <<'PY'
import base64, json, random, socket, sys, time, uuid
import boto3
for port_var in ("AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_KINESIS"):
    import os
    host, port = os.environ[port_var].rsplit(":", 1)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", int(port)), timeout=0.2).close(); break
        except OSError:
            time.sleep(0.05)
sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL_SQS"])
kinesis = boto3.client("kinesis", endpoint_url=os.environ["AWS_ENDPOINT_URL_KINESIS"])
url = sqs.create_queue(QueueName="submissions")["QueueUrl"]
kinesis.create_stream(StreamName="events", ShardCount=2)
devices = [str(uuid.uuid4()) for _ in range(10)]
def submission():
    s = {"submission_id": str(uuid.uuid4()), "device_id": random.choice(devices),
         "time_created": "2021-03-28T15:44:18.592840",
         "events": {"new_process": [{"cmdl": random.choice(["notepad.exe", "calc.exe"]), "user": "john"} for _ in range(random.randint(3, 5))],
                    "network_connection": [{"source_ip": "192.168.0.2", "destination_ip": "23.13.252.39",
                                            "destination_port": random.randint(0, 65535)} for _ in range(random.randint(3, 5))]}}
    r = random.random()
    if r < 0.02: s["device_id"] = "not-an-uuid"
    elif r < 0.04: s["events"]["new_process"][0]["cmdl"] = None
    elif r < 0.05: s["events"]["network_connection"][0]["destination_ip"] = "not-an-ip"
    return base64.b64encode(json.dumps(s).encode()).decode()
n = int(sys.argv[1])
for i in range(0, n, 10):
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": submission()} for j in range(min(10, n - i))])
print(f"sent {n} submissions to {url}", file=sys.stderr)
PY

echo "collector running; Ctrl-C to stop (it drains, then exits; then the emulators stop)" >&2
# In the foreground: Ctrl-C reaches the collector, and the EXIT trap runs after it has drained.
SUMMARY_INTERVAL_SEC=2 QUEUE_WAIT_TIME_SEC=5 target/release/telemetry-collector || true
