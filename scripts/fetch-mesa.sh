#!/usr/bin/env bash
# Unpacks Mesa's lavapipe (software Vulkan) from Debian bookworm-backports, plus the Vulkan loader,
# into .cache/mesa, for `--backend webgpu --allow-software-adapter` and the webgpu tests. Nothing is
# installed system-wide: apt reads a private sources list and state dir under .cache/apt, and the
# .debs are unpacked with dpkg -x. Why backports: Debian 12's own lavapipe (Mesa 22.3) is refused by
# Dawn ("shaderUniform*ArrayDynamicIndexing required"); Mesa 25 works. Its libraries are loaded by
# path (src/shared/backend/webgpu.ts), its other dependencies are stock Debian 12 libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/mesa
icd=$dest/usr/share/vulkan/icd.d/lvp_icd.json
if [ -f "$icd" ] && [ -f $dest/usr/lib/x86_64-linux-gnu/libvulkan.so.1 ]; then echo "fetch-mesa: $dest already there"; exit 0; fi
apt_dir=$PWD/.cache/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
cat > "$apt_dir/sources.list" <<'LIST'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-backports main
LIST
opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Sandbox::User=root)
apt-get -qq "${opts[@]}" update
(cd "$apt_dir/debs" && apt-get -qq "${opts[@]}" download mesa-vulkan-drivers/bookworm-backports libvulkan1/bookworm)
rm -rf "$dest" && mkdir -p "$dest"
for d in "$apt_dir"/debs/*.deb; do dpkg -x "$d" "$dest"; done
# The manifest names the driver by bare file name (searched on the system library path); a path
# with a slash is taken relative to the manifest, so the driver in .cache/mesa is found wherever the
# checkout lives.
sed -i 's#"library_path": *"[^"]*"#"library_path": "../../../lib/x86_64-linux-gnu/libvulkan_lvp.so"#' "$icd"
grep -q '"../../../lib/x86_64-linux-gnu/libvulkan_lvp.so"' "$icd"
echo "fetch-mesa: $(ls "$apt_dir"/debs) unpacked into $dest"
