/*
 * The TLS transport. wolfSSL never sees the socket: its I/O callbacks read
 * ciphertext from c->net_in (filled by the libuv read callback) and write
 * ciphertext through conn_write_raw(). The handshake is therefore
 * non-blocking: wolfSSL_accept() returns WANT_READ until more bytes arrive.
 *
 * Handshake steps run on the handshake threads (srv->hs_pool, one per core
 * by default): the key exchange and the signature of a full handshake are
 * most of what a connection costs, so with them off the loop thread every
 * core takes handshakes while the loop goes on answering the others.
 *
 *   loop: bytes arrive -> stop reading, submit the step
 *   handshake thread:     wolfSSL_accept() reads net_in, writes into the
 *                         step's own buffer (never the socket)
 *   loop: step done    -> write that buffer, log, next state, read again
 *
 * While a step runs, the connection's net_in and WOLFSSL are the step's
 * (c->transport_busy); everything else (logs, state, the socket) stays on
 * the loop thread. What the wolfSSL callbacks read on a handshake thread
 * is locked: the session-ticket keys (ticket.c) and a listener's
 * pre-shared key (tls_psk_store).
 *
 * Also here: the server's TLS contexts (cipher policy, identity, client
 * certificates, tickets, the PSK context). The certificate files themselves
 * are srvcert.c's business.
 */
#include "transport.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/dh.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cert.h"
#include "job.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "psk.h"
#include "secret.h"
#include "srvcert.h"
#include "ticket.h"
#include "tlshello.h"
#include "tlsctx.h"
#include "miscomm/error.h"

/* The largest record a peer may send (RFC 8446 5.2: 2^14 + 256), with its header. */
#define TLS_RECORD_MAX (5u + 16384u + 256u)

/*
 * The length of the record at p (header included) when all of it is
 * there; 0 when it is not. What is no TLS record (an unknown content
 * type, a version not 3.x, a length beyond TLS's) counts as all there:
 * wolfSSL refuses it at once, as it did before records were waited for.
 */
static size_t tls_whole_record(const uint8_t *p, size_t n)
{
    if (n < 5)
        return 0;
    if (p[0] < 20 || p[0] > 23 || p[1] != 3)
        return n;
    size_t len = 5u + ((size_t)p[3] << 8 | p[4]);
    return len > TLS_RECORD_MAX ? n : len <= n ? len : 0;
}

/*
 * During the handshake wolfSSL is given whole records only, so that every
 * handshake step starts at a record boundary, where tls_step_heavy() can
 * read what comes next.
 */
static int tls_io_recv(WOLFSSL *ssl, char *out, int sz, void *ctx)
{
    (void)ssl;
    struct conn *c = ctx;
    size_t avail = buf_len(&c->net_in);
    if (!c->transport_up) {
        if (c->hs_rec_left == 0) {
            size_t rec = tls_whole_record(buf_head(&c->net_in), avail);
            if (rec == 0)
                return WOLFSSL_CBIO_ERR_WANT_READ;
            c->hs_rec_left = (uint16_t)(rec > UINT16_MAX ? UINT16_MAX : rec);
        }
        if (avail > c->hs_rec_left)
            avail = c->hs_rec_left;
    }
    if (avail == 0)
        return WOLFSSL_CBIO_ERR_WANT_READ;
    size_t n = avail < (size_t)sz ? avail : (size_t)sz;
    memcpy(out, buf_head(&c->net_in), n);
    buf_consume(&c->net_in, n);
    if (!c->transport_up)
        c->hs_rec_left = (uint16_t)(c->hs_rec_left - n);
    return (int)n;
}

static int tls_io_send(WOLFSSL *ssl, char *data, int sz, void *ctx)
{
    (void)ssl;
    struct conn *c = ctx;
    if (conn_write_raw(c, (const uint8_t *)data, (size_t)sz) < 0)
        return WOLFSSL_CBIO_ERR_CONN_CLOSE;
    return sz;
}

