#!/bin/sh
# Installs the real DNS software the interop tests run on loopback ports:
#   bind9 (named), bind9-utils (named-checkzone), bind9-dnsutils (dig),
#   unbound, opendkim-tools (opendkim-testkey), python3-dkim and
#   python3-dnspython (scripts/verify-artifacts.py: dkimpy checks the sandbox's mail
#   against its zone snapshots, independently of mailauth), and chromium
#   (test/report-html.test.ts opens the sandbox's report.html in it, headless).
#   chromium counts as present when /usr/bin/chromium exists: GitHub's Ubuntu
#   runners ship it there, and Ubuntu's own `chromium` package is a snap stub.
# Idempotent: when every package is installed it does nothing; otherwise it
# runs `apt-get update` once and installs the missing ones quietly.
set -eu

PACKAGES="bind9 bind9-utils bind9-dnsutils unbound opendkim-tools python3-dkim python3-dnspython"

missing=""
for pkg in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $pkg"
  fi
done
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

# The tests start their own named/unbound on ephemeral loopback ports. Keep the
# packages from starting system services on port 53: on a CI runner with
# systemd, named and unbound would both try to bind 127.0.0.1:53 and a failed
# start can fail the install. policy-rc.d exit 101 means "action forbidden"
# (invoke-rc.d(8)); only create it if there is none, and remove only ours.
POLICY=/usr/sbin/policy-rc.d
ours=""
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
  ours=1
fi
cleanup() {
  if [ -n "$ours" ]; then $SUDO rm -f "$POLICY"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
# shellcheck disable=SC2086 # word splitting of the package list is intended
$SUDO env DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes \
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-dns: installed$missing"
