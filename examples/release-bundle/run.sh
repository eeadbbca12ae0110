#!/usr/bin/env bash
# The packaging step of a release pipeline: build the project, bundle the program, its
# libraries (one of them only dlopen()ed) and its loader into a tree and a reproducible
# tarball, then prove that the tarball, unpacked somewhere else, runs in an empty root
# (nothing of this machine but the kernel).  The unpacked copy is what gets checked:
# that is what users receive.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
[ -n "${RELINTERP_SKIP_SETUP:-}" ] || "$root/scripts/setup.sh" >&2  # a fresh machine: musl-tools, bubblewrap, relinterp
export PATH="$root/.venv/bin:$PATH"      # relinterp, as `pip install 'relinterp[bundle]'` puts it
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}  # in CI: the release commit's time
cd "$here"

rm -rf build dist
./build.sh
relinterp bundle build/greeter -o dist/greeter-1.0 \
    --library-path build --include build/libshout.so \
    --tar dist/greeter-1.0.tar.gz >&2
tar -tzf dist/greeter-1.0.tar.gz

unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
tar -xzf dist/greeter-1.0.tar.gz -C "$unpacked"
cd "$unpacked"
relinterp verify greeter-1.0 --run 'World'
relinterp verify greeter-1.0/bin/greeter --run '--loud relinterp'
