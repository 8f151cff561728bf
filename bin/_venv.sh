# Sourced by bin/run and bin/test: create .venv beside the repo on first use, reuse it afterwards.
# The venv is reinstalled when setup.cfg or pyproject.toml change (their hash is kept in .venv/.installed).
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
stamp="$venv/.installed"
want="$(cat "$repo/setup.cfg" "$repo/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setting up $venv (first run or dependencies changed)..." >&2
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
    "$venv/bin/python" -m pip install --quiet -e "$repo[test]" >&2
    echo "$want" > "$stamp"
fi
