/* Tier assertions shared by the tiering suites (tests/support/tierfs.h). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support.h"
#include "tierfs.h"
#include "afs/tier.h"

uint32_t afs_test_tier_state(afs_endpoint *ep, const char *rel)
{
    afs_tier_info info;
    uint32_t s;
    memset(&info, 0, sizeof(info));
    info.version = AFS_TIER_INFO_VERSION;
    AFS_ASSERT_OK(afs_tier_query(ep, rel, &info));
    s = info.state;
    afs_tier_info_clear(&info);
    return s;
}

int64_t afs_test_mtime_ns(const char *dir, const char *rel)
{
    struct stat st;
    char *p = afs_test_path(dir, rel);
    assert_int_equal(stat(p, &st), 0);
    free(p);
    return (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
}

void afs_test_tier_dirs(const char *name, char **root, char **vol, char **state, char **share,
                        char **data)
{
    *root = afs_test_sandbox(name);
    *vol = afs_test_path(*root, "vol");
    *state = afs_test_path(*root, "state");
    *share = afs_test_path(*root, "share");
    *data = afs_test_path(*vol, "data");
    afs_test_mkdirs(*share);
}
