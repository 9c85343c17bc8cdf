/*
 * libmiscomm. A blocking client: every call has one deadline, timeout_ms
 * after it began. wolfSSL reads and writes through our own callbacks over
 * the socket so that the deadline applies to TLS too.
 *
 * Frames are read by one function (read_frame) whatever the caller waits
 * for; frames for another request are kept by their owner (a stream's
 * queue), notices go to the callback, answers to abandoned requests are
 * dropped.
 */
#include "miscomm/client.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cert.h"
#include "client_internal.h"
#include "frame.h"
#include "psk.h"
#include "secret.h"
#include "sock.h"
#include "wire.h"
#include <zstd.h>

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
    int peeking;          /* mc_poll: a read that finds nothing returns at once */
    uint64_t deadline_ns; /* of the call in progress */
    uint32_t next_id;
    uint16_t proto;   /* negotiated protocol version, 0 before HELLO_OK */
    uint8_t compress; /* zstd level agreed at HELLO, 0 = none */
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    uint8_t *zbuf; /* a compressed frame being built or read */
    size_t zcap;
    uint32_t stream_window;
    char errmsg[MC_MAX_ERROR_MESSAGE + 64];
    uint8_t *rx; /* one frame's payload */
    size_t rx_cap;
    uint8_t *tx; /* one frame being sent */
    size_t tx_cap;
    /* Read-ahead: what one recv() brought beyond what wolfSSL asked for
     * (it asks for a record's 5-byte header, then its body: two system
     * calls per record without this). Emptied when the socket is closed. */
    uint8_t *ra;
    size_t ra_pos, ra_len;
    struct mc_stream *streams;
    mc_notice_fn notice_fn;
    void *notice_ud;
    /* The last successful HELLO, for mc_relogin(). */
    int have_login;
    char login_name[MC_MAX_CLIENT_NAME + 1];
    char login_version[MC_MAX_CLIENT_VERSION + 1];
    char login_device[MC_MAX_DEVICE_ID + 1];
    char login_password[MC_MAX_PASSWORD];
    size_t login_password_len;
    /* The login ticket of the last HELLO_OK (docs/protocol.md 8), presented
     * by the next HELLO; the app may save and restore it (mc_login_ticket_*). */
    uint8_t login_ticket[MC_MAX_LOGIN_TICKET];
    size_t login_ticket_len;
    int login_by_ticket;  /* the last login was made with the ticket */
    int no_login_tickets; /* the server did not take the HELLO field (an older server) */
};

/* A received DATA frame waiting for its stream's reader. */
struct chunk {
    struct chunk *next;
    size_t len;
    int end;
    uint8_t data[];
};

struct mc_stream {
    mc_client *c;
    struct mc_stream *next;
    uint32_t id;
    uint64_t send_credit;     /* DATA bytes the server lets us send */
    uint64_t recv_credit;     /* DATA bytes we let the server send */
    uint64_t ungranted;       /* bytes consumed and not yet given back */
    struct chunk *q, *q_tail; /* DATA received, not yet delivered */
    int done;                 /* the final answer arrived */
    int rc;                   /* ... its result: 0 or a negative code */
    uint8_t final_type;
    uint8_t *final; /* its payload */
    size_t final_len;
    char final_msg[MC_MAX_ERROR_MESSAGE + 1];
    /* The last frame of the stream that is neither DATA, CREDIT nor final
     * (PUT_OFFSET, QUERY_COLUMNS, SYNC_COLUMNS), kept for mc_stream_wait_frame(). */
    uint8_t mid_type;
    uint8_t *mid;
    size_t mid_len;
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

int client_fail(mc_client *c, int code, const char *fmt, ...)
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

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A call begins: its one deadline. */
static void call_begin_ms(mc_client *c, unsigned ms)
{
    c->timed_out = 0;
    c->deadline_ns = now_ns() + (uint64_t)ms * 1000000u;
}

static void call_begin(mc_client *c)
{
    call_begin_ms(c, c->opt.timeout_ms);
}

static int wait_fd(mc_client *c, short events)
{
    struct pollfd p = {.fd = c->fd, .events = events};
    int n;
    do {
        uint64_t now = now_ns();
        int ms = now >= c->deadline_ns ? 0 : (int)((c->deadline_ns - now + 999999u) / 1000000u);
        n = poll(&p, 1, ms);
    } while (n < 0 && sock_errno() == EINTR);
    if (n == 0)
        c->timed_out = 1;
    return n;
}

#ifdef MSG_NOSIGNAL
#define CLIENT_SEND_FLAGS MSG_NOSIGNAL
#else
#define CLIENT_SEND_FLAGS 0 /* Darwin: SO_NOSIGPIPE is set on the socket instead */
#endif

#define CLIENT_READ_AHEAD (32u * 1024u)

/* The socket is non-blocking: try first, wait only when it has nothing. */
static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
    (void)ssl;
    mc_client *c = ctx;
    if (c->ra_pos < c->ra_len) {
        size_t n = c->ra_len - c->ra_pos < (size_t)sz ? c->ra_len - c->ra_pos : (size_t)sz;
        memcpy(buf, c->ra + c->ra_pos, n);
        c->ra_pos += n;
        return (int)n;
    }
    /* Small reads go through the read-ahead buffer, large ones straight in. */
    if ((size_t)sz < CLIENT_READ_AHEAD && !c->ra)
        c->ra = malloc(CLIENT_READ_AHEAD);
    int ahead = (size_t)sz < CLIENT_READ_AHEAD && c->ra;
    for (;;) {
        /* A server that keeps sending (frames for other requests) must not
         * keep a call past its deadline either. (mc_poll's peek never waits.) */
        if (!c->peeking && now_ns() >= c->deadline_ns) {
            c->timed_out = 1;
            return WOLFSSL_CBIO_ERR_TIMEOUT;
        }
        ssize_t n = ahead ? recv(c->fd, (char *)c->ra, CLIENT_READ_AHEAD, 0)
                          : recv(c->fd, buf, (size_t)sz, 0);
        if (n > 0 && ahead) {
            c->ra_len = (size_t)n;
            c->ra_pos = (size_t)n < (size_t)sz ? (size_t)n : (size_t)sz;
            memcpy(buf, c->ra, c->ra_pos);
            return (int)c->ra_pos;
        }
        if (n > 0)
            return (int)n;
        if (n == 0)
            return WOLFSSL_CBIO_ERR_CONN_CLOSE;
        int err = sock_errno();
        if (err == EINTR)
            continue;
        if (err != EAGAIN && err != EWOULDBLOCK)
            return err == ECONNRESET ? WOLFSSL_CBIO_ERR_CONN_RST : WOLFSSL_CBIO_ERR_GENERAL;
        if (c->peeking)
            return WOLFSSL_CBIO_ERR_WANT_READ; /* mc_poll: nothing more now, not an error */
        if (wait_fd(c, POLLIN) <= 0)
            return WOLFSSL_CBIO_ERR_TIMEOUT;
    }
}

