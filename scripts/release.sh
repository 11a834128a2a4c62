#!/usr/bin/env bash
# Builds the release binaries of the hub: static (CGO_ENABLED=0), without
# local paths (-trimpath), stamped with VERSION and — from a Git clone — the
# commit and its time, for every platform below, plus a SHA256SUMS file that
# `sha256sum -c SHA256SUMS` checks.
#
#   scripts/release.sh VERSION [DIST]
#
# VERSION is a version like 1.4.0 or 1.4.0-rc.1 (a leading v is kept as given);
# DIST is the output folder (default: dist/ at the repository's root), which
# must not exist or be empty. Everything is built in a temporary folder beside
# DIST and moved into place at the end, so DIST never holds a partial release.
set -euo pipefail

usage() { echo "usage: scripts/release.sh VERSION [DIST]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
VERSION=$1
if ! [[ $VERSION =~ ^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$ ]]; then
  echo "release: VERSION must look like 1.4.0 or 1.4.0-rc.1, got \"$VERSION\"" >&2
  exit 2
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIST=${2:-$ROOT/dist}
case $DIST in /*) ;; *) DIST=$PWD/$DIST ;; esac
if [ -e "$DIST" ] && [ -n "$(ls -A "$DIST" 2>/dev/null)" ]; then
  echo "release: $DIST is not empty; remove it or name another folder" >&2
  exit 1
fi

TARGETS="linux/amd64 linux/arm64 windows/amd64 darwin/arm64"

mkdir -p "$(dirname "$DIST")"
WORK=$(mktemp -d "$(dirname "$DIST")/.release-XXXXXX")
trap 'rm -rf "$WORK"' EXIT

cd "$ROOT"
for target in $TARGETS; do
  os=${target%/*} arch=${target#*/}
  name="hub-$VERSION-$os-$arch"
  [ "$os" = windows ] && name="$name.exe"
  echo "building $name"
  # -buildvcs=auto overrides a GOFLAGS=-buildvcs=false: the commit and its
  # time are recorded when this is a Git clone, and left out otherwise.
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=auto \
    -ldflags "-s -w -X main.version=$VERSION" -o "$WORK/$name" ./cmd/hub
done
(cd "$WORK" && sha256sum -- hub-* >SHA256SUMS)

if [ -d "$DIST" ]; then rmdir "$DIST"; fi
mv "$WORK" "$DIST"
trap - EXIT
chmod 755 "$DIST"
echo "release $VERSION in $DIST:"
cat "$DIST/SHA256SUMS"
