#!/usr/bin/env bash
# The system packages some tests drive for real: nginx (tests/deploy: the site in
# deploy/nginx/ in front of the app) and Debian's Chromium (tests/browser: Playwright drives
# it; it cannot download a browser of its own here). Installed with apt-get where missing and
# where this user may; otherwise those tests are skipped with the reason, nothing fails here.
set -uo pipefail
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "==> not installing ${missing[*]} (needs root and apt-get): their tests will be skipped"
  exit 0
fi
echo "==> installing ${missing[*]} with apt-get"
{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } \
  || echo "==> ${missing[*]} could not be installed: their tests will be skipped"
exit 0
