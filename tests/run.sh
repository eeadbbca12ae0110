#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what it needs, then runs
# the unit tests (no root, no toolchain: seconds), then the integration tests (real
# programs built and run; root, for mount namespaces).  Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
cd "$root"
"$root/.venv/bin/python" -m pytest tests/unit "$@"
exec "$root/.venv/bin/python" -m pytest tests/integration "$@"
