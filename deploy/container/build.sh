#!/usr/bin/env bash
# Builds the container images vigil-agent and vigil-collector FROM scratch: no base image,
# no registry. Each image's root filesystem is assembled here from
#   - the release binaries: $CARGO_TARGET_DIR/agent/vigil-agent (cargo build -p vigil-agent
#     --profile agent) and $CARGO_TARGET_DIR/release/vigil-collector and vigil (cargo build
#     --release -p vigil-collector -p vigil-cli);
#   - the shared libraries they load, as ldd finds them on this (Debian) machine, with the
#     copyright files of the Debian packages they come from;
#   - /etc/passwd and /etc/group naming the non-root user the images run as, 65532;
#   - the configs in this directory, the example rules, and (collector) Debian's CA
#     certificates;
# then built with podman (or buildah) from agent.Containerfile and collector.Containerfile.
#
# Usage: deploy/container/build.sh [--rootfs-only]
#   --rootfs-only  assemble the build contexts, build no image (no podman or buildah needed)
# Writes the build contexts to $CARGO_TARGET_DIR/container/{agent,collector}/ and tags the
# images localhost/vigil-agent:VERSION, localhost/vigil-collector:VERSION (and :latest).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$HOME/.cache/vigil/target}
out=$target/container
uid=65532

rootfs_only=false
for arg in "$@"; do
  case $arg in
    --rootfs-only) rootfs_only=true ;;
    -h | --help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $arg; see --help" >&2; exit 2 ;;
  esac
done

agent_bin=$target/agent/vigil-agent
collector_bin=$target/release/vigil-collector
cli_bin=$target/release/vigil
missing=false
for bin in "$agent_bin" "$collector_bin" "$cli_bin"; do
  if [[ ! -x $bin ]]; then
    echo "build.sh: $bin is missing" >&2
    missing=true
  fi
done
if $missing; then
  echo "build.sh: build the binaries first, with the same CARGO_TARGET_DIR ($target):" >&2
  echo "  cargo build -p vigil-agent --profile agent" >&2
  echo "  cargo build --release -p vigil-collector -p vigil-cli" >&2
  exit 1
fi

engine=
if ! $rootfs_only; then
  if command -v podman >/dev/null 2>&1; then
    engine=podman
  elif command -v buildah >/dev/null 2>&1; then
    engine=buildah
  else
    echo "build.sh: neither podman nor buildah is installed (apt-get install podman);" \
      "--rootfs-only assembles the root filesystems without them" >&2
    exit 1
  fi
fi

version=$("$agent_bin" --version | awk '{print $2}')

# One build at a time per target directory: the contexts are rebuilt from nothing.
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9

# The Debian package that installed FILE, or nothing. dpkg records paths as installed,
# before /lib became a link to /usr/lib, so both spellings are tried.
package_of() {
  local file=$1 real path pkg
  real=$(readlink -f "$file")
  for path in "$file" "$real" "/usr${real#/usr}" "${real#/usr}"; do
    if pkg=$(dpkg-query -S "$path" 2>/dev/null | head -n 1) && [[ -n $pkg ]]; then
      echo "${pkg%%:*}"
      return
    fi
  done
}

# Copies FILE to ROOTFS/DEST, and the copyright file of its Debian package (PKG, when
# dpkg does not know the file) to /usr/share/doc: the licences of what the image ships.
ship() {
  local rootfs=$1 file=$2 dest=$3 mode=$4 pkg=${5:-}
  install -D -m "$mode" "$(readlink -f "$file")" "$rootfs$dest"
  [[ -n $pkg ]] || pkg=$(package_of "$file")
  if [[ -n $pkg && -f /usr/share/doc/$pkg/copyright ]]; then
    install -D -m 0644 "/usr/share/doc/$pkg/copyright" "$rootfs/usr/share/doc/$pkg/copyright"
  fi
}

