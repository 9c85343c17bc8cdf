/* This host's names and addresses, for the SANs of a generated certificate. */
#include "hostnames.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "miscomm/error.h"

static int names_add(char (*list)[256], size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (strcasecmp(list[i], s) == 0)
            return 0;
    if (*n == CERT_MAX_SAN)
        return MC_ERR_INVALID_ARG;
    snprintf(list[(*n)++], 256, "%s", s);
    return 0;
}

int cert_host_names(struct cert_names *out)
{
    char host[256] = "";
    memset(out, 0, sizeof *out);
    if (gethostname(host, sizeof host - 1) == 0 && host[0])
        (void)names_add(out->dns, &out->n_dns, host);
    (void)names_add(out->dns, &out->n_dns, "localhost");
    char ips[CERT_MAX_SAN][256];
    size_t nips = 0;
    (void)names_add(ips, &nips, "127.0.0.1");
    (void)names_add(ips, &nips, "::1");
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) == 0) {
        for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
            char text[INET6_ADDRSTRLEN];
            if (!i->ifa_addr)
                continue;
            if (i->ifa_addr->sa_family == AF_INET) {
                const struct in_addr *a =
                    &((const struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr;
                const uint8_t *b = (const uint8_t *)&a->s_addr;
                if (b[0] == 169 && b[1] == 254)
                    continue; /* link-local */
                inet_ntop(AF_INET, a, text, sizeof text);
            } else if (i->ifa_addr->sa_family == AF_INET6) {
                const struct in6_addr *a =
                    &((const struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr;
                if (IN6_IS_ADDR_LINKLOCAL(a))
                    continue;
                inet_ntop(AF_INET6, a, text, sizeof text);
            } else {
                continue;
            }
            (void)names_add(ips, &nips, text);
        }
        freeifaddrs(ifa);
    }
    for (size_t i = 0; i < nips; i++)
        snprintf(out->ip[out->n_ip++], sizeof out->ip[0], "%s", ips[i]);
    return 0;
}

int cert_default_sans(const char *cn, struct cert_sans *out)
{
    struct cert_names *host = malloc(sizeof *host);
    if (!host)
        return MC_ERR_NOMEM;
    memset(out, 0, sizeof *out);
    struct cert_names *names = &out->names;
    int rc = cert_host_names(host);
    if (rc < 0)
        goto out;
    /* The common name first: clients match names against the SANs only. */
    if (cn && cn[0]) {
        uint8_t addr[16];
        char text[INET6_ADDRSTRLEN];
        if (inet_pton(AF_INET, cn, addr) == 1)
            inet_ntop(AF_INET, addr, text, sizeof text);
        else if (inet_pton(AF_INET6, cn, addr) == 1)
            inet_ntop(AF_INET6, addr, text, sizeof text);
        else
            text[0] = 0;
        if (text[0])
            snprintf(names->ip[names->n_ip++], sizeof names->ip[0], "%s", text);
        else if (cert_is_host_name(cn))
            (void)names_add(names->dns, &names->n_dns, cn);
    }
    for (size_t i = 0; i < host->n_dns; i++)
        (void)names_add(names->dns, &names->n_dns, host->dns[i]);
    for (size_t i = 0; i < host->n_ip && names->n_ip < CERT_MAX_SAN; i++) {
        int seen = 0;
        for (size_t j = 0; j < names->n_ip; j++)
            seen |= strcasecmp(names->ip[j], host->ip[i]) == 0;
        if (!seen)
            snprintf(names->ip[names->n_ip++], sizeof names->ip[0], "%s", host->ip[i]);
    }
    for (size_t i = 0; i < names->n_dns; i++)
        out->dns[i] = names->dns[i];
    for (size_t i = 0; i < names->n_ip; i++)
        out->ips[i] = names->ip[i];
out:
    free(host);
    return rc;
}
