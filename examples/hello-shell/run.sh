#!/bin/sh
# Hello robot as a shell script: greets --name NAME (default World) with
# $GREETING (default Hello) and writes the greeting into the run's output
# folder, $HUB_OUTPUT_DIR.
set -eu
name=World
while [ $# -gt 0 ]; do
  case "$1" in
    --name) name="$2"; shift 2 ;;
    --name=*) name="${1#--name=}"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
greeting="${GREETING:-Hello}"
out="${HUB_OUTPUT_DIR:-outputs}"
echo "$greeting, $name!"
mkdir -p "$out"
echo "$greeting, $name!" > "$out/greeting.txt"
echo "Wrote greeting.txt"
