#!/usr/bin/env bash
# Installs (once) the offline Android toolchain. Progress goes to stderr; stdout gets three lines,
# ANDROID_CACHE=..., ANDROID_JAR=... and DX_JAR=..., for the caller to eval.
#
# Why two sources: Debian 12 ships aapt2, zipalign, apksigner, javac and JUnit, but not the API-23
# android.jar (libandroid-23-java) nor the `dx` dexer (dalvik-exchange). Those two are fetched from
# bullseye with `apt-get download` and a throw-away sources list, so the system's apt configuration is
# never changed, and unpacked with `dpkg-deb -x` into the cache folder. Every step is skipped when its
# result is already present, so running this again costs nothing.
#
# --jvm-only: just the JDK and JUnit (Debian 12), all the plain-Java unit tests need; prints nothing.
#
# Cache folder: $SHUFFLENET_ANDROID_CACHE, default android_demo/.build/toolchain (gitignored).
# Mirror: $DEBIAN_MIRROR, default http://deb.debian.org/debian.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${SHUFFLENET_ANDROID_CACHE:-$HERE/../.build/toolchain}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
log() { echo "[setup_toolchain] $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else log "need root (or sudo) to run: $*"; exit 1
  fi
}

JVM_ONLY=no
[ "${1:-}" = "--jvm-only" ] && JVM_ONLY=yes

# 1. Debian 12 packages. Each package is checked by a file it provides, not by name, so a toolchain
#    installed some other way (e.g. an Android SDK on PATH) is accepted as well.
missing=()
if [ "$JVM_ONLY" = no ]; then
  { command -v aapt2 >/dev/null 2>&1 && command -v aapt >/dev/null 2>&1; } || missing+=(aapt)
  command -v zipalign >/dev/null 2>&1 || missing+=(zipalign)
  command -v apksigner >/dev/null 2>&1 || missing+=(apksigner)
  # adb: shufflenet-bench android talks to phones through it; the tests run the real client and servers against
  # test-double phones on loopback ports.
  command -v adb >/dev/null 2>&1 || missing+=(adb)
fi
{ command -v javac >/dev/null 2>&1 && command -v keytool >/dev/null 2>&1; } || missing+=(default-jdk-headless)
[ -f /usr/share/java/junit4.jar ] || missing+=(junit4)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} from the system's apt sources"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq >&2
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if [ "$JVM_ONLY" = yes ]; then
  log "JDK and JUnit ready"
  exit 0
fi

# 2. android.jar (API 23) and dx from bullseye, unpacked into the cache.
mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"
ANDROID_JAR="$CACHE/root/usr/share/java/com.android.android-23.jar"
DX_JAR="$CACHE/root/usr/share/java/com.android.dx-10.0.0.jar"
if [ ! -f "$ANDROID_JAR" ] || [ ! -f "$DX_JAR" ]; then
  log "fetching libandroid-23-java and dalvik-exchange from bullseye into $CACHE"
  apt_dir="$CACHE/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$CACHE/debs" "$CACHE/root"
  apt_opts=(-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Etc::sourcelist=$apt_dir/sources.list"
    -o "Dir::Etc::sourceparts=-" -o "Dir::Cache::archives=$apt_dir/archives" -o "APT::Get::List-Cleanup=0"
    -o "APT::Sandbox::User=root" -o "Acquire::Check-Valid-Until=false")
  # bullseye moves from the main mirror to archive.debian.org once its support ends: try both.
  fetched=no
  for mirror in "$MIRROR" http://archive.debian.org/debian; do
    echo "deb $mirror bullseye main" >"$apt_dir/sources.list"
    rm -f "$CACHE"/debs/*.deb
    if apt-get "${apt_opts[@]}" update -qq >&2 &&
      (cd "$CACHE/debs" && apt-get "${apt_opts[@]}" download libandroid-23-java dalvik-exchange >&2); then
      fetched=yes
      break
    fi
    log "could not fetch from $mirror"
  done
  [ "$fetched" = yes ] || { log "libandroid-23-java / dalvik-exchange unavailable from every mirror"; exit 1; }
  for deb in "$CACHE"/debs/*.deb; do dpkg-deb -x "$deb" "$CACHE/root"; done
fi
[ -f "$ANDROID_JAR" ] || { log "android.jar not found at $ANDROID_JAR after unpacking"; exit 1; }
[ -f "$DX_JAR" ] || { log "dx.jar not found at $DX_JAR after unpacking"; exit 1; }
log "toolchain ready in $CACHE"
printf "ANDROID_CACHE=%q\n" "$CACHE"
printf "ANDROID_JAR=%q\n" "$ANDROID_JAR"
printf "DX_JAR=%q\n" "$DX_JAR"
