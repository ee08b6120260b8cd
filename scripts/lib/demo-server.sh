# Shared by the suites that drive `lantern serve --demo` from outside (source it after setting
# `lantern`, the binary, and `work`, a temporary directory): the schemathesis environment and a
# demo server on a free loopback port with rate limits raised, so that fuzzers and clients are
# not simply told to slow down.

# Makes `work`, a temporary directory named after $1, with an EXIT trap that stops the server
# and removes it.
make_work_dir() {
    work="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
    server_pid=""
    trap stop_demo_server EXIT
}

stop_demo_server() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}

# Installs schemathesis $1 into target/py unless that version is there.
ensure_schemathesis() {
    local version="$1"
    if ! target/py/bin/st --version 2>/dev/null | grep -q "version $version\$"; then
        python3 -m venv target/py
        target/py/bin/pip install --quiet --disable-pip-version-check "schemathesis==$version"
    fi
}

# Starts `lantern serve --demo` over $work/data (extra environment as arguments, NAME=value),
# sets `server_pid` and `address` (host:port), and stops the script if it does not come up.
# The caller's EXIT trap stops it.
start_demo_server() {
    # The file exists before the server's shell opens it, so the first look cannot fail.
    : >"$work/stdout"
    env LANTERN_ADMISSION__SHOPPER_PER_SECOND=1000000 \
        LANTERN_ADMISSION__SHOPPER_BURST=1000000 \
        LANTERN_ADMISSION__IP_PER_SECOND=1000000 \
        LANTERN_ADMISSION__IP_BURST=1000000 \
        LANTERN_LOG="${LANTERN_LOG:-warn}" \
        "$@" \
        "$lantern" serve --demo --data "$work/data" --listen 127.0.0.1:0 >"$work/stdout" 2>"$work/stderr" &
    server_pid=$!
    address=""
    for _ in $(seq 1 300); do
        address="$(sed -n 's|^lantern listening on http://||p' "$work/stdout")"
        [[ -n "$address" ]] && break
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "lantern serve exited before listening:" >&2
            cat "$work/stderr" >&2
            exit 1
        fi
        sleep 0.1
    done
    if [[ -z "$address" ]]; then
        echo "lantern serve did not print its address within 30 s" >&2
        cat "$work/stderr" >&2
        exit 1
    fi
    echo "listening on $address"
}

# Fails the suite (appends to `failed`) if the server died or a handler panicked.
check_demo_server() {
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "lantern serve died during the run:" >&2
        tail -50 "$work/stderr" >&2
        failed+=("server died")
    fi
    if grep -q "panicked at" "$work/stderr"; then
        echo "lantern serve panicked while handling a request (the client saw its connection closed):" >&2
        grep -A2 "panicked at" "$work/stderr" | head -20 >&2
        failed+=("handler panic")
    fi
}
