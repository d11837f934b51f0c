#!/usr/bin/env bash
# Installs the Debian packages that the tests talk to (real exporters, collectors and dissectors),
# when they are missing. Needs root (or sudo) and Debian's package registry; does nothing when all
# are present.
set -euo pipefail

# command → package
need=(
  "softflowd:softflowd"
  "nfcapd:nfdump"
  "nfreplay:nfdump"
  "pmacctd:pmacct"
  "tshark:tshark"
  "mergecap:wireshark-common"
  "gobgpd:gobgpd"
  "nats-server:nats-server"
  "chromium:chromium" "node:nodejs" "npm:npm"   # browser tests (test/ui); playwright-core comes from npm
)
missing=()
for pair in "${need[@]}"; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
[ -x /usr/lib/frr/bgpd ] || missing+=(frr)
command -v bird >/dev/null 2>&1 || missing+=(bird2)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing test dependencies: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
