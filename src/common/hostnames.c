/* This host's names and addresses, for the SANs of a generated certificate. */
#include "hostnames.h"

#include <arpa/inet.h>
#ifdef _WIN32
#include <iphlpapi.h>
#else
#include <ifaddrs.h>
#endif
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "miscomm/error.h"
#include "sock.h"

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

/* One interface address, as text, unless it is link-local. */
static void add_address(char (*ips)[256], size_t *nips, const struct sockaddr *sa)
{
    char text[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct in_addr *a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
        const uint8_t *b = (const uint8_t *)&a->s_addr;
        if (b[0] == 169 && b[1] == 254)
            return; /* link-local */
        inet_ntop(AF_INET, a, text, sizeof text);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LINKLOCAL(a))
            return;
        inet_ntop(AF_INET6, a, text, sizeof text);
    } else {
        return;
    }
    (void)names_add(ips, nips, text);
}

#ifdef _WIN32
static void add_interface_addresses(char (*ips)[256], size_t *nips)
{
    ULONG len = 16384;
    for (int tries = 0; tries < 3; tries++) {
        IP_ADAPTER_ADDRESSES *list = malloc(len);
        if (!list)
            return;
        ULONG rc = GetAdaptersAddresses(
            AF_UNSPEC, GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_SKIP_DNS_SERVER,
            NULL, list, &len);
        if (rc == NO_ERROR) {
            for (IP_ADAPTER_ADDRESSES *a = list; a; a = a->Next)
                for (IP_ADAPTER_UNICAST_ADDRESS *u = a->FirstUnicastAddress; u; u = u->Next)
                    if (u->Address.lpSockaddr)
                        add_address(ips, nips, u->Address.lpSockaddr);
        }
        free(list);
        if (rc != ERROR_BUFFER_OVERFLOW)
            return;
    }
}
#else
static void add_interface_addresses(char (*ips)[256], size_t *nips)
{
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) != 0)
        return;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next)
        if (i->ifa_addr)
            add_address(ips, nips, i->ifa_addr);
    freeifaddrs(ifa);
}
#endif

int cert_host_names(struct cert_names *out)
{
    char host[256] = "";
    memset(out, 0, sizeof *out);
    (void)sock_startup(); /* Windows: gethostname is a Winsock call */
    if (gethostname(host, sizeof host - 1) == 0 && host[0])
        (void)names_add(out->dns, &out->n_dns, host);
    (void)names_add(out->dns, &out->n_dns, "localhost");
    char ips[CERT_MAX_SAN][256];
    size_t nips = 0;
    (void)names_add(ips, &nips, "127.0.0.1");
    (void)names_add(ips, &nips, "::1");
    add_interface_addresses(ips, &nips);
    /* Addresses are at most 45 characters (INET6_ADDRSTRLEN - 1): each fits. */
    for (size_t i = 0; i < nips; i++)
        if (strlen(ips[i]) < sizeof out->ip[0])
            memcpy(out->ip[out->n_ip++], ips[i], strlen(ips[i]) + 1);
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