int tls_ctx_create(const struct mc_config *cfg, struct ticket_keys *tickets, WOLFSSL_CTX **out)
{
    WOLFSSL_CTX *ctx;
    int rc = tlsctx_create(cfg, &ctx);
    if (rc < 0)
        return rc;
    if (cfg->session_tickets) {
        /* A ticket lives as long as a key seals new ones (wolfSSL's default is
         * 5 minutes): after a storm of logins that took longer, phones still
         * resume. The previous key opens it for one rotation more. */
        if (ticket_attach(ctx, tickets) < 0 ||
            wolfSSL_CTX_set_TicketHint(ctx, (int)cfg->ticket_rotation) != WOLFSSL_SUCCESS) {
            log_error("event=tls_config error=\"cannot enable session tickets\"");
            wolfSSL_CTX_free(ctx);
            return MC_ERR_CONFIG;
        }
    } else {
        /* "No tickets" means no resumption at all: no session-ID cache either. */
        wolfSSL_CTX_NoTicketTLSv12(ctx);
        wolfSSL_CTX_no_ticket_TLSv13(ctx);
        wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
    }
    wolfSSL_CTX_SetIORecv(ctx, tls_io_recv);
    wolfSSL_CTX_SetIOSend(ctx, tls_io_send);
    *out = ctx;
    return 0;
}

/* Listeners' pre-shared keys: replaced by a reload, read by handshake threads. */
static uv_mutex_t psk_lock;
static uv_once_t psk_lock_once = UV_ONCE_INIT;

static void psk_lock_init(void)
{
    if (uv_mutex_init(&psk_lock) != 0)
        abort(); /* at start, before any connection: nothing to save */
}

void tls_psk_store(uint8_t dst[PSK_KEY_SIZE], const uint8_t src[PSK_KEY_SIZE])
{
    uv_once(&psk_lock_once, psk_lock_init);
    uv_mutex_lock(&psk_lock);
    memcpy(dst, src, PSK_KEY_SIZE);
    uv_mutex_unlock(&psk_lock);
}

/* encryption = aes256: TLS 1.3 with an external PSK, no certificate. */
static unsigned int tls_psk_server_cb(WOLFSSL *ssl, const char *identity, unsigned char *key,
                                      unsigned int key_max, const char **suite)
{
    struct conn *c = wolfSSL_GetIOReadCtx(ssl);
    if (!c || key_max < PSK_KEY_SIZE || strcmp(identity, PSK_IDENTITY) != 0)
        return 0;
    tls_psk_store(key, c->lst->psk); /* the copy a reload may be writing */
    *suite = "TLS13-AES256-GCM-SHA384";
    return PSK_KEY_SIZE;
}

/*
 * Whether a PSK handshake ran without (EC)DHE (psk_ke): its keys then depend
 * on the pre-shared key alone, and whoever learns that key later can
 * decrypt every recorded session. wolfSSL 5.5.4 cannot be told to require
 * psk_dhe_ke: its only switch, wolfSSL_CTX_no_dhe_psk(), forbids it, and
 * CheckPreSharedKeys() (tls13.c) falls back to psk_ke whenever the client
 * offers psk_ke and no psk_dhe_ke or no key_share. So the server looks
 * after the handshake and closes before reading any application data.
 * With psk_ke no key share is ever generated or processed, so
 * wolfSSL_get_curve_name() has no group to name and answers NULL; with
 * psk_dhe_ke over an elliptic curve it names the curve. (Over an FFDHE
 * group it would answer NULL too: the server side of a TLS 1.3 DH key
 * share records the group only in the session. So the PSK context offers
 * elliptic curves only; see tls_psk_ctx_create().)
 */
static int tls_psk_without_dhe(WOLFSSL *ssl)
{
    return wolfSSL_get_curve_name(ssl) == NULL;
}

