#!/usr/bin/env bash
# Offline build of the Android demo: a signed, aligned, STRUCTURE-ONLY debug APK.
#
# Why "structure-only": the LiteRT Android library lives on Google's Maven repository, which this
# kind of machine cannot reach. The app is compiled against a compile-only stub of the few LiteRT
# classes it calls (offline/litert-stub, never dexed), so the APK has the real manifest, resources,
# assets (model stored uncompressed), and app code, but no LiteRT runtime: on a phone it should start
# and report the missing runtime instead of classifying (never observed: no device here). Use the
# Gradle build (README.md) for a working app.
#
# Usage: build_offline.sh [--artifacts EXPORT_DIR] [--file NAME.tflite] [--out APK]
#   --artifacts  folder written by shufflenet-export; without it the script runs
#                `shufflenet-export --arch $ARCH --random-init --format tflite --precision fp32,int8` first
#   --file       which .tflite of the export becomes assets/model.tflite (default: int8, else float32)
#   --out        APK path (default android_demo/.build/offline/shufflenet-demo-offline.apk)
# Environment: PYTHON (default .venv/bin/python), ARCH, SHUFFLENET_ANDROID_CACHE (toolchain cache).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PACKAGE="com.shufflenetmobile.demo"
MIN_SDK=26
TARGET_SDK=35
ARCH="${ARCH:-shufflenet_v1_g3_0.25x_cifar}"
ARTIFACTS=""
FILE=""
OUT="$HERE/.build/offline/shufflenet-demo-offline.apk"
log() { echo "[build_offline] $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --artifacts) ARTIFACTS="$2"; shift 2 ;;
    --file) FILE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) log "unknown argument $1"; exit 2 ;;
  esac
done

if [ -z "${PYTHON:-}" ]; then
  if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi

# A plain assignment keeps a failing setup fatal under set -e (eval "$(...)" would hide it).
TOOLCHAIN_ENV="$(bash "$HERE/scripts/setup_toolchain.sh")"
eval "$TOOLCHAIN_ENV"

if [ -z "$ARTIFACTS" ]; then
  EXPORT="$(dirname "$PYTHON")/shufflenet-export"
  [ -x "$EXPORT" ] || EXPORT="$(command -v shufflenet-export || true)"
  [ -n "$EXPORT" ] || { log "shufflenet-export not found; install the project or pass --artifacts"; exit 1; }
  ARTIFACTS="$HERE/.build/export"
  log "exporting $ARCH (random init) to $ARTIFACTS"
  rm -rf "$ARTIFACTS"
  "$EXPORT" --arch "$ARCH" --random-init --format tflite --precision fp32,int8 --output "$ARTIFACTS" >&2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/shufflenet-apk.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/gen" "$WORK/classes" "$WORK/stub-classes" "$(dirname "$OUT")"

log "assets from $ARTIFACTS"
"$PYTHON" "$HERE/scripts/prepare_assets.py" --artifacts "$ARTIFACTS" --out "$WORK/assets" ${FILE:+--file "$FILE"} >&2

# Gradle takes the package from `namespace`; aapt2 needs it in the manifest.
sed "s|<manifest |<manifest package=\"$PACKAGE\" |" "$HERE/app/src/main/AndroidManifest.xml" >"$WORK/AndroidManifest.xml"

log "resources (aapt2 against the API-23 android.jar)"
aapt2 compile --dir "$HERE/app/src/main/res" -o "$WORK/res.zip"
# -0 .tflite: the model must be stored uncompressed so the app can memory-map it from the APK
# (this aapt2 matches the suffix literally: "tflite" without the dot would not match).
aapt2 link -o "$WORK/base.apk" -I "$ANDROID_JAR" --manifest "$WORK/AndroidManifest.xml" \
  --java "$WORK/gen" -A "$WORK/assets" -0 .tflite \
  --min-sdk-version "$MIN_SDK" --target-sdk-version "$TARGET_SDK" --version-code 1 --version-name 0.1.0 \
  "$WORK/res.zip"

log "javac (Java 8 against android.jar + the compile-only LiteRT stub)"
JAVAC=(javac -source 8 -target 8 -bootclasspath "$ANDROID_JAR" -encoding UTF-8 -Xlint:all -Xlint:-options -Werror)
find "$HERE/offline/litert-stub" -name '*.java' >"$WORK/stub-sources.txt"
"${JAVAC[@]}" -d "$WORK/stub-classes" @"$WORK/stub-sources.txt"
{ find "$HERE/app/src/main/java" -name '*.java'; find "$WORK/gen" -name '*.java'; } >"$WORK/app-sources.txt"
"${JAVAC[@]}" -classpath "$WORK/stub-classes" -d "$WORK/classes" @"$WORK/app-sources.txt"

log "dx (app classes only; the stub stays out)"
java -jar "$DX_JAR" --dex --min-sdk-version="$MIN_SDK" --output="$WORK/classes.dex" "$WORK/classes"

# Append classes.dex without touching the entries aapt2 wrote (keeps model.tflite stored).
cp "$WORK/base.apk" "$WORK/unsigned.apk"
"$PYTHON" - "$WORK/unsigned.apk" "$WORK/classes.dex" <<'PY'
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1], "a", compression=zipfile.ZIP_DEFLATED) as apk:
    apk.write(sys.argv[2], "classes.dex")
PY

log "zipalign + apksigner (debug key)"
zipalign -p -f 4 "$WORK/unsigned.apk" "$WORK/aligned.apk"
KEYSTORE="$ANDROID_CACHE/debug.keystore"
if [ ! -f "$KEYSTORE" ]; then
  keytool -genkeypair -keystore "$KEYSTORE" -storetype PKCS12 -storepass android -keypass android \
    -alias androiddebugkey -keyalg RSA -keysize 2048 -validity 10000 \
    -dname "CN=Android Debug,O=Android,C=US" >&2 2>/dev/null
fi
apksigner sign --ks "$KEYSTORE" --ks-pass pass:android --key-pass pass:android \
  --ks-key-alias androiddebugkey --min-sdk-version "$MIN_SDK" --out "$OUT" "$WORK/aligned.apk"
rm -f "$OUT.idsig"

apksigner verify --min-sdk-version "$MIN_SDK" "$OUT"
zipalign -c -p 4 "$OUT"
aapt list -v "$OUT" | grep -E "Stored .* assets/model\.tflite$" >/dev/null || { log "assets/model.tflite is compressed"; exit 1; }
log "built $OUT (structure-only: no LiteRT runtime inside)"
echo "$OUT"
