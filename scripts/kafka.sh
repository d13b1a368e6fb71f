#!/usr/bin/env bash
# Resolves the Apache Kafka broker (org.apache.kafka:kafka_2.13, scripts/kafka/pom.xml) with its runtime
# dependencies from Maven Central into a cache folder, once. Tests and benchmarks start and stop the broker
# themselves (tests/support/kafkabroker.py); `scripts/kafka.sh run` starts one on loopback for local work.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${WARNROUTE_KAFKA_LIBS:-${XDG_CACHE_HOME:-$HOME/.cache}/warnroute/kafka-$(sed -n 's#.*<artifactId>kafka_2.13</artifactId><version>\(.*\)</version>.*#\1#p' scripts/kafka/pom.xml)}"
case "${1:-fetch}" in
  fetch)
    if [ ! -f "$CACHE/.complete" ]; then
      rm -rf "$CACHE" && mkdir -p "$CACHE"
      mvn -B -q -f scripts/kafka/pom.xml \
        org.apache.maven.plugins:maven-dependency-plugin:3.11.0:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$CACHE" >&2
      touch "$CACHE/.complete"
    fi
    echo "$CACHE" ;;
  run)
    WARNROUTE_KAFKA_LIBS="$(bash "$0" fetch)" exec .venv/bin/python -m tests.support.kafkabroker "${@:2}" ;;
  *) echo "usage: scripts/kafka.sh [fetch|run [--port P]]" >&2; exit 2 ;;
esac
