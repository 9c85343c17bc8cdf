/*
 * libmiscomm, intervention sync (protocol 2; docs/protocol.md section
 * 5.16): a technician's phone keeps a replica of its own interventions,
 * works on it offline and sends its changes back.
 *
 * Two levels:
 *
 * - The wire: mc_sync_pull() reads one page of changes (typed rows, as a
 *   QUERY's), mc_sync_push() sends one batch of operations and hands back
 *   each operation's result. Nothing is kept between calls.
 * - The offline store: a SQLite file holding the replica, an outbox of
 *   operations made on the phone, the pull cursor and the conflicts the
 *   server reported. mc_sync_edit() and mc_sync_attach_photo() work
 *   offline; mc_sync_run() pushes the outbox (uploading photos first), then
 *   pulls every page. A run cut short by a dropped connection is simply run
 *   again: each operation keeps its id until its result is stored, so the
 *   server answers a replay with the stored result and applies nothing
 *   twice, and each page is applied with its cursor in one local
 *   transaction.
 *
 * CHANGES_AVAILABLE: as for FILES_CHANGED, the server's notices go to the
 * client's notice callback (mc_set_notice_cb(), client.h) from within
 * whichever call reads them; a notice of kind MC_NOTICE_CHANGES_AVAILABLE
 * (miscomm/proto.h) says the technician's interventions changed: call
 * mc_sync_run() (or mc_sync_store_pull()). mc_poll() waits for one while
 * the app is otherwise idle.
 *
 * Errors are negative MC_ERR_* codes. The wire calls leave the message in
 * mc_client_errmsg(); the store's calls, mc_sync_run() included, leave it
 * in mc_sync_store_errmsg() (a server's message is copied there).
 */
#ifndef MISCOMM_SYNC_H
#define MISCOMM_SYNC_H

#include "miscomm/odbc.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MC_SYNC_MAX_CURSOR 64u    /* bytes of an opaque cursor */
#define MC_SYNC_OP_ID_SIZE 16u    /* an operation's id */
#define MC_SYNC_MAX_BATCH  100u   /* operations in one SYNC_PUSH */
#define MC_SYNC_MAX_FIELDS 32u    /* fields in one UPDATE */
#define MC_SYNC_MAX_LIMIT  10000u /* rows per page a pull may ask for */

/* -- the wire ------------------------------------------------------------------ */

/* What mc_sync_pull() calls; either may be NULL. Return 0, or < 0 to stop (the pull is cancelled).
 */
struct mc_sync_pull_callbacks {
    /* Once, before the first row: seq, id, version, then the mapping's columns. */
    int (*columns)(void *ud, const struct mc_column *cols, size_t ncols);
    /* Each row in order; version (values[2]) NULL is a tombstone. Valid during the call. */
    int (*row)(void *ud, const struct mc_value *values, size_t ncols);
};

/* SYNC_PULL_OK: where the next pull starts. */
struct mc_sync_page {
    uint8_t cursor[MC_SYNC_MAX_CURSOR];
    size_t cursor_len;
    uint64_t rows; /* rows in this page */
    int more;      /* more changes wait: pull again at once with the new cursor */
};

/*
 * SYNC_PULL: one page of the changes since cursor (cursor_len 0: from the
 * beginning). limit: rows per page, 0 for the server's default (1000), at
 * most MC_SYNC_MAX_LIMIT. MC_ERR_BAD_CURSOR: pull from the beginning.
 */
MC_API int mc_sync_pull(mc_client *c, const uint8_t *cursor, size_t cursor_len, uint32_t limit,
                        const struct mc_sync_pull_callbacks *cb, void *ud,
                        struct mc_sync_page *out);

enum mc_sync_kind {
    MC_SYNC_UPDATE = 1, /* change fields */
    MC_SYNC_PHOTO = 2,  /* attach a photo uploaded with PUT (files.h) */
};

/* A changed field of an UPDATE: its value at base_version, as pulled, and the new one. */
struct mc_sync_field {
    const char *name;
    struct mc_value base;
    struct mc_value value;
};