# Copies the executable BIN to ROOTFS/DEST with every shared library ldd says it loads,
# each at the path ldd gives (the dynamic loader's default search path).
ship_binary() {
  local rootfs=$1 bin=$2 dest=$3 libs
  ship "$rootfs" "$bin" "$dest" 0755
  if ! libs=$(ldd "$bin"); then
    echo "build.sh: ldd $bin failed: is it a dynamic executable for this machine?" >&2
    exit 1
  fi
  if grep -q 'not found' <<<"$libs"; then
    echo "build.sh: $bin needs libraries this machine lacks:" >&2
    grep 'not found' <<<"$libs" >&2
    exit 1
  fi
  # "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)", "/lib64/ld-linux-x86-64.so.2
  # (0x...)"; the vDSO has no file.
  for lib in $(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i}' <<<"$libs"); do
    ship "$rootfs" "$lib" "$lib" 0755
  done
}

# The files every image has: users, name service, /tmp.
base() {
  local rootfs=$1 home=$2
  # /var/lib is root's: COPY --chown of the state directory would otherwise create it,
  # and /var, owned by the user.
  install -d -m 0755 "$rootfs/etc" "$rootfs/usr/bin" "$rootfs/var/lib"
  install -d -m 1777 "$rootfs/tmp"
  printf '%s\n' \
    "root:x:0:0:root:/root:/sbin/nologin" \
    "nonroot:x:$uid:$uid:vigil:$home:/sbin/nologin" >"$rootfs/etc/passwd"
  printf '%s\n' "root:x:0:" "nonroot:x:$uid:" >"$rootfs/etc/group"
  chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
  # glibc resolves host names itself (files, then DNS); the container engine or the
  # kubelet provides /etc/hosts and /etc/resolv.conf.
  echo "hosts: files dns" >"$rootfs/etc/nsswitch.conf"
  chmod 0644 "$rootfs/etc/nsswitch.conf"
}

# A fresh build context NAME with rootfs/ and state/.
context() {
  local dir=$out/$1
  rm -rf "$dir"
  install -d -m 0755 "$dir/rootfs" "$dir/state"
  echo "$dir"
}

agent=$(context agent)
base "$agent/rootfs" /var/lib/vigil-agent
ship_binary "$agent/rootfs" "$agent_bin" /usr/bin/vigil-agent
ship_binary "$agent/rootfs" "$(command -v chown)" /usr/bin/chown
install -D -m 0644 "$here/agent.toml" "$agent/rootfs/etc/vigil/agent.toml"
install -d -m 0700 "$agent/state/vigil-agent"

collector=$(context collector)
base "$collector/rootfs" /var/lib/vigil
ship_binary "$collector/rootfs" "$collector_bin" /usr/bin/vigil-collector
ship_binary "$collector/rootfs" "$cli_bin" /usr/bin/vigil
ca_bundle=/etc/ssl/certs/ca-certificates.crt
if [[ ! -f $ca_bundle ]]; then
  echo "build.sh: $ca_bundle is missing: apt-get install ca-certificates" >&2
  exit 1
fi
# update-ca-certificates writes the bundle: dpkg does not know it.
ship "$collector/rootfs" "$ca_bundle" "$ca_bundle" 0644 ca-certificates
install -D -m 0644 "$here/collector.toml" "$collector/rootfs/etc/vigil/collector.toml"
install -D -m 0644 "$repo/deploy/rules/host.example.yml" "$collector/rootfs/etc/vigil/rules/host.yml"
# Mount points for the secrets (see collector.toml).
install -d -m 0755 "$collector/rootfs/etc/vigil/pki" "$collector/rootfs/etc/vigil/tokens"
install -d -m 0700 "$collector/state/vigil"

echo "build.sh: root filesystems in $out/{agent,collector}/rootfs (version $version)"
if $rootfs_only; then
  exit 0
fi

for image in agent collector; do
  name=localhost/vigil-$image
  # The image these tags name now: removed once they name the new one, unless in use.
  old=$($engine image inspect --format '{{.Id}}' "$name:$version" 2>/dev/null || true)
  # No intermediate images: there is nothing to cache between two COPY steps.
  build=(--quiet --layers=false -t "$name:$version" -t "$name:latest" --build-arg "VERSION=$version"
    -f "$here/$image.Containerfile" "$out/$image")
  case $engine in
    podman) podman build "${build[@]}" >/dev/null ;;
    buildah) buildah bud "${build[@]}" >/dev/null ;;
  esac
  new=$($engine image inspect --format '{{.Id}}' "$name:$version")
  if [[ -n $old && $old != "$new" ]]; then
    $engine rmi "$old" >/dev/null 2>&1 || true
  fi
  echo "build.sh: built $name:$version with $engine"
done
