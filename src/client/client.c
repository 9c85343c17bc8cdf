/*
 * libmiscomm. A blocking client: every call waits at most timeout_ms. wolfSSL
 * reads and writes through our own callbacks over the socket so that the
 * timeout applies to TLS too.
 */
#include "miscomm/client.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cert.h"
#include "frame.h"
#include "psk.h"
#include "secret.h"
#include "wire.h"

struct mc_client {
    struct mc_client_options opt;
    char host[256];
    uint8_t pin[32];
    int fd;
    WOLFSSL_CTX *ctx;
    WOLFSSL *ssl;
    WOLFSSL_SESSION *session; /* for resumption on reconnect */
    uint8_t psk[PSK_KEY_SIZE];
    int ready;        /* transport up and usable */
    int verified;     /* this connection's server passed verification */
    int server_error; /* the last failure was an ERROR frame, not the transport */
    /* Copies of the caller's option strings (it may free its own). */
    char *cafile, *fingerprint, *psk_file, *client_cert, *client_key;
    int timed_out;
    uint32_t next_id;
    char errmsg[MC_MAX_ERROR_MESSAGE + 64];
    uint8_t *rx; /* one frame's payload */
    size_t rx_cap;
};

static int fail(mc_client *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(mc_client *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

const char *mc_client_errmsg(const mc_client *c)
{
    return c ? c->errmsg : "no client";
}

static int wait_fd(mc_client *c, short events)
{
    struct pollfd p = {.fd = c->fd, .events = events};
    int n;
    do
        n = poll(&p, 1, (int)c->opt.timeout_ms);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        c->timed_out = 1;
    return n;
}

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
    (void)ssl;
    mc_client *c = ctx;
    if (wait_fd(c, POLLIN) <= 0)
        return WOLFSSL_CBIO_ERR_TIMEOUT;
    ssize_t n;
    do
        n = recv(c->fd, buf, (size_t)sz, 0);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return WOLFSSL_CBIO_ERR_CONN_CLOSE;
    if (n < 0)
        return errno == ECONNRESET ? WOLFSSL_CBIO_ERR_CONN_RST : WOLFSSL_CBIO_ERR_GENERAL;
    return (int)n;
}

static int io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
    (void)ssl;
    mc_client *c = ctx;
    if (wait_fd(c, POLLOUT) <= 0)
        return WOLFSSL_CBIO_ERR_TIMEOUT;
    ssize_t n;
    do
        n = send(c->fd, buf, (size_t)sz, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EPIPE || errno == ECONNRESET ? WOLFSSL_CBIO_ERR_CONN_CLOSE
                                                     : WOLFSSL_CBIO_ERR_GENERAL;
    return (int)n;
}

int mc_client_new(mc_client **out, const struct mc_client_options *opt)
{
    *out = NULL;
    mc_client *c = calloc(1, sizeof *c);
    if (!c)
        return MC_ERR_NOMEM;
    c->opt = *opt;
    c->fd = -1;
    c->next_id = 1;
    snprintf(c->host, sizeof c->host, "%s", opt->host && opt->host[0] ? opt->host : "127.0.0.1");
    c->opt.host = c->host;
    struct {
        const char **opt;
        char **copy;
    } strs[] = {{&c->opt.cafile, &c->cafile},
                {&c->opt.fingerprint, &c->fingerprint},
                {&c->opt.psk_file, &c->psk_file},
                {&c->opt.client_cert, &c->client_cert},
                {&c->opt.client_key, &c->client_key}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        if (!*strs[i].opt)
            continue;
        *strs[i].copy = strdup(*strs[i].opt);
        if (!*strs[i].copy) {
            *out = c;
            return fail(c, MC_ERR_NOMEM, "out of memory");
        }
        *strs[i].opt = *strs[i].copy;
    }
    if (!c->opt.port)
        c->opt.port = MC_DEFAULT_PORT;
    if (!c->opt.timeout_ms)
        c->opt.timeout_ms = 10000;
    int modes =
        !!opt->cafile + !!opt->fingerprint + !!opt->insecure + !!opt->plaintext + !!opt->psk_file;
    int rc = 0;
    const char *why;
    if (modes != 1)
        rc = fail(c, MC_ERR_INVALID_ARG,
                  "choose exactly one of cafile, fingerprint, insecure, psk_file or plaintext");
    else if (!!opt->client_cert != !!opt->client_key)
        rc = fail(c, MC_ERR_INVALID_ARG,
                  "a client certificate needs its key, and the other way round");
    else if (opt->psk_file && psk_load(opt->psk_file, c->psk, &why) < 0)
        rc = fail(c, MC_ERR_INVALID_ARG, "%s: %s", opt->psk_file, why);
    else if (opt->fingerprint && cert_parse_hex(opt->fingerprint, c->pin) < 0)
        rc = fail(c, MC_ERR_INVALID_ARG, "fingerprint must be 64 hex digits (SHA-256)");
    else if (opt->tls_version && opt->tls_version != 12 && opt->tls_version != 13)
        rc = fail(c, MC_ERR_INVALID_ARG, "tls_version must be 0, 12 or 13");
    *out = c;
    return rc;
}

static int tcp_connect(mc_client *c)
{
    char port[8];
    snprintf(port, sizeof port, "%u", c->opt.port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
    struct addrinfo *res;
    int g = getaddrinfo(c->host, port, &hints, &res);
    if (g != 0)
        return fail(c, MC_ERR_RESOLVE, "%s: %s", c->host, gai_strerror(g));
    int err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        c->fd = fd;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
            (errno == EINPROGRESS && wait_fd(c, POLLOUT) > 0)) {
            socklen_t len = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err == 0)
                break;
        } else {
            err = c->timed_out ? ETIMEDOUT : errno;
        }
        close(fd);
        c->fd = -1;
    }
    freeaddrinfo(res);
    if (c->fd < 0)
        return fail(c, MC_ERR_CONNECT, "%s:%u: %s", c->host, c->opt.port, strerror(err));
    return 0;
}

