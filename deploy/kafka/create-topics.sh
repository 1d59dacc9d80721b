#!/bin/bash
# One-shot topic creator for docker-compose.yml: creates Vigil's topics on the compose Kafka and exits 0.
# Names and partition counts match configs/vigil.yaml (the config the vigil service runs).
set -euo pipefail
BOOTSTRAP="${BOOTSTRAP:-kafka:19092}"
KT=/opt/kafka/bin/kafka-topics.sh
create() {
    "$KT" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists --topic "$1" --partitions "$2" --replication-factor 1 "${@:3}"
}
create transactions 4
create alerts 4
create scores 4
create transactions.dlq 4
create labels 4
"$KT" --bootstrap-server "$BOOTSTRAP" --list
