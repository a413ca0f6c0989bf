#!/bin/sh
# trunk post_build hook (one hook: trunk runs the hooks of a stage at the
# same time, and these steps must run in this order):
#   1. mark index.html with the build profile, so the relay can warn when it
#      serves a debug build (relay/src/web_app.rs);
#   2. write the service worker's precache list (it hashes index.html, so
#      after step 1);
#   3. write .br and .gz next to every compressible file (after step 2,
#      which edits sw.js), for the relay to serve precompressed.
set -eu
dir="${TRUNK_STAGING_DIR:?run by trunk as a post_build hook}"
profile="${TRUNK_PROFILE:-debug}"
sed -i "s|<meta name=\"palaver-build\" content=\"[a-z]*\"|<meta name=\"palaver-build\" content=\"$profile\"|" "$dir/index.html"
grep -q "<meta name=\"palaver-build\" content=\"$profile\"" "$dir/index.html" \
  || { echo "post_build: index.html lacks <meta name=\"palaver-build\">" >&2; exit 1; }
sh frontend/pwa/precache.sh
command -v node >/dev/null || { echo "post_build: node is needed to compress the build (./x setup installs it)" >&2; exit 1; }
node frontend/build/compress.mjs "$dir"
