/*
 * Configuration: conf/miscomm.ini, read with iniparser.
 *
 * config_load() validates everything: unknown sections and keys, values out
 * of range, missing required keys. Each problem is reported once through the
 * callback as (section, key, reason) and the load fails with MC_ERR_CONFIG;
 * nothing is silently ignored. Relative paths are resolved against the
 * directory that holds the configuration file.
 */
#ifndef MC_CONFIG_H
#define MC_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

enum cfg_encryption { CFG_ENC_TLS = 0, CFG_ENC_NONE, CFG_ENC_AES256 };
enum cfg_cipher_policy { CFG_POLICY_MODERN = 0, CFG_POLICY_REFERENTIAL, CFG_POLICY_EXPLICIT };
enum cfg_tls_version { CFG_TLS_12 = 0, CFG_TLS_13 };
enum cfg_odbc_mode { CFG_ODBC_READ_ONLY = 0, CFG_ODBC_READ_WRITE };

#define CFG_NAME_MAX 64
#define CFG_HASH_MAX 256

struct cfg_connection {
    char name[CFG_NAME_MAX];
    char description[256];
    int active;
    char bind[64];
    unsigned port;
    int encryption; /* enum cfg_encryption */
    int allow_plaintext;
    char password_hash[CFG_HASH_MAX];
    int password_keys; /* how many of password, password_file were given */
    int tcp_nodelay;
    unsigned timeout; /* idle seconds, 0 = none */
    unsigned tries;
    unsigned timewait;       /* extra seconds before answering a failed login */
    uint32_t perms;          /* MC_PERM_* bits */
    char psk_file[PATH_MAX]; /* encryption = aes256: file with the 256-bit key, hex */
    /* File transfer: folders (absolute, "{device}" stands for the HELLO device id). */
    char receive_files_dir[PATH_MAX]; /* ToPC: uploads land here */
    char send_files_dir[PATH_MAX];    /* ToPDA: downloads come from here */
    uint64_t max_file_size;           /* bytes, 0 = no limit */
    uint64_t quota;                   /* bytes per device folder, 0 = no limit */
    unsigned partial_expiry;          /* seconds before an abandoned upload is removed */
    int delete_after_send;            /* remove a file once the device confirmed it (ACK) */
    int overwrite;                    /* a complete upload may replace a file of that name */
    unsigned compression;             /* 0 = off .. 9 (zstd level for frames that shrink) */
    /* Database (ODBC). */
    char odbc_credential[PATH_MAX]; /* used when the device presents none; "" = none */
    char odbc_sources[512]; /* data sources a credential may name, comma-separated; * = any */
    int odbc_mode;          /* enum cfg_odbc_mode */
    int odbc_raw_sql;       /* raw SQL allowed, not only named statements */
    char odbc_queries[CFG_NAME_MAX];     /* the [queries NAME] section of its named statements */
    const struct cfg_query_set *queries; /* that section, resolved (owned by the mc_config) */
    unsigned odbc_max_rows;
    uint64_t odbc_max_result_bytes;
    unsigned odbc_query_timeout; /* seconds */
    /* Intervention sync. */
    char sync_mapping[CFG_NAME_MAX]; /* the [sync NAME] section; "" = none */
    const struct cfg_sync *sync;     /* that section, resolved (owned by the mc_config) */
};

enum cfg_conflict_policy {
    CFG_CONFLICT_REJECT,
    CFG_CONFLICT_SERVER_WINS,
    CFG_CONFLICT_CLIENT_WINS
};

/* A [sync NAME] section: how the gateway reads and writes interventions on one database. */
struct cfg_sync {
    char name[CFG_NAME_MAX];
    char credential[PATH_MAX]; /* the gateway's own credential file for the database */
    char mapping[PATH_MAX];    /* statements: MAPPING.sqlite.sql, MAPPING.postgresql.sql */
    char fields[1024];         /* the fields a device may change, comma-separated */
    int conflict_policy;       /* enum cfg_conflict_policy */
    char photo_dir[PATH_MAX];  /* where attached photos are stored, by their SHA-256 */
    unsigned poll_interval;    /* seconds between two looks at the change log */
    unsigned stall_timeout;    /* seconds a pull may wait for its client's credit */
};

/* A named statement of a [queries NAME] section. */
struct cfg_query {
    char name[CFG_NAME_MAX];
    char *sql;
};

struct cfg_query_set {
    char name[CFG_NAME_MAX];
    struct cfg_query *q;
    size_t n;
};

/* The statement called name in set, or NULL. */
const char *config_query(const struct cfg_query_set *set, const char *name);

struct mc_config {
    char path[PATH_MAX];
    /* [server] */
    char data_dir[PATH_MAX];
    int log_target; /* enum log_target */
    char log_file[PATH_MAX];
    int log_level; /* enum log_level */
    unsigned max_connections;
    unsigned max_connections_per_ip;
    unsigned handshake_timeout;
    unsigned worker_threads;
    unsigned handshake_threads; /* 0: one per core */
    unsigned shutdown_grace;
    char pid_file[PATH_MAX];
    unsigned login_ticket_lifetime; /* seconds; also the login-ticket key's rotation; 0 = none */
    /* [tls] */
    char certificate[PATH_MAX];
    char key[PATH_MAX];
    int min_version;   /* enum cfg_tls_version */
    int max_version;   /* enum cfg_tls_version */
    int cipher_policy; /* enum cfg_cipher_policy */
    char ciphers[1024];
    char password_file[PATH_MAX]; /* password of an encrypted key or a PKCS#12 file */
    char password_env[128];       /* ... or the environment variable holding it */
    int require_client_cert;
    char client_ca[PATH_MAX];
    char crl[PATH_MAX];
    unsigned cert_warn_days;
    int session_tickets;
    unsigned ticket_rotation; /* seconds between ticket-key rotations */
    /* [odbc] */
    char odbc_ini_dir[PATH_MAX]; /* ODBCSYSINI: odbc.ini and odbcinst.ini of the gateway's own */
    unsigned odbc_threads;       /* the ODBC job pool's threads */
    unsigned odbc_pool_min;      /* idle database connections kept past idle_timeout */
    unsigned odbc_pool_max;      /* database connections per pool */
    unsigned odbc_idle_timeout;  /* seconds before an idle database connection is closed */
    /* [connection NAME] */
    struct cfg_connection *conns;
    size_t nconns;
    /* [queries NAME] */
    struct cfg_query_set *query_sets;
    size_t nquery_sets;
    /* [sync NAME] */
    struct cfg_sync *syncs;
    size_t nsyncs;
};

typedef void (*config_err_fn)(void *ud, const char *section, const char *key, const char *reason);

__attribute__((warn_unused_result)) int config_load(const char *path, struct mc_config *cfg,
                                                    config_err_fn on_error, void *ud);
void config_free(struct mc_config *cfg);

/* Print-to-stderr error callback used by the tools: "FILE: [section] key: reason". */
void config_print_error(void *ud, const char *section, const char *key, const char *reason);

#endif