/* An operation; the caller owns what it points to. */
struct mc_sync_op {
    uint8_t op_id[MC_SYNC_OP_ID_SIZE]; /* random, kept until the result is stored */
    enum mc_sync_kind kind;
    uint64_t intervention;
    /* UPDATE */
    uint64_t base_version;
    const struct mc_sync_field *fields; /* 1 to MC_SYNC_MAX_FIELDS, each name once */
    size_t nfields;
    /* PHOTO */
    const char *file; /* its name in the device's receive folder */
    uint8_t sha256[32];
    const char *content_type; /* image/jpeg, image/png, image/heic or image/webp */
    struct mc_value caption;  /* TEXT or NULL */
    struct mc_value taken_at; /* TIMESTAMP or NULL */
};

enum mc_sync_result {
    MC_SYNC_APPLIED = 0,
    MC_SYNC_CONFLICT = 1, /* nothing applied */
    MC_SYNC_FAILED = 2,   /* nothing applied; code says why */
};

/* Result flags. */
#define MC_SYNC_REPLAYED 0x01u /* recorded earlier: the stored result, nothing done again */
#define MC_SYNC_MERGED   0x02u /* the server's row had changed in other fields: merged */
#define MC_SYNC_RESOLVED 0x04u /* fields changed on both sides settled by the conflict policy */

struct mc_sync_named_value {
    const char *name;
    struct mc_value value;
};

/* One operation's result; everything points into the answer, valid during the callback. */
struct mc_sync_op_result {
    uint8_t op_id[MC_SYNC_OP_ID_SIZE];
    enum mc_sync_result result;
    unsigned flags;      /* MC_SYNC_REPLAYED, MC_SYNC_MERGED, MC_SYNC_RESOLVED */
    int code;            /* 0, or a negative MC_ERR_* (MC_ERR_CONFLICT, MC_ERR_DB_UNAVAILABLE...) */
    const char *message; /* "" when there is nothing to say */
    uint64_t version;    /* the intervention's version after it (0: it does not exist) */
    const char *const *conflicts; /* the fields in conflict */
    size_t nconflicts;
    const struct mc_sync_named_value *current; /* the server's values, with CONFLICT and RESOLVED */
    size_t ncurrent;
};

/* Called once per operation, in the order of the batch; return 0, or < 0 to stop. */
typedef int (*mc_sync_result_fn)(void *ud, size_t index, const struct mc_sync_op_result *r);

/*
 * SYNC_PUSH: a batch of 1 to MC_SYNC_MAX_BATCH operations (and at most
 * MC_MAX_PAYLOAD bytes). The answer is checked whole (one result per
 * operation, with its id, in order) before fn sees any result.
 */
MC_API int mc_sync_push(mc_client *c, const struct mc_sync_op *ops, size_t nops,
                        mc_sync_result_fn fn, void *ud);

/* -- the offline store ------------------------------------------------------------ */

typedef struct mc_sync_store mc_sync_store;

/*
 * Open (or create) the store at path, a SQLite database. On failure *out
 * may still hold a store, so that mc_sync_store_errmsg() can say why:
 * close it with mc_sync_store_close(). One store per thread at a time.
 */
MC_API int mc_sync_store_open(mc_sync_store **out, const char *path);
/* NULL is allowed. */
MC_API void mc_sync_store_close(mc_sync_store *st);
MC_API const char *mc_sync_store_errmsg(const mc_sync_store *st);

/*
 * A local change of one field of an intervention of the replica, applied to
 * the replica at once and queued in the outbox. The value is NULL or of
 * the column's type (SYNC_COLUMNS). A field edited again before it is
 * pushed keeps the base of its first edit. MC_ERR_NOT_FOUND: no such
 * intervention or column; MC_ERR_INVALID_ARG: seq, id or version, or a
 * value of another type.
 */
MC_API int mc_sync_edit(mc_sync_store *st, uint64_t intervention, const char *field,
                        const struct mc_value *value);
/* The type of a column of the replica, to read a value for mc_sync_edit(). */
MC_API int mc_sync_field_type(mc_sync_store *st, const char *field, enum mc_value_type *type);

/*
 * Queue a photo for an intervention: the run uploads local_file (which
 * must stay in place until then) into the device's receive folder as
 * photos/SHA256HEX.EXT, resuming as any upload, then pushes the PHOTO
 * operation. content_type NULL: from the file's extension. caption may be
 * NULL.
 */
MC_API int mc_sync_attach_photo(mc_sync_store *st, uint64_t intervention, const char *local_file,
                                const char *content_type, const char *caption);

