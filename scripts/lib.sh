# Shell helpers the scripts share (sourced, not run): installing what a fresh Debian machine lacks.

# apt-get install PACKAGES quietly, printing apt's log only if it fails.
apt_install() {
    local log
    log="$(mktemp)"
    echo "$(basename "$0"): installing $*" >&2
    if ! DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 ||
        ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
}

# Exit with a message unless python3 and its venv module are there (installed as root when missing).
require_python_venv() {
    local missing=()
    command -v python3 >/dev/null || missing+=(python3)
    [ -x .venv/bin/python ] || python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        apt_install "${missing[@]}"
    else
        echo "$(basename "$0"): missing ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
}

# ./.venv with Acquit and its test extras, reinstalled only when pyproject.toml changed:
# `pip install -e` rebuilds the package and asks PyPI each time, which would add seconds to every run.
ensure_test_venv() {
    require_python_venv
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    local stamp=.venv/.acquit-test-install wanted
    wanted="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        .venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
        echo "$wanted" >"$stamp"
    fi
}
