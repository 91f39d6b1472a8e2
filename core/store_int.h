/*
 * What core/store.c (the writer) needs of a set of writes built by
 * core/store_txn.c; private to those two files.
 */
#ifndef ENROLLD_STORE_INT_H
#define ENROLLD_STORE_INT_H

#include "core/store.h"

/*
 * Write every operation of `t` in the connection's open transaction.
 * 0 written, 1 conflict (the caller undoes what was written), -1 error.
 */
int store_txn_write(
    const struct store_ops *ops, void *conn, const struct store_txn *t);
/* Whether `t` may commit without waiting for the disk. */
int store_txn_is_light(const struct store_txn *t);
/* Log what a set that could not be written loses (kinds and serials,
 * never object ids, which may come from peers). */
void store_txn_log_lost(const struct store_txn *t);

#endif
