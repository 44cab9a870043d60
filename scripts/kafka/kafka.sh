#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, broker+controller in one JVM) for tests and
# benchmarks. Only Maven Central is reachable here, so the broker is run from
# jars that Maven collects (pom.xml beside this script), not from a tarball.
#
#   kafka.sh fetch                                  collect jars once into .cache/
#   kafka.sh start [--port N] [--dir DIR] [--owner-pid PID] [--clean]
#                                                   background broker; stdout: 127.0.0.1:PORT
#   kafka.sh stop  (--dir DIR | --port N) [--clean] [--kill]
#   kafka.sh run   [--port N] [--dir DIR]           foreground, port 9092 by default
#
# Env: KAFKA_JVM_OPTS (appended to the JVM flags), KAFKA_READY_TIMEOUT (s, default 90).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml")
CACHE="$ROOT/.cache/kafka/$VERSION"
LIBS="$CACHE/libs"
READY_TIMEOUT=${KAFKA_READY_TIMEOUT:-90}
# Tuned for a 2-core box. Serial GC: fewer GC threads, less RSS, tiny heap anyway.
# C1 only (TieredStopAtLevel=1): starts ~0.5-1 s faster and burns less CPU on
# JIT; measured no loss in KafkaJS produce throughput here, since the client is
# the bottleneck. KAFKA_JVM_OPTS=-XX:TieredStopAtLevel=4 restores C2 for long runs.
JVM_OPTS=(-Xms256m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
          -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true)

log() { echo "kafka.sh: $*" >&2; }
die() { log "$*"; exit 1; }

fetch() {
  [[ -f "$CACHE/.complete" ]] && return 0
  command -v mvn >/dev/null || die "mvn not found (needed once to collect the Kafka jars)"
  mkdir -p "$CACHE"
  # Parallel test runs may all call fetch at once: let one of them do it.
  exec 8>"$CACHE/.lock"
  command -v flock >/dev/null && flock 8
  if [[ ! -f "$CACHE/.complete" ]]; then
    log "collecting Kafka $VERSION jars from Maven Central into $LIBS (once)..."
    rm -rf "$LIBS"
    mvn -q -B -Dstyle.color=never -f "$HERE/pom.xml" \
      org.apache.maven.plugins:maven-dependency-plugin:3.11.0:copy-dependencies \
      -DoutputDirectory="$LIBS" -DincludeScope=runtime 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2  # Debian's mvn emits colour codes even with -B
    touch "$CACHE/.complete"
    log "collected $(find "$LIBS" -name "*.jar" | wc -l) jars"
  fi
  exec 8>&-
}

# Prints N distinct free loopback ports; all sockets stay open until every
# port is picked so the same port can't be handed out twice.
free_ports() {
  node -e '
    const net = require("net"), n = +process.argv[1], socks = [];
    (function next() {
      if (socks.length === n) { console.log(socks.map(s => s.address().port).join(" ")); socks.forEach(s => s.close()); return; }
      const s = net.createServer(); s.listen(0, "127.0.0.1", () => { socks.push(s); next(); });
    })();' "$1"
}

prop() { sed -n "s/^$1=//p" "$DIR/server.properties" 2>/dev/null | tail -1; }
# A zombie counts as dead: PID 1 here reaps exited orphans only every ~2 s.
alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null && [[ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]]; }
# Guards against pid reuse: only ever signal a kafka.Kafka JVM started for this DIR.
broker_pid() {
  local pid
  pid=$(cat "$DIR/kafka.pid" 2>/dev/null) || return 1
  alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $DIR/server.properties" && echo "$pid"
}

