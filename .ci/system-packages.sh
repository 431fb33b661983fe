#!/usr/bin/env bash
# Debian packages the test suite needs beyond Python: headless Chromium (the Slack preview test
# screenshots the HTML preview) and CJK/emoji fonts so Japanese renders in it.
set -euo pipefail
need=()
for pkg in chromium fonts-noto-cjk fonts-noto-color-emoji; do
  dpkg -s "$pkg" 2>/dev/null | grep -q "^Status: install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
