#!/usr/bin/env bash
# data/get_text.sh — pick the text `make run` trains on and print its path.
#
#   bash data/get_text.sh [TEXT]
#
#   1. TEXT given (make run TEXT=my.txt): that file.
#   2. Otherwise Tiny Shakespeare (1.1 MB of plays), downloaded once into
#      data/tinyshakespeare.txt from its public URL, with short timeouts so an
#      offline machine does not hang.
#   3. Offline: an English corpus shipped by Debian, the `fortunes` package
#      (installed with apt-get when running as root): its plain-text files,
#      concatenated, the '%' separators between fortunes turned into blank
#      lines -> data/fortunes.txt.
# Messages go to stderr (saying which corpus is used); the path to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
URL=https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt
FORTUNES=/usr/share/games/fortunes
say() { echo "data: $*" >&2; }
size() { wc -c < "$1" | tr -d ' '; }

if [ -n "${1:-}" ]; then
  if [ ! -f "$1" ] || [ ! -s "$1" ]; then say "error: TEXT=$1 is missing or empty"; exit 1; fi
  say "corpus: $1 (your text, $(size "$1") bytes)"
  echo "$1"; exit 0
fi

# ---- Tiny Shakespeare --------------------------------------------------------
ts=data/tinyshakespeare.txt
SHA256=86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed
if [ ! -s "$ts" ]; then
  say "downloading Tiny Shakespeare from $URL"
  rm -f "$ts.part"
  if command -v curl >/dev/null; then
    curl -fsSL --connect-timeout 15 --max-time 120 -o "$ts.part" "$URL" 2>/dev/null || true
  elif command -v wget >/dev/null; then
    wget -q --timeout=15 --tries=1 -O "$ts.part" "$URL" 2>/dev/null || true
  fi
  # a proxy or captive portal can answer with an HTML page: check that the
  # file is exactly the published one (its SHA-256)
  if [ -s "$ts.part" ] && [ "$(sha256sum < "$ts.part" 2>/dev/null | cut -d' ' -f1)" = "$SHA256" ]; then
    mv "$ts.part" "$ts"
  else
    rm -f "$ts.part"
  fi
fi
if [ -s "$ts" ]; then
  say "corpus: Tiny Shakespeare ($ts, $(size "$ts") bytes)"
  echo "$ts"; exit 0
fi

# ---- offline: the fortunes -------------------------------------------------------
say "could not download Tiny Shakespeare (offline?): using the fortunes from Debian instead"
if ! ls "$FORTUNES"/*.dat >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing the fortunes package with apt-get"
    { apt-get install -y -qq fortunes || { apt-get update -qq && apt-get install -y -qq fortunes; }; } >/dev/null 2>&1 || true
  fi
fi
if ! ls "$FORTUNES"/*.dat >/dev/null 2>&1; then
  say "error: no text to train on: the download failed and $FORTUNES is missing."
  say "       Install it (sudo apt-get install fortunes), or train on your own text: make run TEXT=my.txt"
  exit 1
fi
out=data/fortunes.txt
# every plain file: skip the .dat indexes and the .u8 UTF-8 copies; a line that
# is just '%' separates two fortunes
for f in "$FORTUNES"/*; do
  case "$f" in *.dat|*.u8) continue ;; esac
  [ -f "$f" ] && [ ! -L "$f" ] && cat "$f"
done | sed 's/^%$//' > "$out.part"
mv "$out.part" "$out"
say "corpus: fortunes ($out, $(size "$out") bytes, from the Debian package 'fortunes')"
echo "$out"