# Decides PORT/CPORT/DIR. A formatted DIR keeps its ports: the controller
# endpoint is recorded in the KRaft voter set, and clients cache the broker one.
setup_dir() {
  local default_port=$1
  if [[ -n "$DIR" && -f "$DIR/server.properties" ]]; then
    DIR=$(cd "$DIR" && pwd)
    local old; old=$(prop advertised.listeners); old=${old##*:}
    [[ -z "$PORT" || "$PORT" == "$old" ]] || die "$DIR already uses port $old (asked for $PORT)"
    PORT=$old; CPORT=$(prop controller.quorum.bootstrap.servers); CPORT=${CPORT##*:}
    return
  fi
  if [[ -z "$PORT" ]]; then
    if [[ -n "$default_port" ]]; then PORT=$default_port; CPORT=$(free_ports 1)
    else read -r PORT CPORT < <(free_ports 2); fi
  else
    CPORT=$(free_ports 1)
  fi
  DIR=${DIR:-$ROOT/.cache/kafka/run-$PORT}
  mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd)
  # Defaults are tuned for 3-node production clusters; these make one node
  # work at all (replication factors) and make tests fast (the rest).
  cat >"$DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
# Dynamic quorum (KIP-853), required by "format --standalone".
controller.quorum.bootstrap.servers=127.0.0.1:$CPORT
log.dirs=$DIR/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Internal topics default to 50 partitions; creating them stalls the first
# consumer-group join / transactional producer for no benefit on one node.
offsets.topic.num.partitions=4
transaction.state.log.num.partitions=4
share.coordinator.state.topic.num.partitions=4
# Classic groups otherwise wait 3 s for more members before the first rebalance.
group.initial.rebalance.delay.ms=0
# After a crash (kill -9) the restarted broker is refused with
# DUPLICATE_BROKER_REGISTRATION until its old session expires (default 9 s).
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=1000
# Lets tests use short consumer session timeouts (broker default minimum is 6 s).
group.min.session.timeout.ms=1000
EOF
}

write_log4j() {  # $1 = File | Console
  # shellcheck disable=SC2016  # ${sys:...} is log4j's lookup, not bash's
  local target='appender.out.fileName = ${sys:kafka.logs.dir}/kafka.log'
  [[ $1 == File ]] || target='appender.out.target = SYSTEM_OUT'
  # WARN keeps the log small; the startup line is INFO, and readiness waits for it.
  cat >"$DIR/log4j2.properties" <<EOF
status = warn
appender.out.type = $1
appender.out.name = OUT
$target
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
EOF
}

format_if_needed() {
  [[ -f "$DIR/data/meta.properties" ]] && return 0
  # Any base64url UUID will do; a leading '-' would be parsed as a CLI flag.
  local id; id=$(node -e 'let s; do s = require("crypto").randomBytes(16).toString("base64url"); while (s[0] === "-"); console.log(s)')
  java "${JVM_OPTS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format --standalone \
    -t "$id" -c "$DIR/server.properties" >"$DIR/format.log" 2>&1 || { cat "$DIR/format.log" >&2; die "format failed"; }
}

java_cmd() {
  # shellcheck disable=SC2206  # KAFKA_JVM_OPTS is meant to be word-split
  JAVA=(java "${JVM_OPTS[@]}" ${KAFKA_JVM_OPTS:-} -Dlog4j2.configurationFile="$DIR/log4j2.properties"
        -Dkafka.logs.dir="$DIR" -cp "$LIBS/*" kafka.Kafka "$DIR/server.properties")
}

# The "Kafka Server started" line is logged only after the broker is unfenced,
# i.e. it accepts produce/consume, not just TCP connections.
wait_ready() {
  local pid=$1 deadline=$((SECONDS + READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    alive "$pid" || return 1
    if grep -q 'Kafka Server started' "$DIR/kafka.log" 2>/dev/null \
       && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      # With kafkajs installed, also prove a real client gets metadata.
      [[ -d "$ROOT/node_modules/kafkajs" ]] || return 0
      (cd "$ROOT" && node -e '
        const { Kafka, logLevel } = require("kafkajs");
        const a = new Kafka({ brokers: [process.argv[1]], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
        a.connect().then(() => a.listTopics()).then(() => a.disconnect()).then(() => process.exit(0), () => process.exit(1));' \
        "127.0.0.1:$PORT") && return 0
    fi
    sleep 0.2
  done
  return 1
}

cmd_start() {
  fetch
  setup_dir ""
  local pid
  if pid=$(broker_pid); then log "already running (pid $pid)"; echo "127.0.0.1:$PORT"; return 0; fi
  write_log4j File
  format_if_needed
  # Keep the previous run's log for post-mortems; readiness must only see this run's.
  [[ -f "$DIR/kafka.log" ]] && mv -f "$DIR/kafka.log" "$DIR/kafka.log.1"
  java_cmd
  "${JAVA[@]}" </dev/null >"$DIR/kafka.out" 2>&1 &
  pid=$!
  echo "$pid" >"$DIR/kafka.pid"
  if [[ -n "$OWNER" ]]; then
    # Test runners can die without running their cleanup; don't leak a 500 MB JVM.
    (while alive "$OWNER" && alive "$pid"; do sleep 1; done
     alive "$pid" && bash "$HERE/kafka.sh" stop --dir "$DIR" ${CLEAN:+--clean}) </dev/null >/dev/null 2>&1 &
  fi
  if ! wait_ready "$pid"; then
    if alive "$pid"; then log "broker not ready within ${READY_TIMEOUT}s; last log lines:"
    else log "broker exited during startup; last log lines:"; fi
    tail -n 40 "$DIR/kafka.log" "$DIR/kafka.out" >&2 2>/dev/null || true
    alive "$pid" && kill -9 "$pid" 2>/dev/null
    exit 1
  fi
  echo "127.0.0.1:$PORT"
}

cmd_stop() {
  [[ -n "$DIR" ]] || { [[ -n "$PORT" ]] && DIR=$ROOT/.cache/kafka/run-$PORT; } || die "stop needs --dir or --port"
  [[ -d "$DIR" ]] || { log "no such dir $DIR"; return 0; }
  DIR=$(cd "$DIR" && pwd)
  local pid
  if pid=$(broker_pid); then
    # SIGTERM = controlled shutdown (clean restart, no log recovery); --kill simulates a crash.
    kill -CONT "$pid" 2>/dev/null || true  # a paused (SIGSTOP) JVM would never act on SIGTERM
    kill "-${KILL_SIGNAL}" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.2; done
    alive "$pid" && { log "pid $pid ignored SIGTERM for 20s; killing"; kill -9 "$pid" 2>/dev/null || true; }
    while alive "$pid"; do sleep 0.1; done
  fi
  rm -f "$DIR/kafka.pid"
  [[ -z "$CLEAN" ]] || rm -rf "$DIR"
}

cmd_run() {
  fetch
  setup_dir 9092
  write_log4j Console
  format_if_needed
  log "Kafka $VERSION on 127.0.0.1:$PORT (dir $DIR); Ctrl-C stops it"
  java_cmd
  exec "${JAVA[@]}"
}

CMD=${1:-}; shift || true
PORT="" DIR="" OWNER="" CLEAN="" KILL_SIGNAL=TERM
while (($#)); do
  case $1 in
    --port) PORT=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    --owner-pid) OWNER=$2; shift 2 ;;
    --clean) CLEAN=1; shift ;;
    --kill) KILL_SIGNAL=KILL; shift ;;
    *) die "unknown option $1" ;;
  esac
done
case $CMD in
  fetch) fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  run) cmd_run ;;
  *) sed -n '2,13s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
