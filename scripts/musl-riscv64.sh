#!/usr/bin/env bash
# Debian 12 has no riscv64 musl.  This fetches Debian 13's (musl and musl-dev, riscv64)
# with a private apt configuration -- the system's sources, package lists and dpkg
# database are not touched -- and unpacks them into build/musl-riscv64/ with a
# musl-gcc.specs for riscv64-linux-gnu-gcc that points there:
#
#   riscv64-linux-gnu-gcc -specs build/musl-riscv64/musl-gcc.specs ...
#
# Programs it links name /lib/ld-musl-riscv64.so.1, as on a riscv64 musl system;
# `qemu-riscv64 -L build/musl-riscv64/root` finds it there.  Idempotent; needs the
# network only the first time.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest="$root/build/musl-riscv64"
[ -f "$dest/musl-gcc.specs" ] && exit 0

# The Debian mirror the system already uses, if it names one.
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
           2>/dev/null | sed -n -e 's|^URIs: *\([^ ]*/debian\)/\?$|\1|p' \
           -e 's|^deb \(\[[^]]*\] \)\?\([^ ]*/debian\)/\? .*|\2|p' | head -n 1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

mkdir -p "$root/build"
work=$(mktemp -d "$root/build/.musl-riscv64.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
echo "deb [arch=riscv64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" \
  >"$work/sources.list"
apt=(apt-get -qq
     -o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
     -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache"
     -o APT::Architecture=riscv64 -o APT::Architectures=riscv64
     -o APT::Sandbox::User=root -o Debug::NoLocking=true)
echo "setup: fetching riscv64 musl from Debian trixie ($mirror) into build/musl-riscv64" >&2
"${apt[@]}" update
(cd "$work/debs" && "${apt[@]}" download musl musl-dev)
for deb in "$work"/debs/*.deb; do
  dpkg-deb -x "$deb" "$work/root"
done
# Debian 12's binutils (2.40) crash on the ULEB128 relocations (new in 2.41) that the
# start files carry in their debug information; the start files need none.
riscv64-linux-gnu-strip --strip-debug "$work"/root/usr/lib/riscv64-linux-musl/*.o
ln -s usr/lib "$work/root/lib"  # merged /usr: /lib/ld-musl-riscv64.so.1 under the root
sed "s|/usr/|$dest/root/usr/|g" "$work/root/usr/lib/riscv64-linux-musl/musl-gcc.specs" \
  >"$work/musl-gcc.specs"
rm -rf "$work/lists" "$work/cache" "$work/sources.list"
trap - EXIT
mv -T "$work" "$dest"  # whole or not at all: a concurrent run that lost the race fails here
