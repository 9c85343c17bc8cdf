/*
 * This host's names and addresses, for the SANs of a generated certificate
 * (misctl cert create without --san, miscommd's first-start certificate).
 * The functions keep the cert_ prefix they had in cert.c: miscommd calls
 * them by these names.
 */
#ifndef MC_HOSTNAMES_H
#define MC_HOSTNAMES_H

#include <stddef.h>

#include "cert.h" /* CERT_MAX_SAN, cert_is_host_name() */

/* Addresses and names a generated certificate should carry by default. */
struct cert_names {
    size_t n_dns, n_ip;
    char dns[CERT_MAX_SAN][256];
    char ip[CERT_MAX_SAN][48];
};

/*
 * The names and addresses that reach this host, for the SANs of a generated
 * certificate: DNS names the host name (gethostname(), left out when it is
 * empty) and "localhost"; IP addresses 127.0.0.1, ::1 and then every address
 * of every interface (getifaddrs()) except the link-local ones (169.254.0.0/16
 * and fe80::/10), in textual form (inet_ntop). No duplicates (compared
 * without case), at most CERT_MAX_SAN of each; addresses beyond that are left
 * out. When the interfaces cannot be listed the result still holds the fixed
 * names and loopback addresses. Returns 0.
 */
__attribute__((warn_unused_result)) int cert_host_names(struct cert_names *out);

/*
 * The SAN lists cert_generate() should get when the user gave none, ready for
 * struct cert_request's dns and ips: the common name first (as a DNS name
 * when cert_is_host_name() accepts it, as an IP address when it is one, else
 * left out), then everything cert_host_names() lists. dns and ips are
 * NULL-terminated and point into names, so the structure must not be copied;
 * it is about 20 KB: allocate it rather than putting it on a thread's stack.
 * 0, or MC_ERR_NOMEM.
 *
 *     struct cert_sans *sans = malloc(sizeof *sans);
 *     if (!sans || cert_default_sans(req.cn, sans) < 0) ... ;
 *     req.dns = sans->dns;
 *     req.ips = sans->ips;
 *     rc = cert_generate(&req, &cert_pem, &key_pem);
 *     free(sans);
 */
struct cert_sans {
    struct cert_names names;
    const char *dns[CERT_MAX_SAN + 1];
    const char *ips[CERT_MAX_SAN + 1];
};
__attribute__((warn_unused_result)) int cert_default_sans(const char *cn, struct cert_sans *out);

#endif