int tls_psk_ctx_create(WOLFSSL_CTX **out)
{
    WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfTLSv1_3_server_method());
    if (!ctx)
        return MC_ERR_NOMEM;
    if (wolfSSL_CTX_set_cipher_list(ctx, "TLS13-AES256-GCM-SHA384") != WOLFSSL_SUCCESS) {
        log_error("event=tls_config error=\"this wolfSSL build lacks TLS13-AES256-GCM-SHA384\"");
        wolfSSL_CTX_free(ctx);
        return MC_ERR_CONFIG;
    }
    /* Elliptic-curve key shares only, so that tls_psk_without_dhe() can tell;
     * a client that offers only FFDHE is asked for one of these (HelloRetryRequest). */
    int groups[] = {WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1, WOLFSSL_ECC_SECP384R1};
    if (wolfSSL_CTX_set_groups(ctx, groups, (int)(sizeof groups / sizeof groups[0])) !=
        WOLFSSL_SUCCESS) {
        log_error("event=tls_config error=\"cannot limit the PSK key exchange to X25519, "
                  "P-256 and P-384\"");
        wolfSSL_CTX_free(ctx);
        return MC_ERR_CONFIG;
    }
    wolfSSL_CTX_set_psk_server_tls13_callback(ctx, tls_psk_server_cb);
    wolfSSL_CTX_no_ticket_TLSv13(ctx);
    wolfSSL_CTX_SetIORecv(ctx, tls_io_recv);
    wolfSSL_CTX_SetIOSend(ctx, tls_io_send);
    *out = ctx;
    return 0;
}

void tls_ctx_free(WOLFSSL_CTX *ctx)
{
    wolfSSL_CTX_free(ctx);
}

/* --- the per-connection transport --- */

/* What a handshake failure means to an operator, when we know. */
static const char *tls_error_reason(int err)
{
    switch (err) {
    case ASN_AFTER_DATE_E:
        return "client certificate expired";
    case ASN_BEFORE_DATE_E:
        return "client certificate not yet valid";
    case CRL_CERT_REVOKED:
        return "client certificate revoked";
    case ASN_NO_SIGNER_E:
        return "client certificate not signed by client_ca";
    case NO_PEER_CERT:
        return "no client certificate";
    case ASN_SIG_CONFIRM_E:
        return "client certificate signature invalid";
    case EXTKEYUSE_AUTH_E:
        return "client certificate not for client authentication (its extended key usage "
               "lacks clientAuth)";
    case RSA_KEY_SIZE_E:
        return "RSA key under 2048 bits";
    case ECC_KEY_SIZE_E:
        return "elliptic-curve key under 256 bits";
    case DH_KEY_SIZE_E:
        return "DH group under 2048 bits";
    case CRL_MISSING:
        return "no valid CRL for the client certificate's CA (the crl file expired?)";
    case CRL_CERT_DATE_ERR:
        return "the CRL is out of date (past its nextUpdate)";
    case PSK_KEY_ERROR:
    case BAD_BINDER:
        return "unknown or wrong pre-shared key";
    case VERSION_ERROR:
        return "TLS version refused";
    case MATCH_SUITE_ERROR:
        return "no cipher suite in common";
    default:
        return "";
    }
}

static void tls_log_error(struct conn *c, int err)
{
    char msg[WOLFSSL_MAX_ERROR_SZ];
    wolfSSL_ERR_error_string_n((unsigned long)err, msg, sizeof msg);
    const char *reason =
        c->ssl && tlsctx_refusal(c->ssl) ? tlsctx_refusal(c->ssl) : tls_error_reason(err);
    conn_log(LOG_LVL_WARN, c, "event=tls_error code=%d error=\"%s\"%s%s%s", err, msg,
             reason[0] ? " reason=\"" : "", reason, reason[0] ? "\"" : "");
}

static int tls_start(struct conn *c)
{
    c->ssl =
        wolfSSL_new(c->lst->cfg->encryption == CFG_ENC_AES256 ? c->srv->psk_ctx : c->srv->tls_ctx);
    if (!c->ssl)
        return MC_ERR_NOMEM;
    wolfSSL_SetIOReadCtx(c->ssl, c);
    wolfSSL_SetIOWriteCtx(c->ssl, c);
    return 0;
}

