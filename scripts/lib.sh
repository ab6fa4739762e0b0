# Shared by the scripts in this folder: locate Swift, the repository and the build configuration.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi
command -v swift >/dev/null 2>&1 || { echo "error: swift not found; install Swift 6.x (expected at /opt/swift)" >&2; exit 1; }
# One build configuration for everything (CI, tests, serving): release.
CONFIG="${MODELHOST_BUILD_CONFIG:-release}"
MODELS_DIR="${MODELHOST_MODELS_DIR:-$ROOT/models}"
DEFAULT_MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_EMBEDDING_MODEL="sentence-transformers/all-MiniLM-L6-v2"
# The checkout's Python environment (scripts/setup fills it); scripts and tests run its python3.
VENV="$ROOT/.venv"
bin_dir() { swift build -c "$CONFIG" --package-path "$ROOT" --show-bin-path; }
