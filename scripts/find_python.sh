#!/usr/bin/env bash
# Print the path of a Python >= 3.12 interpreter, or fail with a message.
# A bare `python3` may be 3.11 (and pip would then silently resolve pymc 5 / arviz 0.x),
# so candidates are checked by version, not by name.
set -u
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
candidates=("${PYTHON:-}" python3.13 python3.12 python3 python)
for dir in "$HOME"/.pyenv/versions/3.1[2-9]*/bin /usr/local/bin /usr/bin /opt/python*/bin; do
  for name in python3.13 python3.12 python3; do candidates+=("$dir/$name"); done
done
for c in "${candidates[@]}"; do
  [ -n "$c" ] || continue
  path=$(command -v "$c" 2>/dev/null) || continue
  if ok "$path"; then
    "$path" -c 'import sys; print(sys.executable)'
    exit 0
  fi
done
echo "error: no Python >= 3.12 found; install one or set PYTHON=/path/to/python3.12" >&2
exit 1
