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

# --------------------------------------------------------------- dashboard ---
# The dashboard's WASM toolchain, all from the package registries: the
# wasm32 target (rustup), wasm-bindgen-cli at exactly the wasm-bindgen
# version in Cargo.lock (crates.io; no --locked: its own lockfile pins a
# crate the registry here does not serve), and wasm-opt from the npm package
# binaryen (Debian's binaryen 108 is too old: its output breaks in the
# browser), installed under target/ so it is never committed.
BINARYEN_VERSION="132.0.0"
WASM_TOOLS="$ROOT/target/wasm-tools"
WASM_OPT="$WASM_TOOLS/node_modules/.bin/wasm-opt"

locked_version() {
    awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

ensure_wasm_tools() {
    rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$' \
        || rustup target add wasm32-unknown-unknown
    local bindgen
    bindgen="$(locked_version wasm-bindgen)"
    if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen" ]; then
        say "Installing wasm-bindgen-cli $bindgen from crates.io"
        cargo install wasm-bindgen-cli --version "=$bindgen"
    fi
    if ! command -v npm >/dev/null; then
        say "Installing Node.js and npm from Debian"
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm
    fi
    if ! command -v brotli >/dev/null; then
        say "Installing brotli from Debian (the dashboard's precompressed files)"
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y brotli
    fi
    if [ "$("$WASM_OPT" --version 2>/dev/null)" != "wasm-opt version ${BINARYEN_VERSION%%.*} (version_${BINARYEN_VERSION%%.*})" ]; then
        say "Installing wasm-opt (npm binaryen@$BINARYEN_VERSION) into $WASM_TOOLS"
        mkdir -p "$WASM_TOOLS"
        npm install --prefix "$WASM_TOOLS" --no-audit --no-fund --save-exact "binaryen@$BINARYEN_VERSION"
    fi
}

# Builds the shipped dashboard into admin-ui/dist: size-tuned release
# profile (feature `hydrate`), wasm-bindgen without the name section,
# wasm-opt -Oz. The WASM, its JS glue, the loader and the style sheet get
# content-hashed names under assets/ (served as immutable); assets.json
# lists them for the admin server, which names them in the pages it
# renders. Every file is precompressed (brotli
# and gzip, best levels) so the server sends what the browser accepts.
# Prints the WASM's size raw, gzipped and brotli-compressed.
build_ui() {
    ensure_wasm_tools
    say "Building the dashboard into admin-ui/dist"
    cargo build --locked -p admin-ui --features hydrate --target wasm32-unknown-unknown --profile wasm-release
    local staging="$ROOT/target/admin-ui-dist.tmp" dist="$ROOT/admin-ui/dist"
    rm -rf "$staging"
    mkdir -p "$staging/assets"
    wasm-bindgen --target web --no-typescript --remove-name-section \
        --out-name admin-ui --out-dir "$staging" \
        "$ROOT/target/wasm32-unknown-unknown/wasm-release/admin_ui.wasm"
    # The features rustc enables by default for wasm32 (wasm-opt must accept them).
    # --converge: passes until the size stops falling (2.8 KB brotli less).
    "$WASM_OPT" -Oz --converge --strip-debug --strip-producers --strip-target-features \
        --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
        --enable-mutable-globals --enable-reference-types --enable-multivalue \
        "$staging/admin-ui_bg.wasm" -o "$staging/admin-ui_bg.wasm"
    local wasm js css boot
    wasm="$(hashed "$staging/admin-ui_bg.wasm" admin-ui .wasm)"
    js="$(hashed "$staging/admin-ui.js" admin-ui .js)"
    css="$(hashed "$ROOT/admin-ui/static/style.css" style .css)"
    sed -e "s|@WASM@|$wasm|g" -e "s|@JS@|$js|g" "$ROOT/admin-ui/static/boot.js" >"$staging/boot.js"
    boot="$(hashed "$staging/boot.js" boot .js)"
    mv "$staging/admin-ui_bg.wasm" "$staging/assets/$wasm"
    mv "$staging/admin-ui.js" "$staging/assets/$js"
    mv "$staging/boot.js" "$staging/assets/$boot"
    cp "$ROOT/admin-ui/static/style.css" "$staging/assets/$css"
    # The admin server names them in the pages it renders (admin_ui::Assets).
    printf '{"css":"%s","js":"%s","wasm":"%s","boot":"%s"}\n' "$css" "$js" "$wasm" "$boot" >"$staging/assets.json"
    local file
    for file in "$staging"/assets/*; do
        gzip -9 -k -n "$file"
        brotli -q 11 -k "$file"
    done
    rm -rf "$dist"
    mv "$staging" "$dist"
    say "WASM (assets/$wasm): $(wc -c <"$dist/assets/$wasm") bytes raw, $(wc -c <"$dist/assets/$wasm.gz") gzip, $(wc -c <"$dist/assets/$wasm.br") brotli"
}

# `name-<16 hex digits of the SHA-256 of file>ext`: a name that changes
# whenever the content does.
hashed() {
    echo "$2-$(sha256sum "$1" | cut -c1-16)$3"
}

# Headless Chromium and ChromeDriver from Debian, for the dashboard's browser tests.
ensure_browser() {
    if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then return; fi
    say "Installing Chromium and ChromeDriver from Debian"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver
}

# axe-core from npm, injected into the page by the browser tests (the
# accessibility checks of tests/tests/dashboard.rs), installed under target/
# so it is never committed; the tests read it from AXE_CORE_JS.
AXE_CORE_VERSION="4.14.1"
BROWSER_TOOLS="$ROOT/target/browser-tools"
export AXE_CORE_JS="$BROWSER_TOOLS/node_modules/axe-core/axe.min.js"

ensure_axe() {
    if [ -f "$AXE_CORE_JS" ] && grep -q "\"version\": \"$AXE_CORE_VERSION\"" "$BROWSER_TOOLS/node_modules/axe-core/package.json"; then return; fi
    if ! command -v npm >/dev/null; then
        say "Installing Node.js and npm from Debian"
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm
    fi
    say "Installing axe-core@$AXE_CORE_VERSION (npm) into $BROWSER_TOOLS"
    mkdir -p "$BROWSER_TOOLS"
    npm install --prefix "$BROWSER_TOOLS" --no-audit --no-fund --save-exact "axe-core@$AXE_CORE_VERSION"
}

# The real OpenTelemetry SDKs the OTLP receiver's tests send with
# (ingest/tests/sdk_clients.rs), pinned, installed under target/ so they
# are never committed: Python's SDK and protobuf exporter in a venv, and
# the JavaScript SDK's trace exporter (JSON) for Node.js.
OTEL_PYTHON_SDK_VERSION="1.45.2"
OTEL_PYTHON="$ROOT/target/otel-python"
export AI_RUNTIME_OTEL_PYTHON="$OTEL_PYTHON/bin/python"
OTEL_JS_SDK_VERSION="2.12.1"
OTEL_JS_EXPORTER_VERSION="0.223.1"
OTEL_JS_API_VERSION="1.9.0"
OTEL_NODE="$ROOT/target/otel-node"
export AI_RUNTIME_OTEL_NODE_MODULES="$OTEL_NODE/node_modules"

ensure_python_otel() {
    if "$AI_RUNTIME_OTEL_PYTHON" -c "import importlib.metadata as m, sys; sys.exit(m.version('opentelemetry-exporter-otlp-proto-http') != '$OTEL_PYTHON_SDK_VERSION')" 2>/dev/null; then return; fi
    if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
        say "Installing python3-venv from Debian"
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv
    fi
    say "Installing opentelemetry-sdk $OTEL_PYTHON_SDK_VERSION (PyPI) into $OTEL_PYTHON"
    python3 -m venv "$OTEL_PYTHON"
    "$OTEL_PYTHON/bin/pip" install --quiet --disable-pip-version-check \
        "opentelemetry-sdk==$OTEL_PYTHON_SDK_VERSION" \
        "opentelemetry-exporter-otlp-proto-http==$OTEL_PYTHON_SDK_VERSION"
}

ensure_node_otel() {
    if grep -q "\"version\": \"$OTEL_JS_EXPORTER_VERSION\"" "$AI_RUNTIME_OTEL_NODE_MODULES/@opentelemetry/exporter-trace-otlp-http/package.json" 2>/dev/null; then return; fi
    if ! command -v npm >/dev/null; then
        say "Installing Node.js and npm from Debian"
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm
    fi
    say "Installing @opentelemetry/exporter-trace-otlp-http@$OTEL_JS_EXPORTER_VERSION (npm) into $OTEL_NODE"
    mkdir -p "$OTEL_NODE"
    npm install --prefix "$OTEL_NODE" --no-audit --no-fund --save-exact \
        "@opentelemetry/sdk-trace-base@$OTEL_JS_SDK_VERSION" \
        "@opentelemetry/resources@$OTEL_JS_SDK_VERSION" \
        "@opentelemetry/exporter-trace-otlp-http@$OTEL_JS_EXPORTER_VERSION" \
        "@opentelemetry/api@$OTEL_JS_API_VERSION"
}

# Prometheus and promtool from Debian, for the /metrics and alert-rule tests
# (each test starts its own prometheus on a free loopback port). Only the
# binaries are wanted: without the recommended exporters, and with the
# package's service stopped if the machine's init started it, so nothing
# stays listening on :9090.
ensure_prometheus() {
    if command -v prometheus >/dev/null && command -v promtool >/dev/null; then return; fi
    say "Installing Prometheus and promtool from Debian"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus
    if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
        systemctl disable --now prometheus
    elif [ -x /etc/init.d/prometheus ]; then
        /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    fi
}
