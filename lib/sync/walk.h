/*
 * The walk of a server endpoint's tree for local change detection
 * (scan_local.c), on a few threads: directory reads and stats are nearly
 * all of a scan's time, and they are independent. The threads touch
 * nothing of the session but its read-only settings (root, filesystem,
 * exclusions) while the session does other work (loads its base); once the
 * base is loaded they also look up what they found in the session's items,
 * and the session thread takes the rest in (new items, errors).
 */
#ifndef AFS_SYNC_WALK_H
#define AFS_SYNC_WALK_H

#include "session.h"

typedef struct afs__walk afs__walk;

/*
 * Start walking s->root (which must be a directory; the caller checked).
 * Never-synced names, symbolic links, special files and files with several
 * hard links are skipped, stale temporary files of the library removed.
 * Errors: AFS_ENOMEM (nothing started).
 */
int afs__walk_start(afs__walk **out, afs__session *s);

/*
 * Wait for the walk and take its findings into the session: the local side
 * of an item for each file and directory, per-item errors for unsupported
 * names and failed stats or reads, the skipped count. Frees the walk.
 * `base_loaded`: the session's items (its base) are complete and nobody
 * changes them until this returns, so the walking threads may look entries
 * up in them side by side; else the session thread does it all.
 * Errors: the root could not be read (AFS_EPERM, AFS_ENOTFOUND...),
 * AFS_ENOMEM.
 */
int afs__walk_finish(afs__walk *w, bool base_loaded);

/*
 * afs__scan_local() in two halves, so the session can load its base while
 * the walk runs: check the root and start the walk (errors as
 * afs__scan_local(), nothing started), then afs__walk_finish().
 */
int afs__scan_local_begin(afs__session *s, afs__walk **w);

#endif
