#!/bin/sh
# Builds the gorilla/websocket baseline hub for `palaver bench compare`,
# offline, from Debian's packages (no module download):
#   apt-get install -y golang-go golang-github-gorilla-websocket-dev
# Usage: cli/baseline/gorilla/build.sh [OUTPUT] (default target/gorilla-hub)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../../target/gorilla-hub}
cd "$here"
GOPATH=/usr/share/gocode GO111MODULE=off GOPROXY=off \
    GOCACHE=${GOCACHE:-${TMPDIR:-/tmp}/palaver-gocache} go build -o "$out" main.go
echo "$out"
