/*
 * libmiscomm, file transfer (protocol 2; docs/protocol.md section 5.14):
 * the device's send folder (LIST, GET, ACK) and receive folder (PUT).
 * Transfers are verified by SHA-256 and resume by themselves after a
 * dropped connection: the client reconnects (resuming the TLS session),
 * logs in again with the last HELLO's parameters and goes on from where
 * the server (PUT) or the local partial file (GET) stands.
 */
#ifndef MISCOMM_FILES_H
#define MISCOMM_FILES_H

#include "miscomm/client.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mc_file_entry {
    const char *name; /* relative to the send folder */
    uint64_t size;
    uint64_t mtime_us; /* microseconds since 1970 */
    uint8_t sha256[32];
};

/* An entry of a listing; return 0, or < 0 to stop. */
typedef int (*mc_list_fn)(void *ud, const struct mc_file_entry *e);
/* Progress of a transfer: bytes done of total (done includes a resumed part). */
typedef void (*mc_progress_fn)(void *ud, uint64_t done, uint64_t total);

struct mc_transfer_options {
    mc_progress_fn progress; /* may be NULL */
    void *ud;
    unsigned retries;    /* reconnect-and-resume attempts after a drop; default 5 */
    unsigned backoff_ms; /* first pause before a retry, doubled each time; default 500 */
};

/* LIST: folder "" (or NULL) for the whole send folder. *count may be NULL. */
MC_API int mc_list(mc_client *c, const char *folder, int recursive, mc_list_fn fn, void *ud,
                   uint32_t *count);
/*
 * GET name into the file path: the bytes go to "path.part" first (kept
 * after a failure, so a later call resumes), and become path only once the
 * SHA-256 of the whole file matches. sha256 (may be NULL) gets the hash.
 */
MC_API int mc_get_file(mc_client *c, const char *name, const char *path,
                       const struct mc_transfer_options *o, uint8_t sha256[32]);
/* ACK a verified download; *deleted (may be NULL) says whether the server removed it. */
MC_API int mc_ack(mc_client *c, const char *name, const uint8_t sha256[32], int *deleted);
/* PUT the local file path as name; the server answers only once it is on its disk. */
MC_API int mc_put_file(mc_client *c, const char *path, const char *name,
                       const struct mc_transfer_options *o);

#ifdef __cplusplus
}
#endif
#endif