static int tls_fail(mc_client *c, int ret, const char *what)
{
    int err = wolfSSL_get_error(c->ssl, ret);
    char msg[WOLFSSL_MAX_ERROR_SZ];
    wolfSSL_ERR_error_string_n((unsigned long)err, msg, sizeof msg);
    if (c->timed_out)
        return fail(c, MC_ERR_TIMEOUT, "%s: no answer within %u ms", what, c->opt.timeout_ms);
    if (err == DOMAIN_NAME_MISMATCH || err == ASN_NO_SIGNER_E || err == ASN_AFTER_DATE_E ||
        err == ASN_BEFORE_DATE_E || err == VERIFY_CERT_ERROR || err == ASN_SIG_CONFIRM_E ||
        err == ASN_SELF_SIGNED_E)
        return fail(c, MC_ERR_CERT_VERIFY, "%s: %s", what, msg);
    return fail(c, MC_ERR_TLS, "%s: %s (%d)", what, msg, err);
}

static int verify_pin(mc_client *c)
{
    WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(c->ssl);
    if (!x)
        return fail(c, MC_ERR_CERT_VERIFY, "the server sent no certificate");
    int len = 0;
    const unsigned char *der = wolfSSL_X509_get_der(x, &len);
    struct cert_info info;
    int rc = der ? cert_inspect(der, (size_t)len, &info) : MC_ERR_CRYPTO;
    wolfSSL_X509_free(x);
    if (rc < 0)
        return fail(c, MC_ERR_CERT_VERIFY, "cannot parse the server certificate");
    if (memcmp(info.cert_sha256, c->pin, 32) == 0 || memcmp(info.spki_sha256, c->pin, 32) == 0)
        return 0;
    char got[96];
    cert_hex_colon(info.cert_sha256, got);
    return fail(c, MC_ERR_CERT_VERIFY,
                "server certificate does not match the pinned fingerprint (server sent %s)", got);
}

static unsigned int psk_client_cb(WOLFSSL *ssl, const char *hint, char *identity,
                                  unsigned int id_max, unsigned char *key, unsigned int key_max,
                                  const char **suite)
{
    (void)hint;
    mc_client *c = wolfSSL_GetIOReadCtx(ssl);
    if (!c || id_max <= sizeof PSK_IDENTITY || key_max < PSK_KEY_SIZE)
        return 0;
    memcpy(identity, PSK_IDENTITY, sizeof PSK_IDENTITY);
    memcpy(key, c->psk, PSK_KEY_SIZE);
    *suite = "TLS13-AES256-GCM-SHA384";
    return PSK_KEY_SIZE;
}

