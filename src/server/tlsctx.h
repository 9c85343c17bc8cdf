/*
 * The server's TLS policy as a wolfSSL context (tlsctx.c): protocol
 * versions, cipher suites, key-exchange groups, signature algorithms,
 * minimum key sizes, the gateway's certificate and key, and the checks of
 * client certificates. miscommd builds its context here (tls.c adds the I/O
 * callbacks and session tickets); miscommd --check-config and misctl
 * check-config build the same one and throw it away, so that a file they
 * call valid is one the daemon accepts.
 */
#ifndef MC_TLSCTX_H
#define MC_TLSCTX_H

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <stddef.h>

struct mc_config;
struct cert_info;

/* The suites of a cipher policy, TLS 1.3 ones left out when max_version is 1.2. */
const char *tlsctx_policy_ciphers(int policy, int max_version);
/*
 * Take the finite-field DHE suites away from one connection before its
 * handshake (RFC 7919 4, tlshello.h). MC_ERR_TLS when no suite is left.
 */
__attribute__((warn_unused_result)) int tlsctx_drop_dhe(WOLFSSL *ssl, const struct mc_config *cfg);
/* 1 when cfg's suites (policy or explicit list) include finite-field DHE ones. */
int tlsctx_offers_dhe(const struct mc_config *cfg);
/* A context for cfg's [tls] section: everything but I/O callbacks and tickets. */
__attribute__((warn_unused_result)) int tlsctx_create(const struct mc_config *cfg,
                                                      WOLFSSL_CTX **out);
/* MC_ERR_CONFIG, logged, when cfg's policy cannot be served with this certificate. */
__attribute__((warn_unused_result)) int tlsctx_check_identity(const struct mc_config *cfg,
                                                              const struct cert_info *info);
/*
 * Load every TLS file cfg names as the daemon would (certificate, key,
 * passwords, client_ca, crl), report each problem on the log, and free the
 * result: 0 when the daemon would accept them.
 */
__attribute__((warn_unused_result)) int tlsctx_check(const struct mc_config *cfg);
/* The reason the client-certificate checks gave for refusing ssl's peer, or NULL. */
const char *tlsctx_refusal(WOLFSSL *ssl);
/* Validate the configuration file at path and its TLS files, printing every problem. */
__attribute__((warn_unused_result)) int tlsctx_check_file(const char *path);

#endif
