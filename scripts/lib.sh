# Shared steps of scripts/demo and scripts/test. Every step is idempotent:
# on a machine that already has a tool it only checks, on a fresh one it
# installs from the package registries (nothing else is reachable here).

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# PostgreSQL on 127.0.0.1:5432: start the local cluster if it is down.
ensure_postgres() {
    if pg_isready -q -h 127.0.0.1 -p 5432; then return; fi
    say "PostgreSQL is down; starting it"
    local version
    version="$(ls /etc/postgresql | sort -n | tail -1)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 30); do
        pg_isready -q -h 127.0.0.1 -p 5432 && return
        sleep 1
    done
    echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2
    exit 1
}

ensure_rust_components() {
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
}