/* The TLS context is made once per client and kept across reconnects. */
static int tls_setup(mc_client *c)
{
    WOLFSSL_METHOD *m = c->opt.psk_file || c->opt.tls_version == 13 ? wolfTLSv1_3_client_method()
                        : c->opt.tls_version == 12                  ? wolfTLSv1_2_client_method()
                                                                    : wolfSSLv23_client_method();
    c->ctx = wolfSSL_CTX_new(m);
    if (!c->ctx)
        return fail(c, MC_ERR_NOMEM, "cannot create the TLS context");
    if (wolfSSL_CTX_SetMinVersion(c->ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS)
        return fail(c, MC_ERR_TLS, "cannot require TLS 1.2 or later");
    if (c->opt.client_cert &&
        (wolfSSL_CTX_use_certificate_chain_file(c->ctx, c->opt.client_cert) != WOLFSSL_SUCCESS ||
         wolfSSL_CTX_use_PrivateKey_file(c->ctx, c->opt.client_key, WOLFSSL_FILETYPE_PEM) !=
             WOLFSSL_SUCCESS))
        return fail(c, MC_ERR_INVALID_ARG, "cannot load the client certificate %s or key %s",
                    c->opt.client_cert, c->opt.client_key);
    if (c->opt.psk_file) {
        if (wolfSSL_CTX_set_cipher_list(c->ctx, "TLS13-AES256-GCM-SHA384") != WOLFSSL_SUCCESS)
            return fail(c, MC_ERR_TLS, "this wolfSSL build lacks TLS13-AES256-GCM-SHA384");
        wolfSSL_CTX_set_psk_client_tls13_callback(c->ctx, psk_client_cb);
        /* The key authenticates the server. A server that declines the PSK
         * and sends a certificate instead must fail: with no trusted CA
         * loaded, every certificate does. */
        wolfSSL_CTX_set_verify(c->ctx, WOLFSSL_VERIFY_PEER, NULL);
    } else if (c->opt.cafile) {
        if (wolfSSL_CTX_load_verify_locations(c->ctx, c->opt.cafile, NULL) != WOLFSSL_SUCCESS)
            return fail(c, MC_ERR_CERT_VERIFY, "cannot load CA file %s", c->opt.cafile);
        wolfSSL_CTX_set_verify(c->ctx, WOLFSSL_VERIFY_PEER, NULL);
    } else {
        /* Pinning is checked after the handshake, before any secret is sent. */
        wolfSSL_CTX_set_verify(c->ctx, WOLFSSL_VERIFY_NONE, NULL);
    }
    wolfSSL_CTX_SetIORecv(c->ctx, io_recv);
    wolfSSL_CTX_SetIOSend(c->ctx, io_send);
    return 0;
}

static int tls_connect(mc_client *c)
{
    int rc;
    if (!c->ctx && (rc = tls_setup(c)) < 0) {
        /* Never keep a half-configured context: the next try starts over. */
        if (c->ctx)
            wolfSSL_CTX_free(c->ctx);
        c->ctx = NULL;
        return rc;
    }
    c->ssl = wolfSSL_new(c->ctx);
    if (!c->ssl)
        return fail(c, MC_ERR_NOMEM, "cannot create the TLS session");
    wolfSSL_SetIOReadCtx(c->ssl, c);
    wolfSSL_SetIOWriteCtx(c->ssl, c);
    if (c->opt.cafile && wolfSSL_check_domain_name(c->ssl, c->host) != WOLFSSL_SUCCESS)
        return fail(c, MC_ERR_TLS, "cannot set the expected host name");
    if (wolfSSL_UseSNI(c->ssl, WOLFSSL_SNI_HOST_NAME, c->host, (unsigned short)strlen(c->host)) !=
        WOLFSSL_SUCCESS)
        return fail(c, MC_ERR_TLS, "cannot set SNI");
    if (c->session)
        wolfSSL_set_session(c->ssl, c->session);
    int ret = wolfSSL_connect(c->ssl);
    if (ret != WOLFSSL_SUCCESS)
        return tls_fail(c, ret, "TLS handshake");
    if (c->opt.psk_file) {
        WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(c->ssl);
        if (x) {
            wolfSSL_X509_free(x);
            return fail(c, MC_ERR_CERT_VERIFY, "the server did not use the pre-shared key");
        }
    }
    /* A resumed session can only come from c->session, which save_session()
     * takes only from a connection that passed the pin check: only that
     * server holds the ticket key that let us resume. */
    if (c->opt.fingerprint && !wolfSSL_session_reused(c->ssl) && (rc = verify_pin(c)) < 0)
        return rc;
    return 0;
}

/* Keep the newest session (with its ticket) for the next reconnect. */
static void save_session(mc_client *c)
{
    if (!c->ssl || !c->verified || c->opt.psk_file)
        return;
    WOLFSSL_SESSION *s = wolfSSL_get1_session(c->ssl);
    if (!s)
        return;
    if (c->session)
        wolfSSL_SESSION_free(c->session);
    c->session = s;
}

static void disconnect(mc_client *c);

int mc_connect(mc_client *c)
{
    if (c->fd >= 0)
        return fail(c, MC_ERR_INVALID_ARG, "already connected");
    c->timed_out = 0;
    int rc = tcp_connect(c);
    if (rc == 0 && !c->opt.plaintext)
        rc = tls_connect(c);
    if (rc < 0) {
        /* A server that failed verification must leave nothing behind: no
         * socket to send on, no session to resume. */
        disconnect(c);
        if (rc == MC_ERR_CERT_VERIFY && c->session) {
            wolfSSL_SESSION_free(c->session);
            c->session = NULL;
        }
        return rc;
    }
    c->verified = 1;
    c->ready = 1;
    return 0;
}

static int raw_write(mc_client *c, const uint8_t *p, size_t n)
{
    if (c->ssl) {
        int ret = wolfSSL_write(c->ssl, p, (int)n);
        return ret == (int)n ? 0 : tls_fail(c, ret, "send");
    }
    for (size_t off = 0; off < n;) {
        int w = io_send(NULL, (char *)(uintptr_t)(p + off), (int)(n - off), c);
        if (w <= 0)
            return fail(c, c->timed_out ? MC_ERR_TIMEOUT : MC_ERR_IO, "send failed");
        off += (size_t)w;
    }
    return 0;
}

static int raw_read(mc_client *c, uint8_t *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        int got;
        if (c->ssl) {
            got = wolfSSL_read(c->ssl, p + off, (int)(n - off));
            if (got <= 0) {
                int err = wolfSSL_get_error(c->ssl, got);
                if (c->timed_out)
                    return fail(c, MC_ERR_TIMEOUT, "no answer within %u ms", c->opt.timeout_ms);
                if (err == WOLFSSL_ERROR_ZERO_RETURN || err == SOCKET_PEER_CLOSED_E ||
                    err == SOCKET_ERROR_E)
                    return fail(c, MC_ERR_CLOSED, "the server closed the connection");
                return tls_fail(c, got, "receive");
            }
        } else {
            got = io_recv(NULL, (char *)p + off, (int)(n - off), c);
            if (got == WOLFSSL_CBIO_ERR_CONN_CLOSE)
                return fail(c, MC_ERR_CLOSED, "the server closed the connection");
            if (got <= 0)
                return fail(c, c->timed_out ? MC_ERR_TIMEOUT : MC_ERR_IO, "receive failed");
        }
        off += (size_t)got;
    }
    return 0;
}