/*
 * RFC 7919 4: a client that names FFDHE groups, none of them ours, gets no
 * DHE suite (tlshello.h says why wolfSSL needs telling). 0 when the first
 * record is not all here yet.
 */
static int tls_check_hello(struct conn *c)
{
    struct tlshello h;
    if (tlshello_parse(buf_head(&c->net_in), buf_len(&c->net_in), &h) == 0)
        return 0;
    c->hello_checked = 1;
    /* No group of ours at all: ECDHE impossible. Finite-field DHE remains when
     * the policy has it and the client names one of our FFDHE groups (TLS 1.2
     * or 1.3), or offers a DHE suite and names no FFDHE group (a TLS 1.2
     * client from before RFC 7919). */
    int dhe = tlsctx_offers_dhe(&c->srv->cfg) && (h.our_ffdhe || (h.dhe_suite && !h.ffdhe));
    if (h.groups && !h.our_ec && !dhe) {
        static const uint8_t alert[] = {21, 3, 3, 0, 2, 2, 40};
        (void)conn_write_raw(c, alert, sizeof alert);
        conn_log(LOG_LVL_WARN, c,
                 "event=tls_error code=%d error=\"no usable group\" reason=\"the client offers "
                 "no key exchange group the gateway has (X25519, P-256, P-384%s)\"",
                 MATCH_SUITE_ERROR,
                 tlsctx_offers_dhe(&c->srv->cfg) ? ", ffdhe2048, ffdhe3072" : "");
        return -1;
    }
    if (!h.ffdhe || h.our_ffdhe)
        return 1;
    if (tlsctx_drop_dhe(c->ssl, &c->srv->cfg) < 0) {
        /* Nothing left to offer: refuse as wolfSSL would (handshake_failure). */
        static const uint8_t alert[] = {21, 3, 3, 0, 2, 2, 40};
        (void)conn_write_raw(c, alert, sizeof alert);
        conn_log(LOG_LVL_WARN, c,
                 "event=tls_error code=%d error=\"no usable suite\" reason=\"the client names "
                 "only FFDHE groups the gateway does not have (RFC 7919)\"",
                 MATCH_SUITE_ERROR);
        return -1;
    }
    conn_log(LOG_LVL_DEBUG, c,
             "event=tls_dhe_off reason=\"the client names only FFDHE groups the gateway does "
             "not have\"");
    return 1;
}

/*
 * Once the handshake is done (its tickets sent), give back what only the
 * handshake needed. wolfSSL_accept() already frees the handshake hashes,
 * the peer's keys and its record buffers (FreeHandshakeResources), but a
 * build with the OpenVPN compatibility layer (--enable-distro has it) keeps
 * the key-exchange arrays of every connection for keying-material export,
 * which the gateway never does: 5.4 KiB per connection (docs/admin.md,
 * "Memory per connection").
 *
 * It also keeps the ClientHello's extensions (SNI and ALPN may be asked
 * for later), among them the client's supported groups: one 32-byte heap
 * block per group, 12 from a wolfSSL client, 432 bytes with the list.
 * TLS 1.3 has no renegotiation, so the list is dead once the key exchange
 * is done; setting an empty list of groups, the one call that removes
 * that extension, drops it. (TLS 1.2 keeps it: wolfSSL_set_groups() is
 * for TLS 1.3 only, and nothing else removes it.)
 */
static void tls_release_handshake(struct conn *c)
{
    wolfSSL_FreeArrays(c->ssl);
    if (wolfSSL_version(c->ssl) == TLS1_3_VERSION) {
        int none[1] = {0};
        (void)wolfSSL_set_groups(c->ssl, none, 0);
    }
}

