#!/usr/bin/env bash
# Installs the models listed in models/manifest.json into models/ (or --to DIR), verifying each sha256.
#
#   models/install.sh                      # from the mirror ../shared/models if it exists, else the public sources
#   models/install.sh --from DIR           # from a mirror folder (files named as in the manifest's source.mirror)
#   models/install.sh --optional           # also optional models (the stock RetinaFace) when the mirror has them
#
# Needs: bash, sha256sum, jq (Debian: apt-get install jq); curl only for downloads.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="$here/manifest.json"
from=""
to="$here"
optional=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --from) from="$2"; shift 2 ;;
    --to) to="$2"; shift 2 ;;
    --optional) optional=1; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [[ -z "$from" && -d "$here/../../shared/models" ]]; then from="$here/../../shared/models"; fi
command -v jq >/dev/null || { echo "install.sh: jq is required (apt-get install jq)" >&2; exit 2; }
mkdir -p "$to"

failed=0
count=$(jq '.models | length' "$manifest")
for ((i = 0; i < count; i++)); do
  entry=$(jq -c ".models[$i]" "$manifest")
  name=$(jq -r '.name' <<<"$entry")
  file=$(jq -r '.file' <<<"$entry")
  sha=$(jq -r '.sha256' <<<"$entry")
  required=$(jq -r 'if .required == false then "no" else "yes" end' <<<"$entry")
  mirror=$(jq -r '.source.mirror // .file' <<<"$entry")
  url=$(jq -r '.source.url // empty' <<<"$entry")
  dest="$to/$file"

  if [[ -f "$dest" ]] && [[ "$(sha256sum "$dest" | cut -d' ' -f1)" == "$sha" ]]; then
    echo "ok        $file (already installed)"
    continue
  fi
  if [[ "$required" == "no" && $optional -eq 0 ]]; then
    echo "skipped   $file (optional; pass --optional)"
    continue
  fi
  if [[ -f "$here/$file" && "$here" != "$to" ]] && [[ "$(sha256sum "$here/$file" | cut -d' ' -f1)" == "$sha" ]]; then
    # Models the project trains and commits (the default detector, the mask classifier) are already in models/.
    cp "$here/$file" "$dest.part"
  elif [[ -n "$from" && -f "$from/$mirror" ]]; then
    cp "$from/$mirror" "$dest.part"
  elif [[ -n "$url" ]]; then
    echo "download  $file from $url"
    curl -fL --retry 3 -o "$dest.part" "$url"
  else
    if [[ "$required" == "yes" ]]; then
      echo "MISSING   $file: not in the mirror folder '${from:-none}' and no public copy of this exact file exists." >&2
      echo "          $(jq -r '.source.origin // ""' <<<"$entry")" >&2
      failed=1
    else
      echo "skipped   $file (optional; not in the mirror)"
    fi
    continue
  fi
  actual=$(sha256sum "$dest.part" | cut -d' ' -f1)
  if [[ "$actual" != "$sha" ]]; then
    rm -f "$dest.part"
    echo "BAD       $file: sha256 $actual, manifest expects $sha; not installed." >&2
    failed=1
    continue
  fi
  mv "$dest.part" "$dest"
  echo "installed $file ($name)"
done
exit $failed
