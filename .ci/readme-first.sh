#!/usr/bin/env bash
# The README's first command, exactly as written, as a newcomer runs it: in a fresh clone, with a fresh virtual
# environment, before any install step of ours, and with an empty fontconfig configuration (a machine with no
# fonts installed: certificates and reports must render with the fonts the package ships).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
command=$(awk '/^## Two commands/{f=1} f && /^```bash/{getline; print; exit}' "$root/README.md" | sed 's/[[:space:]]*#.*$//')
[ -n "$command" ] || { echo "no first command found in README.md" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/qledger-readme-XXXXXX")
trap 'rm -rf "$work"' EXIT
git clone --quiet "$root" "$work/qledger"
mkdir -p "$work/fontconfig/cache"
cat > "$work/fontconfig/fonts.conf" <<CONF
<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig><cachedir>$work/fontconfig/cache</cachedir></fontconfig>
CONF
echo "== README first command, in a fresh clone with no fonts: $command"
cd "$work/qledger"
start=$(date +%s)
env -u QLEDGER_DATA_DIR -u QLEDGER_CHAIN_URL -u QLEDGER_IPFS_URL -u QLEDGER_DATABASE_URL \
  FONTCONFIG_FILE="$work/fontconfig/fonts.conf" bash -c "$command"
echo "== README first command passed in $(( $(date +%s) - start )) s"
