#!/usr/bin/env bash
# Build greeter as a project's own build would: into build/, with musl-gcc, no RUNPATH
# (on the build machine it would run with LD_LIBRARY_PATH=build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
CC=${CC:-musl-gcc}
CFLAGS=${CFLAGS:--O2}
mkdir -p build
$CC $CFLAGS -shared -fPIC -o build/libgreet.so src/greet.c
$CC $CFLAGS -shared -fPIC -o build/libshout.so src/shout.c
$CC $CFLAGS -o build/greeter src/greeter.c -Lbuild -lgreet