static int send_frame(mc_client *c, uint8_t type, uint32_t id, const uint8_t *payload, size_t len)
{
    uint8_t buf[MC_FRAME_HEADER_SIZE + 2048];
    if (len > sizeof buf - MC_FRAME_HEADER_SIZE)
        return fail(c, MC_ERR_INVALID_ARG, "request too large");
    frame_put_header(buf, type, 0, id, (uint32_t)len);
    if (len)
        memcpy(buf + MC_FRAME_HEADER_SIZE, payload, len);
    int rc = raw_write(c, buf, MC_FRAME_HEADER_SIZE + len);
    secret_wipe(buf, sizeof buf);
    return rc;
}

/*
 * Read frames until the final response to request id arrives. Returns its
 * type and payload (in c->rx), or the server's error code.
 */
static int recv_response(mc_client *c, uint32_t id, struct frame *out)
{
    for (;;) {
        uint8_t hdr[MC_FRAME_HEADER_SIZE];
        int rc = raw_read(c, hdr, sizeof hdr);
        if (rc < 0)
            return rc;
        struct frame f;
        if ((rc = frame_parse_header(hdr, MC_MAX_PAYLOAD, &f)) < 0)
            return fail(c, rc, "bad frame from the server: %s", mc_strerror(rc));
        if (f.length > c->rx_cap) {
            uint8_t *p = realloc(c->rx, f.length);
            if (!p)
                return fail(c, MC_ERR_NOMEM, "out of memory");
            c->rx = p;
            c->rx_cap = f.length;
        }
        if (f.length && (rc = raw_read(c, c->rx, f.length)) < 0)
            return rc;
        f.payload = c->rx;
        if (f.type == MC_MSG_ERROR) {
            struct wire_reader r;
            wire_reader_init(&r, f.payload, f.length);
            uint16_t code = wire_get_u16(&r);
            struct wire_str msg = wire_get_str(&r, MC_MAX_ERROR_MESSAGE);
            if (wire_reader_done(&r) < 0)
                return fail(c, MC_ERR_BAD_PAYLOAD, "malformed ERROR frame from the server");
            char text[MC_MAX_ERROR_MESSAGE + 1];
            wire_str_copy(text, sizeof text, msg);
            /* The text goes to terminals and logs: no control characters. */
            for (char *t = text; *t; t++)
                if ((unsigned char)*t < 0x20 || *t == 0x7F)
                    *t = '?';
            fail(c, -(int)code, "%s", text);
            if (f.request_id == 0)
                c->ready = 0; /* the server closes after an error with id 0 */
            if (f.request_id == id || f.request_id == 0) {
                c->server_error = 1;
                return code ? -(int)code : MC_ERR_INTERNAL;
            }
            continue;
        }
        if (f.request_id != id)
            continue; /* a late answer to an abandoned request */
        *out = f;
        return 0;
    }
}

