#!/usr/bin/env bash
# Configure, build and install a CMake project that patches its program at install time
# with relinterp_patch(), then run the installed program where the system's musl loader
# does not exist (a private mount namespace hides it).  The build-tree program, which is
# not patched, cannot start there.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
"$root/scripts/setup.sh" >&2

rm -rf "$here/build" "$here/dist"
relinterp="$root/.venv/bin/relinterp"
cmake -S "$here" -B "$here/build" -DCMAKE_C_COMPILER=musl-gcc \
      -Drelinterp_DIR="$("$relinterp" --cmakedir)" -DRELINTERP_EXECUTABLE="$relinterp" >&2
cmake --build "$here/build" >&2
cmake --install "$here/build" --prefix "$here/dist" >&2

hidden() {  # run "$@" with the directory holding the system's musl loader emptied
  unshare -m sh -c 'mount -t tmpfs none "$0" && exec "$@"' "$(dirname "$(readlink -f /lib/ld-musl-x86_64.so.1)")" "$@"
}
echo "installed, system loader hidden:"
hidden "$here/dist/bin/greet" cmake
status=0
hidden "$here/build/greet" 2>/dev/null || status=$?
echo "build tree (not patched), system loader hidden: exit status $status"