static int io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
    (void)ssl;
    mc_client *c = ctx;
    for (;;) {
        ssize_t n = send(c->fd, buf, (size_t)sz, CLIENT_SEND_FLAGS);
        if (n >= 0)
            return (int)n;
        int err = sock_errno();
        if (err == EINTR)
            continue;
        if (err != EAGAIN && err != EWOULDBLOCK)
            return err == EPIPE || err == ECONNRESET ? WOLFSSL_CBIO_ERR_CONN_CLOSE
                                                     : WOLFSSL_CBIO_ERR_GENERAL;
        if (wait_fd(c, POLLOUT) <= 0)
            return WOLFSSL_CBIO_ERR_TIMEOUT;
    }
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
    if (!c->opt.hello_timeout_ms)
        c->opt.hello_timeout_ms = c->opt.timeout_ms > 30000 ? c->opt.timeout_ms : 30000;
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
    if (sock_startup() != 0)
        return fail(c, MC_ERR_CONNECT, "the socket layer did not start");
    int g = getaddrinfo(c->host, port, &hints, &res);
    if (g != 0)
        return fail(c, MC_ERR_RESOLVE, "%s: %s", c->host, gai_strerror(g));
    int err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = (int)socket(ai->ai_family, ai->ai_socktype, 0);
        if (fd < 0) {
            err = sock_errno();
            continue;
        }
        if (sock_set_nonblock(fd) < 0) {
            err = errno;
            sock_close(fd);
            continue;
        }
#ifdef SO_NOSIGPIPE
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
        c->fd = fd;
        if (connect(fd, ai->ai_addr, (socklen_t)ai->ai_addrlen) == 0 ||
            (sock_errno() == SOCK_CONNECT_PENDING && wait_fd(c, POLLOUT) > 0)) {
            socklen_t len = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, (void *)&err, &len);
            if (err == 0)
                break;
        } else {
            err = c->timed_out ? ETIMEDOUT : sock_errno();
        }
        sock_close(fd);
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

/*
 * wolfSSL_Init() once per process, before the first context: threads that
 * each make their first client at the same moment would otherwise race on
 * wolfSSL's own initialisation ("cannot create the TLS context"). It
 * counts its callers, so an application that calls it too is unaffected.
 */
static pthread_once_t wolfssl_once = PTHREAD_ONCE_INIT;
static int wolfssl_ready;

static void wolfssl_init_once(void)
{
    wolfssl_ready = wolfSSL_Init() == WOLFSSL_SUCCESS;
}