/*
 * What a wolfSSL_accept() step ended with (err: wolfSSL_get_error's, 0 on
 * success): 0 to go on (done, or waiting for bytes), MC_ERR_TLS to close.
 */
static int tls_accept_result(struct conn *c, int ret, int err)
{
    if (ret != WOLFSSL_SUCCESS) {
        if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE)
            return 0;
        if (err == NO_PEER_CERT && wolfSSL_version(c->ssl) == TLS1_2_VERSION) {
            /* wolfSSL closes without an alert; RFC 5246 7.4.6 wants
             * handshake_failure. Our side has not sent ChangeCipherSpec
             * yet, so the alert goes in the clear. */
            static const uint8_t alert[] = {21, 3, 3, 0, 2, 2, 40};
            (void)conn_write_raw(c, alert, sizeof alert);
        }
        tls_log_error(c, err);
        return MC_ERR_TLS;
    }
    if (c->lst->cfg->encryption == CFG_ENC_AES256 && tls_psk_without_dhe(c->ssl)) {
        /* The code wolfSSL itself gives a psk_ke it cannot accept, so that
         * every tls_error line has the same fields. */
        conn_log(LOG_LVL_WARN, c,
                 "event=tls_error code=%d error=\"psk_ke refused\" reason=\"the client "
                 "offered the pre-shared key without (EC)DHE (psk_dhe_ke is required)\"",
                 PSK_KEY_ERROR);
        return MC_ERR_TLS;
    }
    conn_log(LOG_LVL_INFO, c, "event=tls version=%s cipher=%s resumed=%s%s",
             wolfSSL_get_version(c->ssl), wolfSSL_get_cipher_name(c->ssl),
             wolfSSL_session_reused(c->ssl) ? "yes" : "no",
             c->lst->cfg->encryption == CFG_ENC_AES256 ? " auth=psk" : "");
    tls_release_handshake(c);
    conn_transport_ready(c);
    return 0;
}

/* Decrypt as much as fits straight into the plaintext queue: no copies elsewhere. */
static int tls_decrypt(struct conn *c)
{
    while (c->state != CONN_ST_CLOSING) {
        size_t room;
        uint8_t *dst = buf_tail(&c->in, 16384, &room);
        if (!dst)
            break;
        int n = wolfSSL_read(c->ssl, dst, (int)(room < 16384 ? room : 16384));
        if (n > 0) {
            buf_commit(&c->in, (size_t)n);
            continue;
        }
        int err = wolfSSL_get_error(c->ssl, n);
        if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE)
            break;
        if (err == WOLFSSL_ERROR_ZERO_RETURN)
            return MC_ERR_CLOSED;
        tls_log_error(c, err);
        return MC_ERR_TLS;
    }
    return 0;
}

/* A handshake step on a handshake thread (see the top of this file). */
struct tls_step {
    struct job job; /* first: the job helper hands it back */
    struct conn *c;
    struct buf out; /* what wolfSSL wrote during the step */
    int ret, err;   /* wolfSSL_accept()'s, and wolfSSL_get_error()'s */
    uint64_t submitted_ns;
};

/* A server flight with its certificate chain fits many times over. */
#define TLS_STEP_OUT_LIMIT (256u * 1024u)

static int tls_io_send_step(WOLFSSL *ssl, char *data, int sz, void *ctx)
{
    (void)ssl;
    struct tls_step *s = ctx;
    if (buf_append(&s->out, data, (size_t)sz) < 0)
        return WOLFSSL_CBIO_ERR_GENERAL;
    return sz;
}

/* The connection is the loop's again: wolfSSL writes to the socket, reading may resume. */
static void tls_step_end(struct conn *c)
{
    wolfSSL_SSLSetIOSend(c->ssl, tls_io_send);
    wolfSSL_SetIOWriteCtx(c->ssl, c);
    c->transport_busy = 0;
}

static void tls_step_work(struct job *j)
{
    struct tls_step *s = (struct tls_step *)j;
    s->ret = wolfSSL_accept(s->c->ssl);
    s->err = s->ret == WOLFSSL_SUCCESS ? 0 : wolfSSL_get_error(s->c->ssl, s->ret);
}

