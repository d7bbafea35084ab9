#!/usr/bin/env bash
# LocalStack init hook: runs when LocalStack is ready; creates the queue and the 2-shard stream.
set -euo pipefail
awslocal sqs create-queue --queue-name "${SUBMISSIONS_QUEUE_NAME:-submissions}"
awslocal kinesis create-stream --stream-name "${EVENTS_DATA_STREAM_NAME:-events}" --shard-count 2
awslocal kinesis wait stream-exists --stream-name "${EVENTS_DATA_STREAM_NAME:-events}"
echo "queue and stream ready"
