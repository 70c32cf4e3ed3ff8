/*
 * afs-hsmd: the fanotify definitions the daemon needs beyond what older
 * userspace headers have. Debian 12's linux-libc-dev (6.1) lacks the
 * pre-content API of Linux 6.14; the values are those of the kernel's
 * include/uapi/linux/fanotify.h and are only defined when missing.
 */
#ifndef AFS_HSMD_FAN_H
#define AFS_HSMD_FAN_H

#include <linux/fanotify.h>
#include <linux/types.h>

#ifndef FAN_PRE_ACCESS
#define FAN_PRE_ACCESS 0x00100000 /* pre-content access hook (6.14) */
#endif

#ifndef FAN_MARK_EVICTABLE
#define FAN_MARK_EVICTABLE 0x00000200
#endif

#ifndef FAN_EVENT_INFO_TYPE_RANGE
#define FAN_EVENT_INFO_TYPE_RANGE 6
/* The range a pre-content event is about (6.14). */
struct fanotify_event_info_range {
    struct fanotify_event_info_header hdr;
    __u32 pad;
    __u64 offset;
    __u64 count;
};
#endif

/* An errno other than EPERM in a deny response (6.14). */
#ifndef FAN_ERRNO_BITS
#define FAN_ERRNO_BITS 8
#define FAN_ERRNO_SHIFT (32 - FAN_ERRNO_BITS)
#define FAN_ERRNO_MASK ((1 << FAN_ERRNO_BITS) - 1)
#define FAN_DENY_ERRNO(err) (FAN_DENY | ((((__u32)(err)) & FAN_ERRNO_MASK) << FAN_ERRNO_SHIFT))
#endif

#endif /* AFS_HSMD_FAN_H */
