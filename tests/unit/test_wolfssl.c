/*
 * The wolfSSL we link: scripts/build-wolfssl.sh builds it without the NULL
 * cipher, so no configuration can get a connection that authenticates but
 * does not encrypt. Debian's packaged library (the fallback on CPUs without
 * AES-NI) still has it; there only config.c's allowlist stands in the way,
 * and this test is skipped.
 */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "check.h"

/* Integrity-only suites, wolfSSL and IANA names. */
static const char *const null_suites[] = {
    "TLS13-SHA256-SHA256",   "TLS13-SHA384-SHA384",
    "TLS_SHA256_SHA256",     "TLS_SHA384_SHA384",
    "ECDHE-PSK-NULL-SHA256", "PSK-NULL-SHA256",
    "PSK-NULL-SHA384",       "PSK-NULL-SHA",
    "NULL-SHA256",           "NULL-SHA",
    "DHE-PSK-NULL-SHA256",   "ECDHE-ECDSA-NULL-SHA",
};

int main(void)
{
#ifndef MC_WOLFSSL_LOCAL
    fprintf(stderr, "test_wolfssl: linked with Debian's packaged wolfSSL, which has the NULL "
                    "cipher; skipped\n");
    return 77;
#else
#ifdef HAVE_NULL_CIPHER
    CHECK(!"options.h defines HAVE_NULL_CIPHER: rerun scripts/build-wolfssl.sh");
#endif
    CHECK_EQ_INT(wolfSSL_Init(), WOLFSSL_SUCCESS);
    WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
    CHECK(ctx != NULL);
    for (size_t i = 0; ctx && i < sizeof null_suites / sizeof null_suites[0]; i++) {
        int rc = wolfSSL_CTX_set_cipher_list(ctx, null_suites[i]);
        if (rc == WOLFSSL_SUCCESS)
            fprintf(stderr, "test_wolfssl: this wolfSSL accepts %s\n", null_suites[i]);
        CHECK(rc != WOLFSSL_SUCCESS);
    }
    /* The suites we do use are all there. */
    CHECK_EQ_INT(wolfSSL_CTX_set_cipher_list(ctx, "TLS13-AES256-GCM-SHA384"), WOLFSSL_SUCCESS);
    CHECK_EQ_INT(wolfSSL_CTX_set_cipher_list(ctx, "ECDHE-RSA-AES128-SHA256"), WOLFSSL_SUCCESS);
    wolfSSL_CTX_free(ctx);
    wolfSSL_Cleanup();
    return check_report("test_wolfssl");
#endif
}