/* What a run did. */
struct mc_sync_report {
    uint64_t pushed;    /* operations sent */
    uint64_t applied;   /* ... APPLIED (the next counts are among them) */
    uint64_t merged;    /* ... with MC_SYNC_MERGED */
    uint64_t resolved;  /* ... with MC_SYNC_RESOLVED */
    uint64_t replayed;  /* ... with MC_SYNC_REPLAYED */
    uint64_t conflicts; /* CONFLICT: stored in the conflicts list */
    uint64_t failed;    /* FAILED: moved to the failed list */
    uint64_t retry;     /* FAILED with DB_UNAVAILABLE: kept for the next run */
    uint64_t photos;    /* photos uploaded */
    uint64_t pages;     /* pages pulled */
    uint64_t rows;      /* rows pulled, tombstones included */
    uint64_t deleted;   /* interventions removed from the replica */
};

/*
 * Push the outbox in batches: photos are uploaded first (a photo that
 * cannot be uploaded waits or fails alone, never holding up the rest).
 * report may be NULL; counts are added to it.
 */
MC_API int mc_sync_store_push(mc_client *c, mc_sync_store *st, struct mc_sync_report *report);
/* Pull every page, each applied with its cursor in one local transaction. */
MC_API int mc_sync_store_pull(mc_client *c, mc_sync_store *st, struct mc_sync_report *report);
/* Push, then pull. report may be NULL; it is zeroed first. */
MC_API int mc_sync_run(mc_client *c, mc_sync_store *st, struct mc_sync_report *report);

/* An intervention of the replica as the phone shows it. */
struct mc_sync_item {
    uint64_t id;
    uint64_t version;             /* the server's, as last pulled or pushed */
    const struct mc_column *cols; /* seq, id, version, then the mapping's columns */
    const struct mc_value *values;
    const uint8_t *edited; /* per column: 1 when a local change not yet applied is shown */
    size_t ncols;
};

/* Each intervention (id 0: all, by id) goes to fn; valid during the call. Return 0 or < 0. */
MC_API int mc_sync_items(mc_sync_store *st, uint64_t id,
                         int (*fn)(void *ud, const struct mc_sync_item *it), void *ud);

enum mc_sync_op_state {
    MC_SYNC_OP_PENDING = 0, /* not sent yet: more edits join it */
    MC_SYNC_OP_SENT = 1,    /* sent, no result stored yet: sent again as it is */
    MC_SYNC_OP_FAILED = 2,  /* the server (or the upload) refused it: code, message */
};

struct mc_sync_outbox_entry {
    const struct mc_sync_op *op; /* PHOTO: op->file is the name in the receive folder */
    enum mc_sync_op_state state;
    const char *local_file; /* PHOTO: the file on the phone */
    int uploaded;           /* PHOTO: the upload is done */
    int code;               /* MC_SYNC_OP_FAILED: a negative MC_ERR_* */
    const char *message;    /* MC_SYNC_OP_FAILED: why */
};

/* The outbox in order, failed operations included; valid during the call. */
MC_API int mc_sync_outbox(mc_sync_store *st,
                          int (*fn)(void *ud, const struct mc_sync_outbox_entry *e), void *ud);
/* Drop an operation from the outbox (a failed one, usually). MC_ERR_NOT_FOUND: no such id. */
MC_API int mc_sync_discard(mc_sync_store *st, const uint8_t op_id[MC_SYNC_OP_ID_SIZE]);

/* A CONFLICT the server answered: the phone's change and the server's values. */
struct mc_sync_conflict {
    int64_t id; /* in the store, for mc_sync_conflict_dismiss() */
    uint8_t op_id[MC_SYNC_OP_ID_SIZE];
    uint64_t intervention;
    uint64_t base_version; /* the operation's */
    uint64_t version;      /* the server's when it answered */
    const char *message;
    const struct mc_sync_field *local; /* the operation's fields: base and new */
    size_t nlocal;
    const char *const *names; /* the fields in conflict */
    size_t nnames;
    const struct mc_sync_named_value *server; /* the server's current values */
    size_t nserver;
};

MC_API int mc_sync_conflicts(mc_sync_store *st,
                             int (*fn)(void *ud, const struct mc_sync_conflict *k), void *ud);
/* Forget a conflict once the user has seen it. MC_ERR_NOT_FOUND: no such id. */
MC_API int mc_sync_conflict_dismiss(mc_sync_store *st, int64_t id);

#ifdef __cplusplus
}
#endif
#endif
