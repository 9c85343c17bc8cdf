/*
 * What sync.c (the wire, and the runs that drive it) and sync_store.c (the
 * offline store, a SQLite file) share, and what the store's unit test
 * drives without a server.
 *
 * A pull applies a page between sync_store_page_begin() and
 * sync_store_page_commit() (which stores the page's cursor): all of it in
 * one SQLite transaction, or nothing after sync_store_page_abort().
 *
 * A push takes the outbox a batch at a time: sync_store_batch_next() marks
 * the batch's operations sent (from then on they are frozen: a replay must
 * be the same operation), and each result goes to sync_store_result()
 * between sync_store_results_begin() and sync_store_results_end().
 */
#ifndef MC_SYNC_INTERNAL_H
#define MC_SYNC_INTERNAL_H

#include "miscomm/sync.h"

/* Set the message mc_sync_store_errmsg() returns and return code. */
int sync_store_fail(mc_sync_store *st, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The bytes op takes in a SYNC_PUSH payload, or MC_ERR_INVALID_ARG. */
long sync_op_size(const struct mc_sync_op *op);

/* -- pull -------------------------------------------------------------------- */

/* The stored cursor (len 0: none, pull from the beginning). */
int sync_store_cursor(mc_sync_store *st, uint8_t cursor[MC_SYNC_MAX_CURSOR], size_t *len);
/*
 * Start again from the beginning: forget the cursor; interventions that
 * the full pull does not bring back are removed when its last page is in.
 */
int sync_store_cursor_reset(mc_sync_store *st);
/* SYNC_COLUMNS of a page: opens its transaction. report (may be NULL) counts rows and deletions. */
int sync_store_page_begin(mc_sync_store *st, const struct mc_column *cols, size_t ncols,
                          struct mc_sync_report *report);
int sync_store_page_row(mc_sync_store *st, const struct mc_value *row, size_t ncols);
/* SYNC_PULL_OK: store the cursor and commit. */
int sync_store_page_commit(mc_sync_store *st, const struct mc_sync_page *page);
/* The page did not end well: nothing of it stays. Harmless without a page. */
void sync_store_page_abort(mc_sync_store *st);

/* -- push -------------------------------------------------------------------- */

/* A photo waiting for its upload. */
struct sync_photo {
    uint8_t op_id[MC_SYNC_OP_ID_SIZE];
    char local_file[4096];
    char name[128];
    uint8_t sha256[32];
};

/* The first photo after op after_seq still to upload: 1 (with *seq), 0 none, or an error. */
int sync_store_next_photo(mc_sync_store *st, int64_t after_seq, int64_t *seq, struct sync_photo *p);
/* The photo's upload is done. */
int sync_store_photo_uploaded(mc_sync_store *st, const uint8_t op_id[MC_SYNC_OP_ID_SIZE]);
/* The operation failed for good (code < 0, and why): it moves to the failed list. */
int sync_store_op_fail(mc_sync_store *st, const uint8_t op_id[MC_SYNC_OP_ID_SIZE], int code,
                       const char *message);

struct sync_arena_block;

/* Operations taken from the outbox; they point into the batch's own memory. */
struct sync_batch {
    struct mc_sync_op *ops;
    size_t n;
    struct sync_arena_block *mem;
};

/*
 * The next operations to push, in outbox order: at most max_ops, taking at
 * most max_bytes of SYNC_PUSH payload, photos only once uploaded. Marked
 * sent before this returns. b->n 0: nothing left.
 */
int sync_store_batch_next(mc_sync_store *st, struct sync_batch *b, size_t max_ops,
                          size_t max_bytes);
void sync_batch_free(struct sync_batch *b);

int sync_store_results_begin(mc_sync_store *st);
/* Store op's result r: see mc_sync_store_push() for what each result does. */
int sync_store_result(mc_sync_store *st, const struct mc_sync_op *op,
                      const struct mc_sync_op_result *r, struct mc_sync_report *report);
/* Commit (rc 0) or roll back the results; returns rc, or the commit's error. */
int sync_store_results_end(mc_sync_store *st, int rc);

#endif
