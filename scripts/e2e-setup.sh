#!/usr/bin/env bash
#
# Installs what the wall page's end-to-end test needs, when it is missing:
#
#   ./scripts/e2e-setup.sh
#
# - Debian's Chromium (/usr/bin/chromium) and a font (fonts-dejavu-core), with
#   apt-get, as root or via sudo;
# - Node.js and npm, from Debian, only if the machine has no `node`;
# - the page's node packages (dashboard/node_modules, `npm install`), which bring
#   playwright-core (it drives the system Chromium; no browser is downloaded).
#
# Idempotent, and fast when everything is there (a few file checks). The test
# itself (services/samu-central/tests/wall_page.rs) fails with a clear message
# when any of this is missing; it never installs anything.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT=$(pwd -P)

# shellcheck source-path=SCRIPTDIR source=lib/services.sh
source "$REPO_ROOT/scripts/lib/services.sh"

export DEBIAN_FRONTEND=noninteractive

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
# A font, or the screenshot shows boxes instead of letters.
[ -d /usr/share/fonts/truetype/dejavu ] || missing+=(fonts-dejavu-core)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    samu_apt_install "${missing[@]}" || exit 1
fi
[ -x /usr/bin/chromium ] || {
    samu_err "/usr/bin/chromium is still missing after installing chromium"
    exit 1
}

# Install only when node_modules is absent or older than the lock file (npm
# writes node_modules/.package-lock.json on every install). `npm install`,
# not `npm ci`: with this machine image's npmrc
# (omit-lockfile-registry-resolved) npm ci refuses the lock's entries for
# rollup's optional platform packages; npm install honours the lock and its
# exact versions (package.json pins them too) and leaves it unchanged.
dash="$REPO_ROOT/dashboard"
stamp="$dash/node_modules/.package-lock.json"
if [ ! -d "$dash/node_modules/playwright-core" ] || [ ! -f "$stamp" ] ||
    [ "$dash/package-lock.json" -nt "$stamp" ]; then
    samu_step "installing the wall page's node packages (npm install in dashboard/)"
    (cd "$dash" && npm install --no-audit --no-fund --loglevel=error) || {
        samu_err "npm install failed in dashboard/"
        exit 1
    }
fi
samu_step "e2e prerequisites present: $(/usr/bin/chromium --version 2>/dev/null || echo chromium), node $(node --version)"
