#!/bin/sh
# trunk post_build hook: write the exact file list of this build into sw.js
# (PRECACHE) and a version derived from the files' contents (VERSION), so
# every release gets its own cache and never mixes with another's.
set -eu
dir="${TRUNK_STAGING_DIR:?run by trunk as a post_build hook}"
cd "$dir"
files=$(find . -type f ! -name sw.js ! -name config.json ! -name '*.map' ! -name '*.br' ! -name '*.gz' | sed 's|^\./||' | LC_ALL=C sort)
version=$(for f in $files; do sha256sum "$f"; done | sha256sum | cut -c1-16)
list=$(printf '%s\n' "./" $files | sed 's/.*/"&"/' | paste -sd, -)
sed -i "s|__PALAVER_VERSION__|$version|; s|__PALAVER_PRECACHE__|[$list]|" sw.js
echo "service worker: $(printf '%s\n' $files | wc -l) files precached, version $version"
