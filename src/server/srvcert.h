/*
 * The gateway's own certificate files (srvcert.c): read, fingerprint,
 * watch for expiry, and create on first start.
 */
#ifndef MC_SRVCERT_H
#define MC_SRVCERT_H

#include <stddef.h>
#include <time.h>

struct mc_config;
struct cert_info;

/* The password of an encrypted key or PKCS#12 file, or "" when none is configured. */
__attribute__((warn_unused_result)) int srvcert_read_password(const struct mc_config *cfg, char *pw,
                                                              size_t cap);
/* Log the certificate's fingerprints and expiry and return its details; fails if unreadable. */
__attribute__((warn_unused_result)) int srvcert_log(const struct mc_config *cfg,
                                                    struct cert_info *info);
/* Warn when the certificate is within cert_warn_days of expiry, error once expired. */
int srvcert_check_expiry(const struct mc_config *cfg);
void srvcert_check_expiry_at(const char *path, time_t not_after, unsigned warn_days);
/*
 * Warn when the CRL's nextUpdate is within cert_warn_days, error once it has
 * passed (wolfSSL then refuses every client certificate of that CA).
 */
void srvcert_check_crl(const struct mc_config *cfg);
/* Generate a self-signed certificate and key on first start when both are missing. */
__attribute__((warn_unused_result)) int srvcert_ensure(const struct mc_config *cfg);

#endif
