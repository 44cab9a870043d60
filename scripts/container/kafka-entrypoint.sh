#!/usr/bin/env bash
# Entrypoint of the apache/kafka stand-in (see stand-ins.sh; test scaffolding). Like the
# official image: every KAFKA_* variable becomes a server.properties line (KAFKA_FOO_BAR →
# foo.bar, `__` → `_`, `___` → `-`), CLUSTER_ID formats an empty log directory, then one
# KRaft broker/controller JVM runs in the foreground, logging to stdout (log4j's default
# console configuration, at KAFKA_LOG_LEVEL: INFO by default).
set -euo pipefail
CONFIG=/opt/kafka/config/server.properties
# These tune the JVM, not the broker.
SKIP='^KAFKA_(HEAP_OPTS|JVM_PERFORMANCE_OPTS|OPTS|LOG4J_OPTS|JMX_OPTS|GC_LOG_OPTS|DEBUG|LOG_LEVEL)$'

: >"$CONFIG"
while IFS= read -r var; do
  [[ $var =~ $SKIP ]] && continue
  key=$(printf '%s' "${var#KAFKA_}" | tr '[:upper:]' '[:lower:]' | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g')
  printf '%s=%s\n' "$key" "${!var}" >>"$CONFIG"
done < <(compgen -e | grep '^KAFKA_' || true)

# shellcheck disable=SC2206  # the *_OPTS variables are meant to be word-split
JAVA=(java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError}
      ${KAFKA_OPTS:-} -Djava.awt.headless=true -Dorg.apache.logging.log4j.level=${KAFKA_LOG_LEVEL:-INFO}
      -cp "/opt/kafka/libs/*")
"${JAVA[@]}" kafka.tools.StorageTool format --ignore-formatted \
  --cluster-id "${CLUSTER_ID:?set CLUSTER_ID}" -c "$CONFIG" >/dev/null
exec "${JAVA[@]}" kafka.Kafka "$CONFIG"
