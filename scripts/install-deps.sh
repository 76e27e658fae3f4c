#!/usr/bin/env bash
# Installs what the test suite needs: the real servers of the test bench (dovecot, nginx
# with the echo module, chrony as the NTP server, and a Python venv with aiosmtpd and
# pyftpdlib + pyOpenSSL), the real clients (curl, gammu, gpsd with gpspipe, ModemManager
# with dbus and gdbus, python-gsmmodem-new in the venv, lwIP's PPP client: Debian's lwip
# source package, unpacked into the cache for crates/testbench to build, since Debian's
# liblwip is built without PPP), and an unprivileged user for the servers when running as root; chromium with chromium-driver, Selenium and Node.js for the
# dashboard's browser check. `--print-venv` prints the venv's path. Idempotent: when
# everything is there it only checks (~0.1 s).
#
# The venv lives in $SIM5360_TESTBENCH_VENV, else /var/cache/sim5360/testbench-venv for
# root (the servers' user must reach it), else ${XDG_CACHE_HOME:-~/.cache}/sim5360/testbench-venv;
# crates/testbench looks in the same places. No server is started or enabled here: tests start
# their own on ephemeral 127.0.0.1 ports.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s%N)
if [ -n "${SIM5360_TESTBENCH_VENV:-}" ]; then
    VENV=$SIM5360_TESTBENCH_VENV
elif [ "$(id -u)" = 0 ]; then
    VENV=/var/cache/sim5360/testbench-venv
else
    VENV="${XDG_CACHE_HOME:-$HOME/.cache}/sim5360/testbench-venv"
fi
if [ "${1:-}" = "--print-venv" ]; then
    echo "$VENV"
    exit 0
fi
command -v cargo >/dev/null || { echo "install-deps: cargo not found; install Rust first (rustup)" >&2; exit 1; }

APT_PACKAGES=(dovecot-pop3d nginx libnginx-mod-http-echo python3-venv openssl curl ca-certificates util-linux
    chrony gpsd gpsd-clients gammu socat mosquitto mosquitto-clients chromium chromium-driver
    modemmanager dbus libglib2.0-bin build-essential dpkg-dev iproute2 smstools)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js for the dashboard's ESLint: any installation will do (nodesource's or Debian's).
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: missing Debian packages ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
        || apt-get install -y --no-install-recommends "${missing[@]}"
    # On a systemd host the packages start their services on the standard ports; the
    # tests never use those, but do not leave daemons running on the developer's machine.
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl disable --now dovecot nginx chrony gpsd gpsd.socket mosquitto ModemManager smstools >/dev/null 2>&1 || true
    fi
fi

# Servers drop to this user when the tests run as root (dovecot refuses to run its
# login processes as root without chroot; nginx workers would run as nobody).
if [ "$(id -u)" = 0 ] && ! id simtest >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin simtest
fi

# lwIP's source (the PPP client of the data-call tests), from the distribution's deb-src.
LWIP_DIR="$(dirname "$VENV")/lwip"
if ! compgen -G "$LWIP_DIR/*/src/netif/ppp/pppos.c" >/dev/null; then
    if ! apt-get indextargets --format '$(CREATED_BY)' 2>/dev/null | grep -q '^Sources$'; then
        if [ "$(id -u)" != 0 ]; then
            echo "install-deps: the lwIP client needs deb-src entries in APT (run this script as root once)" >&2
            exit 1
        fi
        codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
        cat > /etc/apt/sources.list.d/sim5360-deb-src.sources <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $codename
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        apt-get update -qq
    fi
    echo "install-deps: fetching Debian's lwip source into $LWIP_DIR"
    rm -rf "$LWIP_DIR" && mkdir -p "$LWIP_DIR"
    (cd "$LWIP_DIR" && apt-get source -qq lwip >/dev/null 2>&1 || apt-get source lwip)
    chmod -R a+rX "$LWIP_DIR"
fi

# serialport-gsm from npm (the SMS gateway tests' Node.js client), pinned, in the cache;
# its native serial binding comes prebuilt in the package.
GSM_DIR="$(dirname "$VENV")/serialport-gsm"
GSM_VERSION=4.0.1
if [ "$(node -p "require('$GSM_DIR/node_modules/serialport-gsm/package.json').version" 2>/dev/null)" != "$GSM_VERSION" ]; then
    echo "install-deps: installing serialport-gsm $GSM_VERSION into $GSM_DIR"
    mkdir -p "$GSM_DIR"
    npm install --prefix "$GSM_DIR" --no-audit --no-fund --loglevel=error "serialport-gsm@$GSM_VERSION" >/dev/null
    chmod -R a+rX "$GSM_DIR"
fi

REQ=crates/testbench/py/requirements.txt
stamp="$VENV/.requirements.sha256"
want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "install-deps: creating the Python venv $VENV"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    # Debian's interpreter, not whatever python3 is first on PATH (pyenv shims and the like).
    /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir -r "$REQ"
    echo "$want" > "$stamp"
fi
end=$(date +%s%N)
echo "install-deps: ready in $(( (end - start) / 1000000 )) ms"
