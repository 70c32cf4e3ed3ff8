/* Carrying renames across (lib/sync/rename.c). */
#ifndef AFS_SYNC_RENAME_H
#define AFS_SYNC_RENAME_H

#include "apply.h"

/*
 * Before planning: renames other endpoints journaled are made on the server,
 * and renames made on the server are made in the share; each moves the base
 * of the renamed subtree so the plan sees nothing left to transfer.
 */
int afs__renames_apply(afs__apply *a);

#endif
