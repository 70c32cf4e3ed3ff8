/*
 * A server endpoint's sync state (docs/state-store.md#endpoint): per item
 * the base (what both sides held after the last successful sync of it),
 * the per-item errors kept between sessions, and small values (journal
 * cursor, last full enumeration, last result).
 */
#ifndef AFS_SYNC_STATE_H
#define AFS_SYNC_STATE_H

#include "afs/sync.h"
#include "../db/db.h"
#include "session.h"

/* Open (creating) <state_dir>/endpoints/<endpoint_id>.db. */
int afs__state_open(afs_db **out, const char *state_dir, const char *endpoint_id);

/* Remove an endpoint's state files. Missing files are fine. */
int afs__state_remove(const char *state_dir, const char *endpoint_id);

/* Load every base item into the session (items created as needed); *count gets their number. */
int afs__state_load(afs_db *db, afs__session *s, size_t *count);

/* Write the item's base (insert or replace). Call inside a transaction or batch. */
int afs__state_put(afs_db *db, const afs__item *it);

/* Forget the base of one path. */
int afs__state_forget(afs_db *db, const char *path);

/* Move the base of `from` and everything below it to `to`. */
int afs__state_rename(afs_db *db, const char *from, const char *to);

/* Small values. A missing key gives `dflt` / NULL. */
int afs__state_get_int(afs_db *db, const char *key, int64_t dflt, int64_t *out);
int afs__state_set_int(afs_db *db, const char *key, int64_t value);
/* Text value into a malloc'd string (NULL if missing). */
int afs__state_get_text(afs_db *db, const char *key, char **out);
int afs__state_set_text(afs_db *db, const char *key, const char *value);

/*
 * Replace the kept per-item errors with this session's: an item that failed
 * again has its count raised, one that did not fail is dropped.
 */
int afs__state_save_errors(afs_db *db, const afs__item_err *errors, int64_t now_ns);

/* The kept per-item errors, for afs_endpoint_errors(). */
int afs__state_list_errors(afs_db *db, afs_item_error ***out, size_t *count);

#endif
