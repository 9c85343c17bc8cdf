/* Field-level merge (sync_merge.h). */
#include "sync_merge.h"

#include <string.h>

#include "config.h"

void sync_merge(const struct odbc_value *cur, unsigned nfields, const struct sync_change *ch,
                unsigned n, int version_moved, int policy, struct odbc_value *out,
                struct sync_merge *res)
{
    memcpy(out, cur, nfields * sizeof *out);
    *res = (struct sync_merge){.result = SYNC_APPLIED};
    for (unsigned i = 0; i < n; i++) {
        const struct odbc_value *now = &cur[ch[i].field];
        if (odbc_value_equal(now, &ch[i].base)) {
            out[ch[i].field] = ch[i].next;
            res->write |= !odbc_value_equal(now, &ch[i].next);
        } else if (!odbc_value_equal(now, &ch[i].next)) {
            res->conflicts |= 1ull << ch[i].field;
            if (policy == CFG_CONFLICT_CLIENT_WINS) {
                out[ch[i].field] = ch[i].next;
                res->write = 1;
            }
        }
    }
    if (version_moved)
        res->flags |= SYNC_F_MERGED;
    if (!res->conflicts)
        return;
    if (policy == CFG_CONFLICT_REJECT) {
        res->result = SYNC_CONFLICT;
        res->write = 0;
        res->flags &= ~SYNC_F_MERGED;
        memcpy(out, cur, nfields * sizeof *out);
    } else {
        res->flags |= SYNC_F_RESOLVED;
    }
}
