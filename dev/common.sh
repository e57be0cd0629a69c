# Shared by dev/run and dev/test: paths, pinned tool versions, and installing what is missing.
# Everything heavy is cached outside the clone (cargo's target dir, cargo-installed tools, npm's cache).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wukong/target}"
# CI builds a fresh clone in a new directory each time: incremental state from one never helps the
# next, and it fills the disk (15 GB in three days), so CI builds without it.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
# cargo-leptos writes the site (wasm, js, css) under the workspace, the binary under CARGO_TARGET_DIR.
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-$ROOT/target/site}"
CARGO_LEPTOS_VERSION=0.3.10

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# The target dir is shared by every clone and outlives them: test binaries and incremental caches of
# code that no longer exists pile up (66 GB of them filled the disk on 2026-12-03). Whatever no build
# has read for a week goes; what is still used is read by every build (atime), so it stays.
prune_target() {
  local dir name names
  # This project's own crates, binaries and test targets: every checkout (each CI run's fresh clone)
  # builds its own copies of them (the path is part of their fingerprint), ~1.5 GB a run, so those
  # not rebuilt for a day go. Third-party builds are shared by every checkout and stay.
  names="$(sed -n 's/^name = "\(.*\)"$/\1/p' "$ROOT"/*/Cargo.toml | tr '-' '_')"
  names+=" $(for f in "$ROOT"/*/tests/*.rs "$ROOT"/*/src/bin/*.rs; do [ -f "$f" ] && basename "$f" .rs | tr '-' '_'; done)"
  # On a new machine there is no target dir yet: nothing to prune (find would fail, and set -e
  # would end the run there; the cold run of 2026-12-03 stopped right after installing Chromium).
  [ -d "$CARGO_TARGET_DIR/debug/deps" ] && for name in $names; do
    find "$CARGO_TARGET_DIR/debug/deps" -maxdepth 1 -type f \( -name "$name-*" -o -name "lib$name-*" \) \
      -mtime +0 -delete 2>/dev/null || true
  done
  for dir in "$CARGO_TARGET_DIR"/debug "$CARGO_TARGET_DIR"/release; do
    [ -d "$dir/deps" ] && find "$dir/deps" -maxdepth 1 -type f -size +50M -atime +7 -delete 2>/dev/null
    [ -d "$dir/incremental" ] && find "$dir/incremental" -mindepth 1 -maxdepth 1 -type d -mtime +7 \
      -exec rm -rf {} + 2>/dev/null
  done
  return 0
}

ensure_tools() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  for component in rustfmt clippy; do
    if ! rustup component list --installed | grep -q "^$component-"; then
      say "adding the $component component"
      rustup component add "$component"
    fi
  done
  if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
    say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 11 minutes, once per machine)"
    cargo install --locked cargo-leptos --version "$CARGO_LEPTOS_VERSION"
  fi
  # wasm-bindgen's CLI must match the library version in Cargo.lock exactly.
  local bindgen
  bindgen="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/"/, "", $3); print $3}' Cargo.lock)"
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$bindgen" ]; then
    say "installing wasm-bindgen-cli $bindgen"
    cargo install wasm-bindgen-cli --version "$bindgen"
  fi
  # npm: Playwright (no browser download) and binaryen's wasm-opt, which cargo-leptos finds in node_modules/.bin.
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm packages"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
  fi
}

ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    say "installing Chromium from Debian's packages"
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
    fi
  fi
}

build_release() {
  say "building the console (release: server + hydrated wasm)"
  # --split: the VM page's view is its own piece of WASM, loaded when a VM page is opened
  # (`#[lazy_route]` in app/src/components/vm_page.rs), so the list's first load does not carry it.
  cargo leptos build --release --split
  # The site's file names carry their content's hash (hash-files in Cargo.toml), listed in
  # hash.txt beside the binary (the split pieces in the manifest it names); names from earlier
  # builds are removed, the current ones gzipped (the console serves the gzip file when the
  # browser takes gzip: server/src/lib.rs pkg_service).
  local pkg="$LEPTOS_SITE_ROOT/pkg" f keep
  keep="$(site_files) $(split_files)" || die "the release build wrote no $CARGO_TARGET_DIR/release/hash.txt"
  for f in "$pkg"/*; do
    case " $keep " in *" $(basename "$f") "*) ;; *) [ -f "$f" ] && rm -f "$f" ;; esac
  done
  for f in $keep; do gzip -k -9 -f "$pkg/$f"; done
}

# The site's current file names (wasm, js, css), from the release build's hash.txt.
site_files() {
  local hashes="$CARGO_TARGET_DIR/release/hash.txt"
  [ -f "$hashes" ] || return 1
  awk -F': *' '$1 == "wasm" || $1 == "js" || $1 == "css" { printf "wukong-console.%s.%s ", $2, $1 }' "$hashes"
}

# The split-off pieces (`cargo leptos build --split`): the loader, the manifest (read by the
# server) and each piece's WASM, as the manifest names them.
split_files() {
  local hashes="$CARGO_TARGET_DIR/release/hash.txt" manifest
  [ -f "$hashes" ] || return 1
  manifest="__wasm_split_manifest.$(awk -F': *' '$1 == "manifest" { print $2 }' "$hashes").json"
  awk -F': *' '$1 == "split" { printf "__wasm_split.%s.js ", $2 }' "$hashes"
  printf '%s ' "$manifest"
  # Every name in the manifest's lists: each piece, and the chunks pieces share (`chunk_N`).
  grep -o '\[[^]]*\]' "$LEPTOS_SITE_ROOT/pkg/$manifest" | grep -o '"[^"]*"' | tr -d '"' | sort -u |
    sed 's/$/.wasm/' | tr '\n' ' '
}

# Gzipped size of the split-off pieces, in bytes (loaded only by a VM page).
split_size() {
  local pkg="$LEPTOS_SITE_ROOT/pkg" f files=()
  for f in $(split_files); do case "$f" in *.wasm | *.js) files+=("$pkg/$f") ;; esac; done
  [ "${#files[@]}" -gt 0 ] || { echo 0; return; }
  cat "${files[@]}" | gzip -9 | wc -c
}

# Gzipped size of what the browser downloads for the list (wasm + js), in bytes.
bundle_size() {
  local pkg="$LEPTOS_SITE_ROOT/pkg" f files=()
  for f in $(site_files); do case "$f" in *.wasm | *.js) files+=("$pkg/$f") ;; esac; done
  cat "${files[@]}" | gzip -9 | wc -c
}
