#!/bin/sh
# Prints the versions of the native libraries the Jetson image builds, read from the one place the managed packages
# are pinned (Directory.Packages.props), as NAME=VALUE lines:
#   ONNXRUNTIME_VERSION  the Microsoft.ML.OnnxRuntime version (the CPU and GPU packages must be pinned alike)
#   OPENCVSHARP_VERSION  the OpenCvSharp4 version (also the opencvsharp git tag)
#   OPENCV_VERSION       the OpenCV release it wraps (the first three parts)
# Usage: native-versions.sh [Directory.Packages.props]   (POSIX sh: it runs in the image's build stages too)
set -eu
props="${1:-Directory.Packages.props}"
[ -f "$props" ] || { echo "native-versions: $props not found" >&2; exit 2; }

version() {
  sed -n "s|.*<PackageVersion Include=\"$1\" Version=\"\([^\"]*\)\".*|\1|p" "$props"
}

ort=$(version Microsoft.ML.OnnxRuntime)
ort_gpu=$(version Microsoft.ML.OnnxRuntime.Gpu.Linux)
cvsharp=$(version OpenCvSharp4)
for pair in "Microsoft.ML.OnnxRuntime=$ort" "Microsoft.ML.OnnxRuntime.Gpu.Linux=$ort_gpu" "OpenCvSharp4=$cvsharp"; do
  case "$pair" in
    *=) echo "native-versions: ${pair%=} has no single PackageVersion in $props" >&2; exit 1 ;;
    *"
"*) echo "native-versions: ${pair%%=*} is pinned more than once in $props" >&2; exit 1 ;;
  esac
done
if [ "$ort" != "$ort_gpu" ]; then
  # The Jetson library is built at one version; a GPU build of the same code must not call a different native API.
  echo "native-versions: Microsoft.ML.OnnxRuntime ($ort) and Microsoft.ML.OnnxRuntime.Gpu.Linux ($ort_gpu) must be pinned to the same version in $props" >&2
  exit 1
fi
echo "ONNXRUNTIME_VERSION=$ort"
echo "OPENCVSHARP_VERSION=$cvsharp"
echo "OPENCV_VERSION=$(echo "$cvsharp" | cut -d. -f1-3)"
