#!/usr/bin/env bash
# Build wolfSSL from Debian's own source package with the CPU's AES and
# big-number assembly enabled, into build/deps/wolfssl. Debian's binary
# package is built without them and is many times slower.
#
# The deb-src entry is derived from the system's Debian entries and kept in
# the project's own apt directory (build/deps/apt); the system's apt
# configuration is never changed. When the CPU lacks AES-NI or the source
# cannot be had, the script says so and exits 0: CMake then links Debian's
# packaged libwolfssl.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
deps="$top/build/deps"
prefix="$deps/wolfssl"
stamp="$prefix/BUILD-INFO"
# --enable-distro turns on everything, the NULL cipher included (TLS 1.3
# TLS13-SHA256-SHA256 and friends: integrity only, no encryption), and so
# do openssh and mcast, which it also enables; none of the three is used here.
# --enable-aesgcm=small: no per-key GHASH table (2 x 512 bytes in every
# connection's two AES-GCM contexts); with AES-NI the GHASH runs in the AVX
# assembly, which never reads that table.
flags=(--enable-distro --enable-aesni --enable-intelasm --enable-sp --enable-sp-asm --enable-aesgcm=small
       --enable-psk --enable-certgen --enable-keygen --enable-certext --enable-certreq
       --enable-pkcs12 --enable-crl --enable-session-ticket --enable-alpn --enable-sni
       --enable-tls13 --disable-nullcipher --disable-openssh --disable-mcast
       --disable-examples --disable-crypttests --disable-oldtls
       --enable-static --disable-shared --with-pic)
# Defines that no configure switch gives (docs/admin.md, "TLS conformance"),
# passed in CFLAGS, which come after configure's own on every compile line:
# - WOLFSSL_MAX_SUITE_SZ: room for 512 suites in a ClientHello (300 bytes,
#   150 suites, by default: sslscan offers 344 and got decode_error).
# - no truncated_hmac (RFC 6066 7): --enable-distro turns on every TLS
#   extension and --disable-truncatedhmac does not undo it.
# - no SESSION_CERTS: every WOLFSSL_SESSION (one per connection, one per
#   cache entry) would carry two static copies of the peer's chain, 9
#   certificates of 2 KiB each: 31 KiB of a 54 KiB idle connection. Nothing
#   here asks for the peer's chain (the peer's own certificate is
#   KEEP_PEER_CERT's, which stays).
# - no TLS 1.3 post-handshake authentication (the server never asks for a
#   certificate after the handshake): with it, FreeHandshakeResources()
#   keeps the handshake hashes, the key-exchange arrays and the peer's keys
#   of every TLS 1.3 connection for as long as it lives (docs/admin.md,
#   "Memory per connection").
# - no SHA-224 and (--disable-oldtls) no TLS 1.0/1.1: wolfSSL builds the
#   TLS 1.3 CertificateRequest from its own defaults, not from the list the
#   gateway sets, and those defaults name SHA-224 whenever it is built and
#   SHA-1 unless old TLS is out (RFC 9155; issue 11 item 7). The gateway
#   refuses TLS 1.0 and 1.1 anyway.
# - CUSTOM_RAND_GENERATE_BLOCK: TLS randoms from the kernel (getrandom),
#   not a Hash-DRBG seeded and self-tested again for every connection
#   (scripts/wolfssl-random.c says why; docs/performance.md the gain).
defines=(-DWOLFSSL_MAX_SUITE_SZ=1024 -UHAVE_TRUNCATED_HMAC -USESSION_CERTS
         -UWOLFSSL_POST_HANDSHAKE_AUTH -UWOLFSSL_SHA224
         -DCUSTOM_RAND_GENERATE_BLOCK=miscomm_tls_random -UHAVE_HASHDRBG)
# The random source's code is ours: a change to it rebuilds too.
random_src="$top/scripts/wolfssl-random.c"
random_sum=$(cat "$random_src" "$top/scripts/wolfssl-random.h" | sha256sum | cut -d' ' -f1)

fallback() {
    echo "wolfssl: $1; using Debian's packaged libwolfssl (no AES-NI/assembly)" >&2
    rm -rf "$prefix"
    exit 0
}

# The stamp must name exactly these flags (a whole-line match: a build with
# one flag more or less is rebuilt).
if [ -f "$stamp" ] && [ -f "$prefix/lib/libwolfssl.a" ] && grep -qxF "flags=${flags[*]}" "$stamp" &&
   grep -qxF "defines=${defines[*]}" "$stamp" && grep -qxF "random=$random_sum" "$stamp"; then
    exit 0
