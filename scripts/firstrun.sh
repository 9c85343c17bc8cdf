#!/usr/bin/env bash
# First-start set-up for 'make run': the demo connection's password and its
# Argon2id hash, in certs/ (kept out of git). miscommd itself creates the
# self-signed certificate and key on its first start.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
umask 077
mkdir -p certs data
if [ ! -s certs/psdmobile.password ] || [ ! -s certs/psdmobile.hash ]; then
    head -c 18 /dev/urandom | base64 | tr '+/' '-_' > certs/psdmobile.password
    build/misctl passwd --password-file certs/psdmobile.password > certs/psdmobile.hash.tmp
    mv certs/psdmobile.hash.tmp certs/psdmobile.hash
    echo "firstrun: created the demo connection's password in certs/psdmobile.password"
fi
