#!/usr/bin/env bash
# Build hello with musl-gcc, ship it in dist/ with its loader beside it, patch it with
# relinterp, and run it where the system's musl loader does not exist (a private mount
# namespace hides it).  The unpatched program cannot start there; the patched one can.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
[ -n "${RELINTERP_SKIP_SETUP:-}" ] || "$root/scripts/setup.sh" --example >&2  # a fresh machine: only what this needs

dist="$here/dist"
rm -rf "$dist"
mkdir -p "$dist/bin" "$dist/lib"
musl-gcc -O2 -o "$dist/bin/hello" "$here/hello.c"
cp "$dist/bin/hello" "$dist/bin/hello-unpatched"
loader=$(readlink -f /lib/ld-musl-x86_64.so.1)          # Debian: /lib/x86_64-linux-musl/libc.so
cp "$loader" "$dist/lib/ld-musl.so"

"$root/.venv/bin/relinterp" patch "$dist/bin/hello" --loader-rel ../lib/ld-musl.so >&2

hidden() {  # run "$@" with the directory holding the system's musl loader emptied
  unshare -m sh -c 'mount -t tmpfs none "$0" && exec "$@"' "$(dirname "$loader")" "$@"
}
echo "patched, system loader hidden:"
hidden "$dist/bin/hello" tarball
status=0
hidden "$dist/bin/hello-unpatched" 2>/dev/null || status=$?
echo "unpatched, system loader hidden: exit status $status"