static int request(mc_client *c, uint8_t type, const uint8_t *payload, size_t len, uint8_t expect,
                   struct frame *out)
{
    if (!c->ready)
        return fail(c, MC_ERR_INVALID_ARG, "not connected");
    uint32_t id = c->next_id++;
    if (c->next_id == 0)
        c->next_id = 1;
    c->timed_out = 0;
    c->server_error = 0;
    int rc = send_frame(c, type, id, payload, len);
    if (rc == 0)
        rc = recv_response(c, id, out);
    if (rc < 0) {
        /* After a transport failure or a timeout the stream may be cut in
         * the middle of a frame: only a reconnect makes it usable again.
         * An ERROR frame from the server leaves the connection usable. */
        if (!c->server_error)
            c->ready = 0;
        return rc;
    }
    if (out->type != expect)
        return fail(c, MC_ERR_BAD_TYPE, "unexpected answer %s to %s", frame_type_name(out->type),
                    frame_type_name(type));
    return 0;
}

int mc_hello(mc_client *c, const struct mc_hello_params *p, struct mc_session *out)
{
    uint8_t payload[4 + 4 * 2 + MC_MAX_CLIENT_NAME + MC_MAX_CLIENT_VERSION + MC_MAX_DEVICE_ID +
                    MC_MAX_PASSWORD];
    const char *name = p->client_name ? p->client_name : "libmiscomm";
    const char *ver = p->client_version ? p->client_version : MC_VERSION;
    const char *dev = p->device_id ? p->device_id : "";
    if (strlen(name) > MC_MAX_CLIENT_NAME || strlen(ver) > MC_MAX_CLIENT_VERSION ||
        strlen(dev) > MC_MAX_DEVICE_ID || p->password_len > MC_MAX_PASSWORD)
        return fail(c, MC_ERR_INVALID_ARG, "a HELLO field is too long");
    struct wire_writer w;
    wire_writer_init(&w, payload, sizeof payload);
    wire_put_u16(&w, MC_PROTO_VERSION);
    wire_put_u16(&w, MC_PROTO_VERSION);
    wire_put_cstr(&w, name);
    wire_put_cstr(&w, ver);
    wire_put_cstr(&w, dev);
    wire_put_str(&w, p->password ? p->password : "", p->password ? p->password_len : 0);
    struct frame f;
    int rc = w.err ? fail(c, MC_ERR_INVALID_ARG, "cannot encode HELLO")
                   : request(c, MC_MSG_HELLO, payload, w.len, MC_MSG_HELLO_OK, &f);
    secret_wipe(payload, sizeof payload);
    if (rc < 0)
        return rc;
    struct wire_reader r;
    wire_reader_init(&r, f.payload, f.length);
    struct mc_session s;
    memset(&s, 0, sizeof s);
    s.version = wire_get_u16(&r);
    wire_str_copy(s.server_name, sizeof s.server_name, wire_get_str(&r, 64));
    wire_str_copy(s.server_version, sizeof s.server_version, wire_get_str(&r, 32));
    const uint8_t *sid = wire_get_bytes(&r, MC_SESSION_ID_SIZE);
    if (sid)
        memcpy(s.session_id, sid, sizeof s.session_id);
    s.permissions = wire_get_u32(&r);
    s.max_payload = wire_get_u32(&r);
    s.idle_timeout = wire_get_u32(&r);
    wire_str_copy(s.connection, sizeof s.connection, wire_get_str(&r, 64));
    if (wire_reader_done(&r) < 0)
        return fail(c, MC_ERR_BAD_PAYLOAD, "malformed HELLO_OK from the server");
    if (out)
        *out = s;
    save_session(c);
    return 0;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int mc_ping(mc_client *c, uint64_t *server_time_us, double *rtt_ms)
{
    uint64_t t0 = now_ns();
    uint8_t echo[8];
    for (int i = 0; i < 8; i++)
        echo[i] = (uint8_t)(t0 >> (56 - 8 * i));
    struct frame f;
    int rc = request(c, MC_MSG_PING, echo, sizeof echo, MC_MSG_PONG, &f);
    if (rc < 0)
        return rc;
    if (f.length != 8 + sizeof echo || memcmp(f.payload + 8, echo, sizeof echo) != 0)
        return fail(c, MC_ERR_BAD_PAYLOAD, "PONG does not echo the PING data");
    struct wire_reader r;
    wire_reader_init(&r, f.payload, 8);
    uint64_t t = wire_get_u64(&r);
    if (server_time_us)
        *server_time_us = t;
    if (rtt_ms)
        *rtt_ms = (double)(now_ns() - t0) / 1e6;
    return 0;
}

int mc_noop(mc_client *c)
{
    struct frame f;
    return request(c, MC_MSG_NOOP, NULL, 0, MC_MSG_NOOP, &f);
}

/* BYE (best effort) and close the connection, keeping the client. */
static void disconnect(mc_client *c)
{
    if (c->ready) {
        struct frame f;
        unsigned t = c->opt.timeout_ms;
        c->opt.timeout_ms = t < 2000 ? t : 2000;
        (void)request(c, MC_MSG_BYE, NULL, 0, MC_MSG_BYE, &f);
        c->opt.timeout_ms = t;
        if (c->ssl)
            wolfSSL_shutdown(c->ssl);
    }
    c->ready = 0;
    c->verified = 0;
    if (c->ssl)
        wolfSSL_free(c->ssl);
    c->ssl = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

int mc_reconnect(mc_client *c)
{
    save_session(c);
    disconnect(c);
    c->timed_out = 0;
    return mc_connect(c);
}

int mc_client_resumed(const mc_client *c)
{
    return c && c->ssl && wolfSSL_session_reused(c->ssl);
}

void mc_close(mc_client *c)
{
    if (!c)
        return;
    disconnect(c);
    if (c->session)
        wolfSSL_SESSION_free(c->session);
    if (c->ctx)
        wolfSSL_CTX_free(c->ctx);
    secret_wipe(c->psk, sizeof c->psk);
    free(c->cafile);
    free(c->fingerprint);
    free(c->psk_file);
    free(c->client_cert);
    free(c->client_key);
    free(c->rx);
    free(c);
}

const char *mc_client_tls_version(const mc_client *c)
{
    return c && c->ssl ? wolfSSL_get_version(c->ssl) : "none";
}

const char *mc_client_tls_cipher(const mc_client *c)
{
    return c && c->ssl ? wolfSSL_get_cipher_name(c->ssl) : "none";
}

int mc_cert_file_fingerprint(const char *path, char out[96])
{
    uint8_t *der;
    size_t len;
    struct cert_info info;
    int rc = cert_load_pem_file(path, &der, &len);
    if (rc < 0)
        return rc;
    rc = cert_inspect(der, len, &info);
    free(der);
    if (rc == 0)
        cert_hex_colon(info.cert_sha256, out);
    return rc;
}
