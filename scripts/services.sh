#!/usr/bin/env bash
# Start PostgreSQL, RabbitMQ and Redis on 127.0.0.1 when they are not running (the cluster tests use them).
set -uo pipefail
up() { timeout 2 bash -c "</dev/tcp/127.0.0.1/$1" 2>/dev/null; }
wait_up() { for _ in $(seq 1 60); do up "$2" && return 0; sleep 1; done; echo "services: $1 did not start on :$2" >&2; }
if ! up 5432; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start && wait_up PostgreSQL 5432
fi
if ! up 5672; then
    rabbitmq-server -detached && wait_up RabbitMQ 5672
fi
if ! up 6379; then
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no && wait_up Redis 6379
fi
exit 0