fi
grep -qw aes /proc/cpuinfo || fallback "this CPU has no AES-NI"
grep -qw avx2 /proc/cpuinfo || fallback "this CPU has no AVX2 (needed by the intel assembly)"

apt_dir="$deps/apt"
mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
# Mirror every enabled Debian binary entry as a deb-src entry.
: > "$apt_dir/sources.list.d/miscomm-src.sources"
for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN{RS=""; ORS="\n\n"} /URIs:[^\n]*debian/ && /Types:[^\n]*deb/ {
            gsub(/Types:[^\n]*/, "Types: deb-src"); print }' "$f" >> "$apt_dir/sources.list.d/miscomm-src.sources"
done
: > "$apt_dir/miscomm-src.list"
if [ -f /etc/apt/sources.list ]; then
    grep -E '^deb [^#]*debian' /etc/apt/sources.list | sed 's/^deb /deb-src /' > "$apt_dir/miscomm-src.list" || true
fi
[ -s "$apt_dir/sources.list.d/miscomm-src.sources" ] || [ -s "$apt_dir/miscomm-src.list" ] ||
    fallback "no Debian entry in the system's apt sources to mirror"

apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/miscomm-src.list"
          -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
log="$deps/wolfssl-build.log"
echo "wolfssl: fetching Debian's wolfssl source package (log: $log)"
src="$deps/src"
rm -rf "$src" && mkdir -p "$src"
(cd "$src" && apt-get "${apt_opts[@]}" update -q && apt-get "${apt_opts[@]}" source -q --download-only wolfssl) \
    > "$log" 2>&1 || fallback "could not fetch the source package"
dsc=$(ls "$src"/wolfssl_*.dsc 2>/dev/null | head -n 1)
[ -n "$dsc" ] || fallback "no .dsc in the source download"
(cd "$src" && dpkg-source -x "$(basename "$dsc")" tree) >> "$log" 2>&1 || fallback "could not unpack the source package"

echo "wolfssl: building with AES-NI and assembly (about two minutes)"
# set -e holds in the subshell only when its status is not tested right
# there (as in "( ... ) || fallback", where a failed make went on unseen).
(
    set -e
    cd "$src/tree"
    ./autogen.sh
    ./configure --prefix="$prefix" "${flags[@]}" \
        CFLAGS="-O2 -g ${defines[*]} -include $top/scripts/wolfssl-random.h"
    make -j"$(nproc)"
    make install
    cc -O2 -g -fPIC -Wall -Wextra -Werror -c "$random_src" -o wolfssl-random.o
    ar rcs "$prefix/lib/libwolfssl.a" wolfssl-random.o
    # The distro build does not install options.h; the library is unusable without it.
    install -m 0644 wolfssl/options.h "$prefix/include/wolfssl/options.h"
    if grep -q '^#define HAVE_NULL_CIPHER' "$prefix/include/wolfssl/options.h"; then
        echo "the NULL cipher is still enabled"
        exit 1
    fi
    # options.h is written from configure's own flags: make it say what the
    # library was built with (its users then do not declare the truncated
    # HMAC, session-chain and post-handshake-auth APIs, which the library no
    # longer has).
    for d in HAVE_TRUNCATED_HMAC SESSION_CERTS WOLFSSL_POST_HANDSHAKE_AUTH WOLFSSL_SHA224 HAVE_HASHDRBG; do
        sed -i -e "/^#undef  $d\$/d" -e "/^#define $d\$/d" "$prefix/include/wolfssl/options.h"
    done
    # The random source changes the layout of WC_RNG: its users must see it
    # too (configure copies CFLAGS' defines into options.h).
    grep -qx '#define CUSTOM_RAND_GENERATE_BLOCK miscomm_tls_random' "$prefix/include/wolfssl/options.h"
) >> "$log" 2>&1
built=$?
[ "$built" -eq 0 ] || fallback "the build failed (see $log)"

{
    echo "source=$(basename "$dsc" .dsc)"
    echo "flags=${flags[*]}"
    echo "defines=${defines[*]}"
    echo "random=$random_sum"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$stamp"
rm -rf "$src"
echo "wolfssl: built $(basename "$dsc" .dsc) with AES-NI into $prefix"
