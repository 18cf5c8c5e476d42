#!/usr/bin/env bash
# Installs (once) what the `litert-arm64` runtime needs: an aarch64 user-mode emulator and an arm64 userland
# with Python 3.11, NumPy and the aarch64 build of LiteRT. No root, no chroot, no binfmt: the runtime starts
# `qemu-aarch64 -L ROOT -cpu MODEL ROOT/usr/bin/python3.11 worker.py` itself.
#
# Every file it downloads is pinned (version and sha256) in scripts/arm64_pins.txt:
#   - Debian 13's qemu-user (QEMU 10.0; its qemu-aarch64 is static-pie, so the .deb alone is enough).
#     Debian 12's qemu-user 7.2 crashes (SIGSEGV) as soon as LiteRT creates an interpreter.
#   - Debian 12 arm64 .debs of python3.11-minimal and the libraries it and LiteRT load, unpacked into one root.
#   - aarch64 CPython 3.11 wheels of ai-edge-litert (the version the x86 side uses), numpy and their deps,
#     fetched with `pip download --require-hashes` and unzipped into one folder put on PYTHONPATH.
# Downloads are checked against their sha256 and kept in CACHE/downloads; the unpacked environment is built in
# a temporary folder, smoke-tested (LiteRT imports under the emulator) and only then renamed to CACHE/env.
# A second run finds CACHE/env/ready matching the pins and returns at once, without the network
# (`unshare -n bash scripts/setup_arm64.sh` proves it); a run with the downloads cached rebuilds offline.
#
# Progress goes to stderr; stdout gets one line, ARM64_ENV=..., for the caller to eval.
# Cache: $SHUFFLENET_ARM64_CACHE, default .cache/arm64 in the repository (gitignored).
# Mirror: $DEBIAN_MIRROR_BASE, default http://deb.debian.org (holding debian/ and debian-security/).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PINS="$HERE/arm64_pins.txt"
CACHE="${SHUFFLENET_ARM64_CACHE:-$ROOT/.cache/arm64}"
MIRROR="${DEBIAN_MIRROR_BASE:-http://deb.debian.org}"
log() { echo "[setup_arm64] $*" >&2; }
die() {
  log "$*"
  exit 1
}

mkdir -p "$CACHE/downloads"
CACHE="$(cd "$CACHE" && pwd)"
ENV="$CACHE/env"
# The environment is valid for exactly these pins: editing the pins file rebuilds it.
STAMP="$(sha256sum "$PINS" | cut -d' ' -f1)"

if [ -f "$ENV/ready" ] && [ "$(cat "$ENV/ready")" = "$STAMP" ] && [ -x "$ENV/qemu-aarch64" ]; then
  log "arm64 environment ready in $ENV (cached)"
  printf "ARM64_ENV=%q\n" "$ENV"
  exit 0
fi

for tool in dpkg-deb sha256sum curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing; install it (apt-get install dpkg coreutils curl)"
done
if [ -n "${PIP:-}" ]; then read -r -a pip_cmd <<<"$PIP"
elif [ -x "$ROOT/.venv/bin/python" ]; then pip_cmd=("$ROOT/.venv/bin/python" -m pip)
else pip_cmd=(python3 -m pip)
fi

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# 1. Downloads, each checked against its pinned sha256; files already cached and intact are not fetched again.
wheel_req="$CACHE/downloads/wheels.req"
: >"$wheel_req"
debs=()
wheels=()
while read -r kind where name version path sha; do
  case "$kind" in '' | '#'*) continue ;; esac
  file="$CACHE/downloads/$(basename "$path")"
  if [ "$kind" = deb ]; then
    debs+=("$file")
    sha_ok "$file" "$sha" && continue
    log "downloading $name $version (.deb)"
    curl -fsSL --retry 3 -o "$file.part" "$MIRROR/$where/$path" ||
      die "could not download $MIRROR/$where/$path; check the network, or update the pin in $PINS"
    sha_ok "$file.part" "$sha" || { rm -f "$file.part"; die "$(basename "$path"): sha256 differs from the pin in $PINS"; }
    mv "$file.part" "$file"
  elif [ "$kind" = whl ]; then
    wheels+=("$file")
    sha_ok "$file" "$sha" && continue
    echo "$name==$version --hash=sha256:$sha" >>"$wheel_req"
  else
    die "unknown line kind '$kind' in $PINS"
  fi
done <"$PINS"

if [ -s "$wheel_req" ]; then
  log "downloading $(wc -l <"$wheel_req") aarch64 wheel(s) with pip (--require-hashes)"
  tmp_whl="$(mktemp -d "$CACHE/downloads/wheels.XXXXXX")"
  "${pip_cmd[@]}" download --quiet --no-deps --only-binary=:all: --python-version 3.11 --implementation cp \
    --platform manylinux_2_27_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 \
    --platform any --require-hashes -r "$wheel_req" -d "$tmp_whl" >&2 ||
    { rm -rf "$tmp_whl"; die "pip could not download the aarch64 wheels pinned in $PINS"; }
  mv "$tmp_whl"/*.whl "$CACHE/downloads/"
  rm -rf "$tmp_whl"
fi
rm -f "$wheel_req"
while read -r kind where name version path sha; do
  [ "$kind" = whl ] || continue
  sha_ok "$CACHE/downloads/$(basename "$path")" "$sha" || die "wheel $(basename "$path") missing or altered after download"
done <"$PINS"

# 2. Unpack into a temporary folder next to the final one; rename it only once it works.
log "unpacking the emulator, ${#debs[@]} .debs and ${#wheels[@]} wheels"
build="$(mktemp -d "$CACHE/env.build.XXXXXX")"
trap 'rm -rf "$build"' EXIT
mkdir -p "$build/root" "$build/site" "$build/qemu-deb"
for deb in "${debs[@]}"; do
  case "$(basename "$deb")" in
    qemu-user_*) dpkg-deb -x "$deb" "$build/qemu-deb" ;;
    *) dpkg-deb -x "$deb" "$build/root" ;;
  esac
done
# Only qemu-aarch64 is needed of the 70 MB of emulators.
mv "$build/qemu-deb/usr/bin/qemu-aarch64" "$build/qemu-aarch64"
rm -rf "$build/qemu-deb"
for whl in "${wheels[@]}"; do
  python3 -m zipfile -e "$whl" "$build/site"
done
cp "$PINS" "$build/pins.txt"

# 3. Smoke test: the arm64 Python imports NumPy and LiteRT under the emulator.
smoke="$(PYTHONPATH="$build/site" PYTHONNOUSERSITE=1 "$build/qemu-aarch64" -L "$build/root" -cpu max \
  "$build/root/usr/bin/python3.11" -c \
  'import platform, numpy, ai_edge_litert.interpreter; print(platform.machine(), numpy.__version__)' 2>&1)" ||
  die "the emulated arm64 Python cannot import LiteRT: ${smoke##*$'\n'}"
log "smoke test: $smoke"
echo "$STAMP" >"$build/ready"

rm -rf "$ENV"
mv "$build" "$ENV"
trap - EXIT
log "arm64 environment ready in $ENV"
printf "ARM64_ENV=%q\n" "$ENV"
