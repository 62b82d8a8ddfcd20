# Shared by scripts/test.sh and scripts/demo.sh: install what is missing from
# Debian's packages, then configure and build. Sourced, not run.

RLSCALE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RLSCALE_BUILD="${RLSCALE_BUILD:-$RLSCALE_ROOT/build}"
RLSCALE_JOBS="${RLSCALE_JOBS:-$(nproc 2>/dev/null || echo 2)}"

# Everything the build, tests, examples and benchmarks need.
# The adapters add cpp-httplib with OpenSSL (through pkg-config); their tests
# run the real prometheus binary and make certificates with the openssl CLI.
RLSCALE_PACKAGES=(g++ make cmake pkg-config libeigen3-dev xtensor-dev nlohmann-json3-dev doctest-dev libbenchmark-dev
                  libcpp-httplib-dev libssl-dev zlib1g-dev openssl prometheus libxml2-utils)

rlscale_install_missing() {
    local missing=()
    local pkg
    for pkg in "${RLSCALE_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "rlscale needs these Debian packages: ${missing[*]}" >&2
        echo "Install them as root, then run this script again:" >&2
        echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "== installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

rlscale_configure_and_build() {
    echo "== configuring in $RLSCALE_BUILD"
    cmake -S "$RLSCALE_ROOT" -B "$RLSCALE_BUILD" -DCMAKE_BUILD_TYPE=Release
    echo "== building with $RLSCALE_JOBS jobs"
    cmake --build "$RLSCALE_BUILD" --parallel "$RLSCALE_JOBS" "$@"
}
