#!/usr/bin/env bash
# Installs the Debian packages EdgeMask's programs and tests need, when they are missing. Idempotent.
#   libgtk-3-0  OpenCvSharp's native library links against it
#   ffmpeg      rtsp/http camera sources (and the test streams)
#   mosquitto   the MQTT broker the end-to-end tests talk to
#   mosquitto-clients   mosquitto_sub/mosquitto_pub, the standard clients the embedded broker is tested with (and README uses)
#   chromium    the dashboard's browser tests (headless)
#   espeak-ng sox alsa-utils   spoken announcements (render, check, play)
#   postgresql  the dashboard's fleet store, tested against a real server
#   jq curl     models/install.sh
set -euo pipefail
packages=(libgtk-3-0 ffmpeg mosquitto mosquitto-clients chromium espeak-ng sox alsa-utils postgresql jq curl sqlite3)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup-machine: all packages present"
  exit 0
fi
echo "setup-machine: installing ${missing[*]}"
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts a mosquitto on :1883 as a service when it can; the embedded broker of `edgemask run` wants that port.
if command -v systemctl >/dev/null && systemctl is-active --quiet mosquitto 2>/dev/null; then $SUDO systemctl stop mosquitto || true; fi
echo "setup-machine: done"
