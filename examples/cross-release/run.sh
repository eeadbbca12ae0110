#!/usr/bin/env bash
# One x86_64 machine releases for six: greeter (examples/release-bundle/src), built with
# Debian's cross compilers against their sysroots /usr/TRIPLET, bundled from there with
# its own library, and each tree proven in an empty root -- under qemu-user for the
# five other machines, with the static qemu the only file of this machine in the root.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
[ -n "${RELINTERP_SKIP_SETUP:-}" ] || "$root/scripts/setup.sh" >&2  # cross gcc, qemu-user-static, bubblewrap
export PATH="$root/.venv/bin:$PATH"
src="$here/../release-bundle/src"
cd "$here"
rm -rf build dist

for target in x86_64-linux-gnu aarch64-linux-gnu arm-linux-gnueabihf riscv64-linux-gnu \
              powerpc64le-linux-gnu s390x-linux-gnu; do
  sysroot=/usr/$target
  [ "$target" = x86_64-linux-gnu ] && sysroot=/   # this machine's own glibc
  mkdir -p "build/$target"
  "$target-gcc" -O2 -shared -fPIC -o "build/$target/libgreet.so" "$src/greet.c"
  "$target-gcc" -O2 -o "build/$target/greeter" "$src/greeter.c" -L"build/$target" -lgreet
  relinterp bundle "build/$target/greeter" -o "dist/greeter-1.0-$target" --sysroot "$sysroot" \
      --library-path "build/$target" --tar "dist/greeter-1.0-$target.tar.gz" -q
  relinterp verify "dist/greeter-1.0-$target" --run 'World'
done