static void tls_step_done(struct job *j, int status)
{
    struct tls_step *s = (struct tls_step *)j;
    struct conn *c = s->c;
    tls_step_end(c);
    /* The handshake timer times the client: the step's wait in the queue
     * (long in a reconnect storm) and its run are the gateway's. */
    if (status == 0 && c->state == CONN_ST_HANDSHAKE)
        conn_timer_extend(c, (uv_hrtime() - s->submitted_ns) / 1000000u,
                          c->started_ms + 2u * (uint64_t)c->srv->cfg.handshake_timeout * 1000u);
    if (status != 0) {
        /* Closing (MC_ERR_CLOSED), or the pool stopped: nothing more to send. */
        buf_free(&s->out);
        free(s);
        if (c->state != CONN_ST_CLOSING)
            conn_close(c, "shutting down");
        return;
    }
    int rc = 0;
    if (buf_len(&s->out) > 0 && conn_write_raw(c, buf_head(&s->out), buf_len(&s->out)) < 0)
        rc = MC_ERR_IO;
    buf_free(&s->out);
    if (rc == 0)
        rc = tls_accept_result(c, s->ret, s->err);
    free(s);
    if (rc == 0 && c->transport_up)
        rc = tls_decrypt(c);
    conn_transport_resume(c, rc);
}

/*
 * Whether the client's next handshake step is worth a trip to a handshake
 * thread. net_in starts at a record boundary (tls_io_recv). A handshake
 * record in the clear carries a ClientHello (the key exchange and the
 * signature; after a HelloRetryRequest too), a TLS 1.2 ClientKeyExchange
 * (the shared secret) or client Certificate: a trip. So does anything
 * when this connection verifies client certificates (TLS 1.3 sends them
 * encrypted). What stays on the loop costs a few microseconds: TLS 1.3's
 * encrypted Finished, a TLS 1.2 Finished behind its ChangeCipherSpec (in
 * the same step or the next, when the ChangeCipherSpec came alone), an
 * alert, and a TLS 1.2 resumption whose ticket opens under one of our
 * current keys (checked here: a few microseconds; a ticket that only names
 * our key would make wolfSSL fall back to a full handshake on the loop).
 */
static int tls_step_heavy(struct conn *c)
{
    if (wolfSSL_get_verify_mode(c->ssl) & WOLFSSL_VERIFY_PEER)
        return 1;
    if (c->hs_rec_left)
        return 1; /* wolfSSL holds part of a record: no telling */
    const uint8_t *p = buf_head(&c->net_in);
    size_t n = buf_len(&c->net_in);
    /* Only once TLS 1.2 is agreed is a handshake record behind a
     * ChangeCipherSpec the encrypted Finished. Before, wolfSSL (in TLS 1.3
     * mode) ignores a ChangeCipherSpec even in the middle of a ClientHello
     * cut into records, whose rest must not pass for a Finished. */
    bool tls12 = wolfSSL_GetVersion(c->ssl) == WOLFSSL_TLSV1_2;
    bool after_ccs = c->hs_after_ccs && tls12;
    c->hs_after_ccs = false;
    if (n >= 5 && p[0] == 20) { /* ChangeCipherSpec: the next record tells */
        size_t skip = tls_whole_record(p, n);
        if (skip == 0)
            return 1;
        if (skip >= n) { /* alone (the client wrote it apart, or TCP cut there) */
            c->hs_after_ccs = true;
            return 0;
        }
        p += skip;
        n -= skip;
        after_ccs = tls12;
    }
    if (n < 6 || p[0] != 22)
        return n < 6; /* encrypted (TLS 1.3) or an alert: light; too short: no telling */
    if (after_ccs)
        return 0; /* TLS 1.2's encrypted Finished: nothing else may come here */
    /* A ClientHello, whole (TLS 1.3 sends a second one behind a
     * ChangeCipherSpec), or any other message or part of one: a trip, but
     * for a TLS 1.2 resumption by a ticket that opens under our keys. */
    struct tlshello h;
    if (p[5] == 1 && c->srv->cfg.session_tickets && tlshello_parse(p, n, &h) > 0 && h.resume12 &&
        ticket_opens(&c->srv->tickets, h.ticket, h.ticket_len))
        return 0;
    return 1;
}