/* The TLS context is made once per client and kept across reconnects. */
static int tls_setup(mc_client *c)
{
    pthread_once(&wolfssl_once, wolfssl_init_once);
    if (!wolfssl_ready)
        return fail(c, MC_ERR_TLS, "wolfSSL did not initialise");
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
    /* RFC 6066: SNI names a host; an IP address literal is never sent. */
    struct in6_addr a6;
    struct in_addr a4;
    int is_ip = inet_pton(AF_INET, c->host, &a4) == 1 || inet_pton(AF_INET6, c->host, &a6) == 1;
    if (!is_ip && wolfSSL_UseSNI(c->ssl, WOLFSSL_SNI_HOST_NAME, c->host,
                                 (unsigned short)strlen(c->host)) != WOLFSSL_SUCCESS)
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
    call_begin(c);
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

/* After a transport failure or a timeout the stream may be cut in the middle
 * of a frame: only a reconnect makes the connection usable again. */
static int transport_broken(mc_client *c, int rc)
{
    c->ready = 0;
    return rc;
}

static int send_frame(mc_client *c, uint8_t type, uint16_t flags, uint32_t id,
                      const uint8_t *payload, size_t len)
{
    uint32_t max = c->proto ? MC_MAX_PAYLOAD : MC_MAX_PRELOGIN_PAYLOAD;
    if (len > max)
        return fail(c, MC_ERR_INVALID_ARG, "payload of %zu bytes exceeds the maximum of %u", len,
                    max);
    size_t need = MC_FRAME_HEADER_SIZE + len;
    if (need > c->tx_cap) {
        uint8_t *p = malloc(need);
        if (!p)
            return fail(c, MC_ERR_NOMEM, "out of memory");
        if (c->tx) {
            secret_wipe(c->tx, c->tx_cap);
            free(c->tx);
        }
        c->tx = p;
        c->tx_cap = need;
    }
    frame_put_header(c->tx, type, flags, id, (uint32_t)len);
    if (len)
        memcpy(c->tx + MC_FRAME_HEADER_SIZE, payload, len);
    int rc = raw_write(c, c->tx, need);
    /* A HELLO carries the password: never leave it in the buffer. */
    if (type == MC_MSG_HELLO)
        secret_wipe(c->tx, need);
    return rc < 0 ? transport_broken(c, rc) : 0;
}

/* A DATA frame, compressed when it was agreed and it shrinks (not a JPEG). */
static int send_data(mc_client *c, uint32_t id, const uint8_t *p, size_t n, int last)
{
    uint16_t flags = last ? MC_FLAG_END : 0;
    if (c->compress && n >= 512) {
        size_t bound = ZSTD_compressBound(n);
        if (bound > c->zcap) {
            uint8_t *b = realloc(c->zbuf, bound);
            if (!b)
                return fail(c, MC_ERR_NOMEM, "out of memory");
            c->zbuf = b;
            c->zcap = bound;
        }
        if (!c->cctx)
            c->cctx = ZSTD_createCCtx();
        size_t z = c->cctx ? ZSTD_compressCCtx(c->cctx, c->zbuf, c->zcap, p, n, c->compress) : 0;
        if (c->cctx && !ZSTD_isError(z) && z + z / 16 < n && z <= MC_MAX_PAYLOAD)
            return send_frame(c, MC_MSG_DATA, flags | MC_FLAG_COMPRESSED, id, c->zbuf, z);
    }
    return send_frame(c, MC_MSG_DATA, flags, id, p, n);
}

static uint32_t new_id(mc_client *c)
{
    uint32_t id = c->next_id++;
    if (c->next_id == 0)
        c->next_id = 1;
    return id;
}

static struct mc_stream *stream_find(mc_client *c, uint32_t id)
{
    for (struct mc_stream *s = c->streams; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

/* The text of an ERROR frame, safe for terminals and logs: no control characters. */
static int parse_error(mc_client *c, const struct frame *f, char *text, size_t cap, int *code)
{
    struct wire_reader r;
    wire_reader_init(&r, f->payload, f->length);
    uint16_t v = wire_get_u16(&r);
    struct wire_str msg = wire_get_str(&r, MC_MAX_ERROR_MESSAGE);
    if (wire_reader_done(&r) < 0)
        return fail(c, MC_ERR_BAD_PAYLOAD, "malformed ERROR frame from the server");
    wire_str_copy(text, cap, msg);
    for (char *t = text; *t; t++)
        if ((unsigned char)*t < 0x20 || *t == 0x7F)
            *t = '?';
    *code = v ? -(int)v : MC_ERR_INTERNAL;
    return 0;
}

static void deliver_notice(mc_client *c, const struct frame *f)
{
    struct wire_reader r;
    wire_reader_init(&r, f->payload, f->length);
    uint16_t kind = wire_get_u16(&r);
    struct wire_str text = wire_get_str(&r, 1024);
    if (r.err)
        return; /* a malformed notice is ignored, like an unknown kind */
    char t[1025];
    wire_str_copy(t, sizeof t, text);
    for (char *p = t; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7F)
            *p = '?';
    if (c->notice_fn)
        c->notice_fn(c->notice_ud, kind, t, f->payload + r.off, f->length - r.off);
}

/* A frame for a stream: queue DATA, apply CREDIT, keep the final answer. */
static int stream_take(mc_client *c, struct mc_stream *s, const struct frame *f)
{
    if (f->type == MC_MSG_DATA) {
        if (f->length == 0 && !(f->flags & MC_FLAG_END))
            return 0;
        /* Credit counts the bytes a DATA stands for: uncompressed. */
        size_t n = f->length;
        if (f->flags & MC_FLAG_COMPRESSED) {
            unsigned long long z = ZSTD_getFrameContentSize(f->payload, f->length);
            if (!c->compress || z == ZSTD_CONTENTSIZE_UNKNOWN || z == ZSTD_CONTENTSIZE_ERROR ||
                z > MC_MAX_PAYLOAD)
                return transport_broken(
                    c, fail(c, MC_ERR_BAD_PAYLOAD, "a compressed DATA frame that cannot be"));
            n = (size_t)z;
        }
        if (n > s->recv_credit)
            return transport_broken(
                c, fail(c, MC_ERR_FLOW_CONTROL, "the server sent more DATA than credited"));
        struct chunk *k = malloc(sizeof *k + n);
        if (!k)
            return fail(c, MC_ERR_NOMEM, "out of memory");
        if (f->flags & MC_FLAG_COMPRESSED) {
            if (!c->dctx && !(c->dctx = ZSTD_createDCtx())) {
                free(k);
                return fail(c, MC_ERR_NOMEM, "out of memory");
            }
            size_t got = ZSTD_decompressDCtx(c->dctx, k->data, n, f->payload, f->length);
            if (ZSTD_isError(got) || got != n) {
                free(k);
                return transport_broken(
                    c, fail(c, MC_ERR_BAD_PAYLOAD, "a compressed DATA frame does not decompress"));
            }
        } else if (n) {
            memcpy(k->data, f->payload, n);
        }
        s->recv_credit -= n;
        k->next = NULL;
        k->len = n;
        k->end = (f->flags & MC_FLAG_END) != 0;
        if (s->q_tail)
            s->q_tail->next = k;
        else
            s->q = k;
        s->q_tail = k;
        return 0;
    }
    if (f->type == MC_MSG_CREDIT) {
        struct wire_reader r;
        wire_reader_init(&r, f->payload, f->length);
        uint32_t n = wire_get_u32(&r);
        if (wire_reader_done(&r) == 0)
            s->send_credit += n;
        return 0;
    }
    if (f->type == MC_MSG_PUT_OFFSET || f->type == MC_MSG_QUERY_COLUMNS ||
        f->type == MC_MSG_SYNC_COLUMNS) {
        /* Not final: where an upload starts, or a result's columns (up to a
         * whole frame: copied, since c->rx is reused by the next read). */
        uint8_t *p = f->length ? malloc(f->length) : NULL;
        if (f->length && !p)
            return fail(c, MC_ERR_NOMEM, "out of memory");
        if (f->length)
            memcpy(p, f->payload, f->length);
        free(s->mid);
        s->mid = p;
        s->mid_len = f->length;
        s->mid_type = f->type;
        /* PUT_OFFSET gives the client the credit to send the upload. */
        if (f->type == MC_MSG_PUT_OFFSET)
            s->send_credit = c->stream_window;
        return 0;
    }
    /* Anything else ends the stream: its final answer. */
    s->done = 1;
    s->final_type = f->type;
    if (f->type == MC_MSG_ERROR) {
        int rc = parse_error(c, f, s->final_msg, sizeof s->final_msg, &s->rc);
        if (rc < 0)
            s->rc = rc;
        return 0;
    }
    free(s->final);
    s->final = f->length ? malloc(f->length) : NULL;
    if (f->length && !s->final)
        return fail(c, MC_ERR_NOMEM, "out of memory");
    if (f->length)
        memcpy(s->final, f->payload, f->length);
    s->final_len = f->length;
    s->rc = 0;
    return 0;
}

/*
 * Read one frame and give it to its owner. Returns 1 when it is the answer
 * to `want` (then *out holds it, payload in c->rx), 0 when it went
 * elsewhere, or a negative error.
 */
static int read_frame(mc_client *c, uint32_t want, struct frame *out)
{
    uint8_t hdr[MC_FRAME_HEADER_SIZE];
    int rc = raw_read(c, hdr, sizeof hdr);
    if (rc < 0)
        return transport_broken(c, rc);
    struct frame f;
    if ((rc = frame_parse_header(hdr, MC_MAX_PAYLOAD, &f)) < 0)
        return transport_broken(c, fail(c, rc, "bad frame from the server: %s", mc_strerror(rc)));
    /* DATA for an open stream goes straight into its queue: no second copy. */
    struct mc_stream *ds =
        f.type == MC_MSG_DATA && f.request_id ? stream_find(c, f.request_id) : NULL;
    if (ds && !ds->done && f.length == 0 && !(f.flags & MC_FLAG_END))
        return 0; /* an empty DATA says nothing: not queued, so the queue stays bounded */
    if (ds && !ds->done && f.length <= ds->recv_credit && !(f.flags & MC_FLAG_COMPRESSED)) {
        struct chunk *k = malloc(sizeof *k + f.length);
        if (!k)
            return transport_broken(c, fail(c, MC_ERR_NOMEM, "out of memory"));
        if (f.length && (rc = raw_read(c, k->data, f.length)) < 0) {
            free(k);
            return transport_broken(c, rc);
        }
        ds->recv_credit -= f.length;
        k->next = NULL;
        k->len = f.length;
        k->end = (f.flags & MC_FLAG_END) != 0;
        if (ds->q_tail)
            ds->q_tail->next = k;
        else
            ds->q = k;
        ds->q_tail = k;
        return 0;
    }
    if (f.length > c->rx_cap) {
        uint8_t *p = realloc(c->rx, f.length);
        if (!p)
            return transport_broken(c, fail(c, MC_ERR_NOMEM, "out of memory"));
        c->rx = p;
        c->rx_cap = f.length;
    }
    if (f.length && (rc = raw_read(c, c->rx, f.length)) < 0)
        return transport_broken(c, rc);
    f.payload = c->rx;
    if (f.request_id == 0) {
        if (f.type == MC_MSG_NOTICE) {
            deliver_notice(c, &f);
            return 0;
        }
        /* An ERROR of the server's own: it closes the connection. */
        char text[MC_MAX_ERROR_MESSAGE + 1];
        int code = MC_ERR_BAD_TYPE;
        if (f.type == MC_MSG_ERROR && (rc = parse_error(c, &f, text, sizeof text, &code)) == 0)
            fail(c, code, "%s", text);
        else if (f.type != MC_MSG_ERROR)
            fail(c, code, "unexpected %s frame with request id 0", frame_type_name(f.type));
        c->ready = 0;
        c->server_error = 1;
        return code;
    }
    if (f.request_id == want) {
        *out = f;
        return 1;
    }
    struct mc_stream *s = stream_find(c, f.request_id);
    if (s && !s->done)
        return stream_take(c, s, &f);
    return 0; /* a late answer to an abandoned request */
}

/* Turn an answer frame into the call's result (ERROR: its code and message). */
static int answer(mc_client *c, const struct frame *f)
{
    if (f->type != MC_MSG_ERROR)
        return 0;
    char text[MC_MAX_ERROR_MESSAGE + 1];
    int code;
    int rc = parse_error(c, f, text, sizeof text, &code);
    if (rc < 0)
        return rc;
    c->server_error = 1;
    return fail(c, code, "%s", text);
}

/* mc_call with a deadline of ms. */
static int call_ms(mc_client *c, unsigned ms, uint8_t type, const void *payload, size_t len,
                   struct mc_reply *out)
{
    if (!c->ready)
        return fail(c, MC_ERR_INVALID_ARG, "not connected");
    call_begin_ms(c, ms);
    c->server_error = 0;
    uint32_t id = new_id(c);
    int rc = send_frame(c, type, 0, id, payload, len);
    struct frame f;
    while (rc == 0)
        rc = read_frame(c, id, &f);
    if (rc < 0)
        return rc;
    if (out)
        *out = (struct mc_reply){.type = f.type, .id = id, .payload = f.payload, .len = f.length};
    return answer(c, &f);
}

int mc_call(mc_client *c, uint8_t type, const void *payload, size_t len, struct mc_reply *out)
{
    return call_ms(c, c->opt.timeout_ms, type, payload, len, out);
}

static int request_ms(mc_client *c, unsigned ms, uint8_t type, const uint8_t *payload, size_t len,
                      uint8_t expect, struct frame *out)
{
    struct mc_reply r;
    int rc = call_ms(c, ms, type, payload, len, &r);
    if (rc < 0)
        return rc;
    if (r.type != expect)
        return fail(c, MC_ERR_BAD_TYPE, "unexpected answer %s to %s", frame_type_name(r.type),
                    frame_type_name(type));
    *out = (struct frame){
        .type = r.type, .request_id = r.id, .length = (uint32_t)r.len, .payload = r.payload};
    return 0;
}

static int request(mc_client *c, uint8_t type, const uint8_t *payload, size_t len, uint8_t expect,
                   struct frame *out)
{
    return request_ms(c, c->opt.timeout_ms, type, payload, len, expect, out);
}

/* HELLO_OK's login fields (sent when HELLO offered MC_FEATURE_LOGIN_TICKET): keep the new ticket.
 */
static void hello_take_ticket(mc_client *c, struct wire_reader *r)
{
    const uint8_t *how = wire_get_bytes(r, 1);
    (void)wire_get_u32(r); /* ticket_lifetime: the server checks the expiry */
    uint16_t n = wire_get_u16(r);
    const uint8_t *t = n <= MC_MAX_LOGIN_TICKET ? wire_get_bytes(r, n) : NULL;
    if (r->err || (n && !t)) {
        r->err = MC_ERR_BAD_PAYLOAD;
        return;
    }
    c->login_by_ticket = how && how[0] == 1;
    secret_wipe(c->login_ticket, sizeof c->login_ticket);
    if (n)
        memcpy(c->login_ticket, t, n);
    c->login_ticket_len = n;
}

int mc_hello(mc_client *c, const struct mc_hello_params *p, struct mc_session *out)
{
    uint8_t payload[4 + 4 * 2 + MC_MAX_CLIENT_NAME + MC_MAX_CLIENT_VERSION + MC_MAX_DEVICE_ID +
                    MC_MAX_PASSWORD + 4 + 2 + MC_MAX_LOGIN_TICKET];
    const char *name = p->client_name ? p->client_name : "libmiscomm";
    const char *ver = p->client_version ? p->client_version : MC_VERSION;
    const char *dev = p->device_id ? p->device_id : "";
    if (strlen(name) > MC_MAX_CLIENT_NAME || strlen(ver) > MC_MAX_CLIENT_VERSION ||
        strlen(dev) > MC_MAX_DEVICE_ID || p->password_len > MC_MAX_PASSWORD)
        return fail(c, MC_ERR_INVALID_ARG, "a HELLO field is too long");
    int tickets = !c->no_login_tickets;
    struct frame f;
    int rc;
    for (;;) {
        struct wire_writer w;
        wire_writer_init(&w, payload, sizeof payload);
        wire_put_u16(&w, MC_PROTO_MIN);
        wire_put_u16(&w, MC_PROTO_VERSION);
        wire_put_cstr(&w, name);
        wire_put_cstr(&w, ver);
        wire_put_cstr(&w, dev);
        wire_put_str(&w, p->password ? p->password : "", p->password ? p->password_len : 0);
        /* features: compressed DATA (unless turned off), login tickets; then our ticket. */
        uint32_t features =
            (c->opt.no_compression ? 0 : MC_FEATURE_ZSTD) | (tickets ? MC_FEATURE_LOGIN_TICKET : 0);
        if (features)
            wire_put_u32(&w, features);
        if (tickets) {
            wire_put_u16(&w, (uint16_t)c->login_ticket_len);
            wire_put_bytes(&w, c->login_ticket, c->login_ticket_len);
        }
        rc = w.err ? fail(c, MC_ERR_INVALID_ARG, "cannot encode HELLO")
                   : request_ms(c, c->opt.hello_timeout_ms, MC_MSG_HELLO, payload, w.len,
                                MC_MSG_HELLO_OK, &f);
        secret_wipe(payload, sizeof payload);
        /* A server older than login tickets refuses the field: once without. */
        if (rc != MC_ERR_BAD_PAYLOAD || !tickets)
            break;
        tickets = 0;
        c->no_login_tickets = 1;
    }
    if (rc == MC_ERR_TICKET) {
        /* The ticket alone (no password) was refused: it is of no more use. */
        secret_wipe(c->login_ticket, sizeof c->login_ticket);
        c->login_ticket_len = 0;
    }
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
    c->login_by_ticket = 0;
    if (s.version >= MC_PROTO_STREAMS) {
        s.stream_window = wire_get_u32(&r);
        s.max_streams = wire_get_u16(&r);
        const uint8_t *z = wire_get_bytes(&r, 1);
        s.compression = z && !c->opt.no_compression ? z[0] : 0;
        if (tickets)
            hello_take_ticket(c, &r);
    }
    /* Fields a later version appends are ignored. */
    if (r.err || s.version < MC_PROTO_MIN || s.version > MC_PROTO_VERSION)
        return fail(c, MC_ERR_BAD_PAYLOAD, "malformed HELLO_OK from the server");
    c->proto = s.version;
    c->stream_window = s.stream_window;
    c->compress = s.compression;
    if (out)
        *out = s;
    save_session(c);
    if (p->password != c->login_password) {
        snprintf(c->login_name, sizeof c->login_name, "%s", name);
        snprintf(c->login_version, sizeof c->login_version, "%s", ver);
        snprintf(c->login_device, sizeof c->login_device, "%s", dev);
        secret_wipe(c->login_password, sizeof c->login_password);
        if (p->password)
            memcpy(c->login_password, p->password, p->password_len);
        c->login_password_len = p->password ? p->password_len : 0;
        c->have_login = 1;
    }
    return 0;
}

int mc_login_ticket_get(const mc_client *c, uint8_t *buf, size_t cap, size_t *len)
{
    if (!c || !len || (c->login_ticket_len && (!buf || cap < c->login_ticket_len)))
        return MC_ERR_INVALID_ARG;
    if (c->login_ticket_len)
        memcpy(buf, c->login_ticket, c->login_ticket_len);
    *len = c->login_ticket_len;
    return 0;
}

int mc_login_ticket_set(mc_client *c, const uint8_t *ticket, size_t len)
{
    if (!c || len > MC_MAX_LOGIN_TICKET || (len && !ticket))
        return MC_ERR_INVALID_ARG;
    secret_wipe(c->login_ticket, sizeof c->login_ticket);
    if (len)
        memcpy(c->login_ticket, ticket, len);
    c->login_ticket_len = len;
    return 0;
}

int mc_client_login_by_ticket(const mc_client *c)
{
    return c && c->login_by_ticket;
}

int mc_relogin(mc_client *c, struct mc_session *out)
{
    if (!c->have_login)
        return fail(c, MC_ERR_INVALID_ARG, "no earlier login to repeat");
    int rc = c->fd >= 0 ? mc_reconnect(c) : mc_connect(c);
    if (rc < 0)
        return rc;
    struct mc_hello_params p = {.client_name = c->login_name,
                                .client_version = c->login_version,
                                .device_id = c->login_device,
                                .password = c->login_password,
                                .password_len = c->login_password_len};
    return mc_hello(c, &p, out);
}

int mc_client_connected(const mc_client *c)
{
    return c && c->ready;
}

int mc_info(mc_client *c, struct mc_server_info *out)
{
    struct frame f;
    int rc = request(c, MC_MSG_INFO, NULL, 0, MC_MSG_INFO_OK, &f);
    if (rc < 0)
        return rc;
    struct wire_reader r;
    wire_reader_init(&r, f.payload, f.length);
    struct mc_server_info i;
    memset(&i, 0, sizeof i);
    i.min_version = wire_get_u16(&r);
    i.max_version = wire_get_u16(&r);
    wire_str_copy(i.server_name, sizeof i.server_name, wire_get_str(&r, 64));
    wire_str_copy(i.server_version, sizeof i.server_version, wire_get_str(&r, 32));
    i.handshake_timeout_s = wire_get_u32(&r);
    i.hello_left_ms = wire_get_u32(&r);
    i.hello_answer_ms = wire_get_u32(&r);
    i.max_prelogin_payload = wire_get_u32(&r);
    if (r.err)
        return fail(c, MC_ERR_BAD_PAYLOAD, "malformed INFO_OK from the server");
    if (out)
        *out = i;
    return 0;
}

/* -- streams ----------------------------------------------------------------- */
int mc_stream_open(mc_client *c, uint8_t type, const void *payload, size_t len, mc_stream **out)
{
    *out = NULL;
    if (!c->ready)
        return fail(c, MC_ERR_INVALID_ARG, "not connected");
    if (c->proto < MC_PROTO_STREAMS)
        return fail(c, MC_ERR_UNEXPECTED, "streams need protocol version %u (session: %u)",
                    MC_PROTO_STREAMS, c->proto);
    mc_stream *s = calloc(1, sizeof *s);
    if (!s)
        return fail(c, MC_ERR_NOMEM, "out of memory");
    call_begin(c);
    s->c = c;
    s->id = new_id(c);
    s->send_credit = c->stream_window;
    s->recv_credit = c->stream_window;
    int rc = send_frame(c, type, 0, s->id, payload, len);
    if (rc < 0) {
        free(s);
        return rc;
    }
    s->next = c->streams;
    c->streams = s;
    *out = s;
    return 0;
}

uint32_t mc_stream_id(const mc_stream *s)
{
    return s->id;
}

/* Read frames until pred(s) holds or the deadline passes. */
static int stream_wait(mc_stream *s, int (*pred)(const mc_stream *s))
{
    mc_client *c = s->c;
    while (!pred(s)) {
        if (!c->ready)
            return fail(c, MC_ERR_CLOSED, "the connection is closed");
        struct frame f;
        int rc = read_frame(c, 0, &f); /* id 0 is never an answer */
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int has_credit_or_done(const mc_stream *s)
{
    return s->send_credit > 0 || s->done;
}

static int always(const mc_stream *s)
{
    (void)s;
    return 1;
}

int mc_stream_write(mc_stream *s, const void *data, size_t len, int end)
{
    if (!s->c)
        return MC_ERR_CLOSED; /* its client was closed (mc_close) */
    mc_client *c = s->c;
    const uint8_t *p = data;
    call_begin(c);
    do {
        /* An empty END needs no credit. */
        int rc = stream_wait(s, len == 0 ? always : has_credit_or_done);
        if (rc < 0)
            return rc;
        if (s->done)
            return s->rc < 0 ? fail(c, s->rc, "%s", s->final_msg)
                             : fail(c, MC_ERR_UNEXPECTED, "the server ended the stream");
        size_t n = len;
        if (n > s->send_credit)
            n = (size_t)s->send_credit;
        if (n > MC_MAX_PAYLOAD)
            n = MC_MAX_PAYLOAD;
        int last = end && n == len;
        if ((rc = send_data(c, s->id, p, n, last)) < 0)
            return rc;
        s->send_credit -= n;
        p += n;
        len -= n;
        if (len > 0 || last)
            call_begin(c); /* progress: a new deadline for the rest */
    } while (len > 0);
    return 0;
}

int mc_stream_grant(mc_stream *s, uint32_t n)
{
    if (!s->c)
        return MC_ERR_CLOSED;
    uint8_t payload[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    if (n == 0)
        return fail(s->c, MC_ERR_INVALID_ARG, "a grant must be more than 0 bytes");
    call_begin(s->c);
    int rc = send_frame(s->c, MC_MSG_CREDIT, 0, s->id, payload, sizeof payload);
    if (rc == 0)
        s->recv_credit += n;
    return rc;
}

static int has_data_or_done(const mc_stream *s)
{
    return s->q != NULL || s->done;
}

/* Hand queued DATA to fn and give credit back in batches, as the server does. */
static long stream_deliver(mc_stream *s, mc_data_fn fn, void *ud)
{
    mc_client *c = s->c;
    long total = 0;
    while (s->q) {
        struct chunk *k = s->q;
        s->q = k->next;
        if (!s->q)
            s->q_tail = NULL;
        int rc = fn ? fn(ud, k->data, k->len, k->end) : 0;
        size_t n = k->len;
        free(k);
        if (rc < 0)
            return fail(c, rc, "the stream's reader stopped");
        total += (long)n;
        s->ungranted += n;
        if (!s->done && s->ungranted >= c->stream_window / 4) {
            uint32_t g = (uint32_t)s->ungranted;
            s->ungranted = 0;
            if ((rc = mc_stream_grant(s, g)) < 0)
                return rc;
        }
    }
    return total;
}

long mc_stream_take(mc_stream *s, mc_data_fn fn, void *ud)
{
    if (!s->c)
        return MC_ERR_CLOSED; /* its client was closed (mc_close) */
    return stream_deliver(s, fn, ud);
}

int mc_stream_finish(mc_stream *s, mc_data_fn fn, void *ud, struct mc_reply *out)
{
    if (!s->c)
        return MC_ERR_CLOSED; /* its client was closed (mc_close) */
    mc_client *c = s->c;
    call_begin(c);
    for (;;) {
        int rc = stream_wait(s, has_data_or_done);
        if (rc < 0)
            return rc;
        long n = stream_deliver(s, fn, ud);
        if (n < 0)
            return (int)n;
        if (n > 0)
            call_begin(c); /* progress on this stream */
        if (s->done && !s->q)
            break;
    }
    if (s->rc < 0) {
        c->server_error = 1;
        return fail(c, s->rc, "%s", s->final_msg);
    }
    if (out)
        *out = (struct mc_reply){
            .type = s->final_type, .id = s->id, .payload = s->final, .len = s->final_len};
    return 0;
}

static int has_mid_or_done(const mc_stream *s)
{
    return s->mid_type != 0 || s->done;
}

int mc_stream_wait_frame(mc_stream *s, uint8_t type, struct mc_reply *out)
{
    if (!s->c)
        return MC_ERR_CLOSED;
    mc_client *c = s->c;
    call_begin(c);
    int rc = stream_wait(s, has_mid_or_done);
    if (rc < 0)
        return rc;
    if (s->mid_type == type) {
        s->mid_type = 0;
        if (out)
            *out =
                (struct mc_reply){.type = type, .id = s->id, .payload = s->mid, .len = s->mid_len};
        return 0;
    }
    if (s->rc < 0) {
        c->server_error = 1;
        return fail(c, s->rc, "%s", s->final_msg);
    }
    return fail(c, MC_ERR_UNEXPECTED, "the stream ended before its %s frame",
                frame_type_name(type));
}

int mc_stream_cancel(mc_stream *s)
{
    if (!s->c)
        return MC_ERR_CLOSED; /* its client was closed (mc_close) */
    mc_client *c = s->c;
    call_begin(c);
    if (!s->done) {
        int rc = send_frame(c, MC_MSG_CANCEL, 0, s->id, NULL, 0);
        if (rc < 0)
            return rc;
    }
    /* DATA that was in flight is dropped. */
    int rc = mc_stream_finish(s, NULL, NULL, NULL);
    return rc;
}

void mc_stream_free(mc_stream *s)
{
    if (!s)
        return;
    mc_client *c = s->c;
    if (c) {
        /* A stream still open on the server would hold one of its slots
         * (and its credit) until the connection ends: cancel it, without
         * waiting for the answer (it is dropped when it comes). */
        if (!s->done && c->ready) {
            call_begin(c);
            (void)send_frame(c, MC_MSG_CANCEL, 0, s->id, NULL, 0);
        }
        for (struct mc_stream **p = &c->streams; *p; p = &(*p)->next) {
            if (*p == s) {
                *p = s->next;
                break;
            }
        }
    }
    while (s->q) {
        struct chunk *k = s->q;
        s->q = k->next;
        free(k);
    }
    free(s->final);
    free(s->mid);
    free(s);
}

void mc_set_notice_cb(mc_client *c, mc_notice_fn fn, void *ud)
{
    c->notice_fn = fn;
    c->notice_ud = ud;
}

int mc_poll(mc_client *c, unsigned timeout_ms)
{
    if (!c->ready)
        return fail(c, MC_ERR_INVALID_ARG, "not connected");
    uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000u;
    /* Past the end only what has already arrived is read, and not forever. */
    for (int late = 0; late < 64;) {
        c->timed_out = 0;
        c->deadline_ns = end;
        /* Bytes already read (by wolfSSL, or ahead by io_recv) are not in the socket. */
        if (!(c->ssl && wolfSSL_pending(c->ssl) > 0) && c->ra_pos == c->ra_len) {
            int n = wait_fd(c, POLLIN);
            if (n == 0)
                return 0;
            if (n < 0)
                return transport_broken(c, fail(c, MC_ERR_IO, "poll failed"));
        }
        if (c->ssl) {
            /* The socket may hold only TLS records that are not frames (a
             * session ticket): peek, which takes them in without waiting. */
            uint8_t b;
            c->peeking = 1;
            int n = wolfSSL_peek(c->ssl, &b, 1);
            c->peeking = 0;
            if (n <= 0) {
                int err = wolfSSL_get_error(c->ssl, n);
                if (err == WOLFSSL_ERROR_WANT_READ) {
                    if (now_ns() >= end)
                        return 0;
                    continue;
                }
                if (err == WOLFSSL_ERROR_ZERO_RETURN)
                    return transport_broken(
                        c, fail(c, MC_ERR_CLOSED, "the server closed the connection"));
                return transport_broken(c, tls_fail(c, n, "receive"));
            }
        }
        /* A frame that has begun is read whole, with a call's deadline. */
        call_begin(c);
        struct frame f;
        int rc = read_frame(c, 0, &f);
        if (rc < 0)
            return rc;
        if (now_ns() >= end)
            late++;
    }
    return 0;
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
    c->proto = 0;
    c->compress = 0;
    /* Streams of this connection end with it. */
    for (struct mc_stream *s = c->streams; s; s = s->next)
        if (!s->done) {
            s->done = 1;
            s->rc = MC_ERR_CLOSED;
            snprintf(s->final_msg, sizeof s->final_msg, "the connection was closed");
        }
    if (c->ssl)
        wolfSSL_free(c->ssl);
    c->ssl = NULL;
    if (c->fd >= 0)
        sock_close(c->fd);
    c->fd = -1;
    c->ra_pos = c->ra_len = 0; /* what was read ahead belonged to that connection */
}

int mc_reconnect(mc_client *c)
{
    save_session(c);
    disconnect(c);
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
    secret_wipe(c->login_password, sizeof c->login_password);
    secret_wipe(c->login_ticket, sizeof c->login_ticket);
    free(c->cafile);
    free(c->fingerprint);
    free(c->psk_file);
    free(c->client_cert);
    free(c->client_key);
    /* Streams the application still holds are detached, not freed: it frees
     * them with mc_stream_free(), before or after this. */
    for (struct mc_stream *s = c->streams, *next; s; s = next) {
        next = s->next;
        s->c = NULL;
        s->next = NULL;
    }
    c->streams = NULL;
    free(c->rx);
    if (c->ra) {
        secret_wipe(c->ra, CLIENT_READ_AHEAD);
        free(c->ra);
    }
    free(c->zbuf);
    ZSTD_freeCCtx(c->cctx);
    ZSTD_freeDCtx(c->dctx);
    if (c->tx) {
        secret_wipe(c->tx, c->tx_cap);
        free(c->tx);
    }
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
