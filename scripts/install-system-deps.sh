#!/usr/bin/env bash
# Installs the system packages webpeft's tests need on Debian bookworm (the CI image):
#   - Mesa 25 from bookworm-backports: its Vulkan "lavapipe" CPU driver gives Dawn (the `webgpu`
#     npm package) and Deno a WebGPU adapter on machines without a GPU. Bookworm's own Mesa 22 is too
#     old for Dawn.
#   - vulkan-tools (vulkaninfo) to diagnose the driver.
#   - chromium: Debian's own browser, driven by playwright-core to render report.html in
#     test/browser/ (Playwright's browser download is never used).
#   - postgresql: the sweep tests (`npm run test:sweep`) start their own throwaway server with initdb +
#     pg_ctl on a free port; the package's default cluster is not created, so nothing listens on 5432.
# Run as root (CI does). Safe to run twice.
set -euo pipefail

if [ "$(id -u)" != "0" ]; then
  SUDO=sudo
else
  SUDO=
fi

backports=/etc/apt/sources.list.d/bookworm-backports.sources
if [ ! -f "$backports" ]; then
  $SUDO tee "$backports" >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q -t bookworm-backports mesa-vulkan-drivers libvulkan1
$SUDO apt-get install -y -q vulkan-tools
$SUDO apt-get install -y -q chromium
if [ ! -f /etc/postgresql-common/createcluster.conf ]; then
  $SUDO mkdir -p /etc/postgresql-common
  echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
$SUDO apt-get install -y -q postgresql
