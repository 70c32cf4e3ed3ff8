/*
 * The recall host role (include/afs/tier.h, docs/recall-daemon.md): one
 * process per service claims it; any process can ask whether it is held;
 * a crash of the holder leaves no stale claim.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

static afs_recall_host_info query(afs_service *svc)
{
    afs_recall_host_info hi;
    memset(&hi, 0, sizeof(hi));
    hi.version = AFS_RECALL_HOST_INFO_VERSION;
    AFS_ASSERT_OK(afs_recall_host_query(&hi, svc));
    return hi;
}

static void test_recall_host__claim_query_release(void **state)
{
    afs_service *svc = NULL;
    afs_recall_host *h = NULL, *h2 = NULL;
    afs_recall_host_info hi;
    AFS_ASSERT_OK(afs_service_open(&svc, *state, NULL));
    hi = query(svc);
    assert_int_equal(hi.active, 0); /* never claimed */
    assert_int_equal(hi.pid, 0);
    AFS_ASSERT_OK(afs_recall_host_claim(&h, svc));
    hi = query(svc);
    assert_int_equal(hi.active, 1);
    assert_int_equal(hi.pid, getpid());
    assert_true(hi.since_ns > 0);
    /* A second claim, even from the same process, is refused and names the holder. */
    AFS_ASSERT_CODE(afs_recall_host_claim(&h2, svc), AFS_EBUSY);
    assert_null(h2);
    assert_non_null(strstr(afs_error_last(), "another recall host"));
    afs_recall_host_release(h);
    hi = query(svc);
    assert_int_equal(hi.active, 0);
    assert_int_equal(hi.pid, 0);
    AFS_ASSERT_OK(afs_recall_host_claim(&h, svc)); /* free again */
    afs_recall_host_release(h);
    afs_service_close(svc);
}

static void test_recall_host__a_crashed_holder_leaves_no_claim(void **state)
{
    afs_service *svc = NULL;
    afs_recall_host *h = NULL;
    afs_recall_host_info hi;
    int fds[2], st;
    char c;
    pid_t kid;
    AFS_ASSERT_OK(afs_service_open(&svc, *state, NULL));
    assert_int_equal(pipe(fds), 0);
    kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        afs_service *s2 = NULL;
        afs_recall_host *k = NULL;
        if (afs_service_open(&s2, *state, NULL) != 0 || afs_recall_host_claim(&k, s2) != 0)
            _exit(1);
        if (write(fds[1], "y", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    assert_int_equal(read(fds[0], &c, 1), 1);
    hi = query(svc);
    assert_int_equal(hi.active, 1);
    assert_int_equal(hi.pid, kid);
    AFS_ASSERT_CODE(afs_recall_host_claim(&h, svc), AFS_EBUSY);
    kill(kid, SIGKILL);
    assert_int_equal(waitpid(kid, &st, 0), kid);
    hi = query(svc);
    assert_int_equal(hi.active, 0); /* the kernel dropped the lock with the process */
    AFS_ASSERT_OK(afs_recall_host_claim(&h, svc));
    assert_int_equal(query(svc).pid, getpid());
    afs_recall_host_release(h);
    close(fds[0]);
    close(fds[1]);
    afs_service_close(svc);
}

static void test_recall_host__bad_arguments_are_refused(void **state)
{
    afs_service *svc = NULL;
    afs_recall_host *h = NULL;
    afs_recall_host_info hi;
    AFS_ASSERT_OK(afs_service_open(&svc, *state, NULL));
    AFS_ASSERT_CODE(afs_recall_host_claim(NULL, svc), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_recall_host_claim(&h, NULL), AFS_EINVAL);
    memset(&hi, 0, sizeof(hi));
    AFS_ASSERT_CODE(afs_recall_host_query(&hi, svc), AFS_EVERSION);
    hi.version = AFS_RECALL_HOST_INFO_VERSION + 1;
    AFS_ASSERT_CODE(afs_recall_host_query(&hi, svc), AFS_EVERSION);
    hi.version = AFS_RECALL_HOST_INFO_VERSION;
    AFS_ASSERT_CODE(afs_recall_host_query(&hi, NULL), AFS_EINVAL);
    afs_recall_host_release(NULL); /* ignored */
    afs_service_close(svc);
}

/* The bytes of version 1 of the struct, as a program built against it has them. */
#define RECALL_HOST_INFO_V1 AFS_TEST_END_OF(afs_recall_host_info, since_ns)

static void test_recall_host__query_fills_only_the_callers_version(void **state)
{
    static const unsigned int refused[] = { 0, 99 };
    afs_recall_host_info *hi = afs_test_guarded_new(RECALL_HOST_INFO_V1);
    afs_service *svc = NULL;
    afs_recall_host *h = NULL;
    AFS_ASSERT_OK(afs_service_open(&svc, *state, NULL));
    hi->version = 1;
    AFS_ASSERT_OK(afs_recall_host_query(hi, svc));
    assert_int_equal(hi->version, 1);
    assert_int_equal(hi->active, 0);
    AFS_ASSERT_OK(afs_recall_host_claim(&h, svc));
    AFS_ASSERT_OK(afs_recall_host_query(hi, svc));
    assert_int_equal(hi->version, 1);
    assert_int_equal(hi->active, 1);
    assert_int_equal(hi->pid, getpid());
    assert_true(hi->since_ns > 0);
    for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
        hi->version = refused[k];
        hi->active = 7;
        AFS_ASSERT_CODE(afs_recall_host_query(hi, svc), AFS_EVERSION);
        afs_test_assert_version_refused("afs_recall_host_query", "afs_recall_host_info",
                                        refused[k]);
        assert_int_equal(hi->version, refused[k]);
        assert_int_equal(hi->active, 7); /* untouched */
    }
    afs_recall_host_release(h);
    afs_service_close(svc);
    afs_test_guarded_free(hi, RECALL_HOST_INFO_V1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_recall_host__claim_query_release,
                                        afs_test_setup_sandbox, afs_test_teardown_sandbox),
        cmocka_unit_test_setup_teardown(test_recall_host__a_crashed_holder_leaves_no_claim,
                                        afs_test_setup_sandbox, afs_test_teardown_sandbox),
        cmocka_unit_test_setup_teardown(test_recall_host__bad_arguments_are_refused,
                                        afs_test_setup_sandbox, afs_test_teardown_sandbox),
        cmocka_unit_test_setup_teardown(test_recall_host__query_fills_only_the_callers_version,
                                        afs_test_setup_sandbox, afs_test_teardown_sandbox),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
