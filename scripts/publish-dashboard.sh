#!/usr/bin/env bash
# Publishes the dashboard for both runtimes of its image (linux-x64, linux-arm64), self-contained, as the Dockerfile
# does, and checks each executable is built for its architecture. CI runs it (test.sh) because no Docker engine is
# there to build the image: this proves the runtime packs restore from the registry and the program publishes.
#   scripts/publish-dashboard.sh [output folder, default artifacts/publish]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:-artifacts/publish}
for rid in linux-x64 linux-arm64; do
  start=$(date +%s)
  dotnet publish modules/EdgeMask.Dashboard/EdgeMask.Dashboard.csproj -c Release -r "$rid" --self-contained true \
    -p:DebugType=none -o "$out/dashboard-$rid" -v quiet -nologo >/dev/null
  exe="$out/dashboard-$rid/edgemask-dashboard"
  [[ -x "$exe" ]] || { echo "publish-dashboard: $exe is missing"; exit 1; }
  # ELF e_machine (bytes 18-19, little endian): 0x3e x86-64, 0xb7 AArch64.
  machine=$(od -An -tx1 -j18 -N1 "$exe" | tr -d ' ')
  expected=$([[ $rid == linux-x64 ]] && echo 3e || echo b7)
  [[ "$machine" == "$expected" ]] || { echo "publish-dashboard: $exe is for machine 0x$machine, expected 0x$expected"; exit 1; }
  echo "publish-dashboard: $rid in $(( $(date +%s) - start )) s ($(du -sh "$out/dashboard-$rid" | cut -f1))"
done