/* Hand the next handshake step to the handshake threads; -1: run it here. */
static int tls_step_submit(struct conn *c)
{
    if (!c->srv->hs_pool || !tls_step_heavy(c))
        return -1;
    struct tls_step *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->c = c;
    s->submitted_ns = uv_hrtime();
    buf_init(&s->out, TLS_STEP_OUT_LIMIT);
    s->job.work = tls_step_work;
    s->job.done = tls_step_done;
    wolfSSL_SSLSetIOSend(c->ssl, tls_io_send_step);
    wolfSSL_SetIOWriteCtx(c->ssl, s);
    c->transport_busy = 1;
    if (job_submit(c->srv->loop, c->srv->hs_pool, &s->job, &c->jobs) < 0) {
        tls_step_end(c);
        free(s);
        return -1;
    }
    conn_log(LOG_LVL_DEBUG, c, "event=tls_step on=thread bytes=%zu", buf_len(&c->net_in));
    return 0;
}

static int tls_feed(struct conn *c, const uint8_t *data, size_t len)
{
    if (c->transport_busy) /* no reading while a step runs: nothing new can come */
        return len ? MC_ERR_INTERNAL : 0;
    if (len && buf_append(&c->net_in, data, len) < 0)
        return MC_ERR_BUSY;
    if (c->state == CONN_ST_HANDSHAKE && !c->hello_checked &&
        c->lst->cfg->encryption == CFG_ENC_TLS) {
        int rc = tls_check_hello(c);
        if (rc <= 0)
            return rc < 0 ? MC_ERR_TLS : 0;
    }
    if (c->state == CONN_ST_HANDSHAKE) {
        /* Nothing to do until the next record is all here. */
        if (c->hs_rec_left == 0 && tls_whole_record(buf_head(&c->net_in), buf_len(&c->net_in)) == 0)
            return 0;
        if (tls_step_submit(c) == 0)
            return 0;
        conn_log(LOG_LVL_DEBUG, c, "event=tls_step on=loop bytes=%zu", buf_len(&c->net_in));
        int ret = wolfSSL_accept(c->ssl);
        int rc =
            tls_accept_result(c, ret, ret == WOLFSSL_SUCCESS ? 0 : wolfSSL_get_error(c->ssl, ret));
        if (rc < 0 || c->state == CONN_ST_HANDSHAKE)
            return rc;
    }
    return tls_decrypt(c);
}

static int tls_send(struct conn *c, const uint8_t *data, size_t len)
{
    int n = wolfSSL_write(c->ssl, data, (int)len);
    if (n != (int)len) {
        tls_log_error(c, wolfSSL_get_error(c->ssl, n));
        return MC_ERR_TLS;
    }
    return 0;
}

static int tls_pending(const struct conn *c)
{
    if (c->transport_busy)
        return 0; /* net_in is the step's */
    return buf_len(&c->net_in) > 0 || (c->ssl && wolfSSL_pending(c->ssl) > 0);
}

static void tls_shutdown(struct conn *c)
{
    if (c->ssl && c->transport_up)
        wolfSSL_shutdown(c->ssl);
}

static void tls_release(struct conn *c)
{
    if (c->ssl)
        wolfSSL_free(c->ssl);
    c->ssl = NULL;
}

const struct transport_ops transport_tls = {
    .name = "tls",
    .start = tls_start,
    .feed = tls_feed,
    .send = tls_send,
    .pending = tls_pending,
    .shutdown = tls_shutdown,
    .release = tls_release,
};
