#!/usr/bin/env bash
# Runs the whole Hangar test suite on a fresh machine: installs and starts
# what the tests need, then runs every test with cargo-nextest.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build products live outside the clone so a fresh clone reuses them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hangar/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# pdftotext (poppler) is the independent extractor the PDF tests compare
# with; the console's browser tests drive Debian's Chromium through
# chromedriver, with CJK fonts for the Chinese pages' screenshots.
packages=()
command -v pdftotext >/dev/null 2>&1 || packages+=(poppler-utils)
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
command -v chromedriver >/dev/null 2>&1 || packages+=(chromium-driver)
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || packages+=(fonts-noto-cjk)
# Prometheus and promtool check the alert rules and the Grafana dashboard's queries.
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
# kubectl renders the Kubernetes manifests (kustomize).
command -v kubectl >/dev/null 2>&1 || packages+=(kubernetes-client)
if [ "${#packages[@]}" -gt 0 ]; then
  echo "== installing ${packages[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}"
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "== installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

# PostgreSQL and an S3 server on loopback: the store, artifact and
# scale-out suites run against them as well as against the embedded default.
. scripts/services.sh

# The independent reference (llama.cpp's gguf package, transformers, the
# openai client) and the real test model, SmolLM2-135M-Instruct, fetched
# once into ~/.cache/hangar/reference: never into the repository.
. scripts/reference/setup.sh

# kubernetes-validate checks the rendered manifests against the Kubernetes
# schemas offline; it lives in a venv of its own outside the repository.
K8S_VENV="$HOME/.cache/hangar/k8s-venv"
if [ ! -x "$K8S_VENV/bin/kubernetes-validate" ]; then
  echo "== installing kubernetes-validate"
  python3 -m venv "$K8S_VENV"
  "$K8S_VENV/bin/pip" install -q kubernetes-validate==1.37.0
fi
export HANGAR_KUBERNETES_VALIDATE="$K8S_VENV/bin/kubernetes-validate"

echo "== building"
cargo build --workspace --all-targets --locked

echo "== testing"
cargo nextest run --workspace --locked --no-fail-fast "$@"
