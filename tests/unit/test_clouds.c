/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_clouds.c @brief clouds.yaml lookup, secure.yaml merge, openstacksdk's key rules. */
#include "clouds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmocka_includes.h"
#include "test_util.h"

struct fx {
    char dir[64];
    char clouds[128], secure[128], other[128], missing[128];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/iha-clouds-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->clouds, sizeof(f->clouds), "%s/clouds.yaml", f->dir);
    snprintf(f->secure, sizeof(f->secure), "%s/secure.yaml", f->dir);
    snprintf(f->other, sizeof(f->other), "%s/other.yaml", f->dir);
    snprintf(f->missing, sizeof(f->missing), "%s/missing.yaml", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    unlink(f->clouds);
    unlink(f->secure);
    unlink(f->other);
    rmdir(f->dir);
    free(f);
    return 0;
}

static const char clouds_yaml[] = "clouds:\n"
                                  "  iha:\n"
                                  "    auth_type: v3applicationcredential\n"
                                  "    auth:\n"
                                  "      auth_url: https://keystone.example:5000/v3\n"
                                  "      application_credential_id: 0123abcd\n"
                                  "    region_name: RegionTwo\n"
                                  "    interface: internalURL\n"
                                  "    cacert: /etc/ssl/ca.pem\n"
                                  "    verify: false\n"
                                  "  admin:\n"
                                  "    auth:\n"
                                  "      auth-url: http://127.0.0.1:5000\n"
                                  "      username: masakari\n"
                                  "      password: from-clouds\n"
                                  "      domain_name: Default\n"
                                  "    tenant_name: service\n"
                                  "    region_name: RegionOne\n";

static const char secure_yaml[] = "clouds:\n"
                                  "  iha:\n"
                                  "    auth:\n"
                                  "      application_credential_secret: s3cr3t-from-secure\n"
                                  "  admin:\n"
                                  "    auth:\n"
                                  "      password: from-secure\n";

static void test_appcred_with_secure(void **state)
{
    struct fx *f = *state;
    const char *cl[] = {f->missing, f->clouds, NULL}, *se[] = {f->secure, NULL};
    struct iha_cloud *c = NULL;
    struct iha_err err = {0};

    test_write_file(f->clouds, clouds_yaml);
    test_write_file(f->secure, secure_yaml);
    assert_int_equal(iha_clouds_load(cl, se, "iha", &c, &err), IHA_OK);
    assert_string_equal(c->source, f->clouds);
    assert_string_equal(c->secure_source, f->secure);
    assert_string_equal(c->auth_type, "v3applicationcredential");
    assert_string_equal(c->auth_url, "https://keystone.example:5000/v3");
    assert_string_equal(c->application_credential_id, "0123abcd");
    assert_string_equal(c->application_credential_secret, "s3cr3t-from-secure");
    assert_string_equal(c->region_name, "RegionTwo");
    assert_string_equal(c->interface, "internal");
    assert_string_equal(c->cacert, "/etc/ssl/ca.pem");
    assert_false(c->verify);
    assert_null(c->password);
    assert_null(c->project_name);
    iha_cloud_free(c);
}

static void test_password_merge_and_aliases(void **state)
{
    struct fx *f = *state;
    const char *cl[] = {f->clouds, NULL}, *se[] = {f->secure, NULL};
    struct iha_cloud *c = NULL;
    struct iha_err err = {0};

    test_write_file(f->clouds, clouds_yaml);
    test_write_file(f->secure, secure_yaml);
    assert_int_equal(iha_clouds_load(cl, se, "admin", &c, &err), IHA_OK);
    assert_string_equal(c->auth_url, "http://127.0.0.1:5000"); /* auth-url == auth_url */
    assert_string_equal(c->username, "masakari");
    assert_string_equal(c->password, "from-secure");        /* secure.yaml wins */
    assert_string_equal(c->project_name, "service");        /* tenant_name, at the top level */
    assert_string_equal(c->user_domain_name, "Default");    /* domain_name fills both */
    assert_string_equal(c->project_domain_name, "Default"); /* ...as it is project-scoped */
    assert_null(c->auth_type);
    assert_null(c->interface);
    assert_true(c->verify);
    iha_cloud_free(c);

    /* Without secure.yaml the clouds.yaml value stays. */
    assert_int_equal(iha_clouds_load(cl, NULL, "admin", &c, &err), IHA_OK);
    assert_string_equal(c->password, "from-clouds");
    assert_null(c->secure_source);
    iha_cloud_free(c);
}

static void test_explicit_domains_win(void **state)
{
    struct fx *f = *state;
    const char *cl[] = {f->clouds, NULL};
    struct iha_cloud *c = NULL;
    struct iha_err err = {0};

    test_write_file(f->clouds, "clouds:\n"
                               "  x:\n"
                               "    domain_name: Shared\n"
                               "    auth:\n"
                               "      auth_url: http://k\n"
                               "      user_id: u1\n"
                               "      password: p\n"
                               "      project_id: p1\n"
                               "      project_name: service\n"
                               "      project-domain-id: d9\n");
    assert_int_equal(iha_clouds_load(cl, NULL, "x", &c, &err), IHA_OK);
    assert_string_equal(c->user_domain_name, "Shared");
    assert_null(c->project_domain_name); /* project_domain_id was given */
    assert_string_equal(c->project_domain_id, "d9");
    assert_string_equal(c->project_id, "p1");
    iha_cloud_free(c);
}

static void test_first_file_wins(void **state)
{
    struct fx *f = *state;
    const char *cl[] = {f->other, f->clouds, NULL};
    struct iha_cloud *c = NULL;
    struct iha_err err = {0};

    test_write_file(f->clouds, clouds_yaml);
    test_write_file(f->other, "clouds:\n  other:\n    auth:\n      auth_url: http://o\n");
    /* The first existing file is the only one read: 'iha' in the second is not seen. */
    assert_int_equal(iha_clouds_load(cl, NULL, "iha", &c, &err), IHA_E_NOTFOUND);
    assert_null(c);
    assert_non_null(strstr(err.msg, "cloud 'iha' not found"));
    assert_non_null(strstr(err.msg, f->other));
    assert_non_null(strstr(err.msg, "other"));
    assert_int_equal(iha_clouds_load(cl, NULL, "other", &c, &err), IHA_OK);
    assert_string_equal(c->auth_url, "http://o");
    iha_cloud_free(c);
}

static void test_errors_never_show_secrets(void **state)
{
    struct fx *f = *state;
    const char *cl[] = {f->clouds, NULL}, *none[] = {f->missing, NULL};
    struct iha_cloud *c = NULL;
    struct iha_err err = {0};

    assert_int_equal(iha_clouds_load(none, NULL, "iha", &c, &err), IHA_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "no clouds.yaml found"));

    test_write_file(f->clouds, "clouds:\n  bad:\n    auth:\n      password: [top-secret]\n");
    assert_int_equal(iha_clouds_load(cl, NULL, "bad", &c, &err), IHA_E_CONFIG);
    assert_non_null(strstr(err.msg, "clouds.bad.auth.password: expected a string"));
    assert_null(strstr(err.msg, "top-secret"));

    test_write_file(f->clouds, "clouds:\n  bad:\n    verify: maybe\n    auth: {password: hush}\n");
    assert_int_equal(iha_clouds_load(cl, NULL, "bad", &c, &err), IHA_E_CONFIG);
    assert_non_null(strstr(err.msg, "verify"));
    assert_null(strstr(err.msg, "hush"));

    test_write_file(f->clouds, "clouds: [\n");
    assert_int_equal(iha_clouds_load(cl, NULL, "bad", &c, &err), IHA_E_CONFIG);
    assert_null(c);
}

static void test_search_path(void **state)
{
    char *p[32];
    size_t n;
    char cwd[512], want[600];

    (void)state;
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    setenv("OS_CLIENT_CONFIG_FILE", "/srv/private/clouds.yaml", 1);
    setenv("HOME", "/home/op", 1);
    unsetenv("XDG_CONFIG_HOME");
    n = iha_clouds_search_path("clouds", p, 31);
    assert_int_equal(n, 1 + 4 * 3);
    assert_string_equal(p[0], "/srv/private/clouds.yaml");
    snprintf(want, sizeof(want), "%s/clouds.yaml", cwd);
    assert_string_equal(p[1], want);
    snprintf(want, sizeof(want), "%s/clouds.yml", cwd);
    assert_string_equal(p[2], want);
    assert_string_equal(p[4], "/home/op/.config/openstack/clouds.yaml");
    assert_string_equal(p[7], "/etc/xdg/openstack/clouds.yaml");
    assert_string_equal(p[10], "/etc/openstack/clouds.yaml");
    assert_string_equal(p[12], "/etc/openstack/clouds.json");
    assert_null(p[13]);
    for (size_t i = 0; i < n; i++)
        free(p[i]);

    /* secure.yaml has its own override; XDG_CONFIG_HOME comes before ~/.config. */
    setenv("XDG_CONFIG_HOME", "/xdg", 1);
    n = iha_clouds_search_path("secure", p, 31);
    assert_int_equal(n, 5 * 3);
    assert_string_equal(p[3], "/xdg/openstack/secure.yaml");
    assert_string_equal(p[6], "/home/op/.config/openstack/secure.yaml");
    for (size_t i = 0; i < n; i++)
        free(p[i]);

    /* The bound holds. */
    n = iha_clouds_search_path("clouds", p, 2);
    assert_int_equal(n, 2);
    assert_null(p[2]);
    for (size_t i = 0; i < n; i++)
        free(p[i]);
    unsetenv("OS_CLIENT_CONFIG_FILE");
    unsetenv("XDG_CONFIG_HOME");
}

static void test_find_with_env(void **state)
{
    struct fx *f = *state;
    struct iha_cloud *c = NULL;
    struct iha_err err = {0};

    test_write_file(f->clouds, clouds_yaml);
    test_write_file(f->secure, secure_yaml);
    setenv("OS_CLIENT_CONFIG_FILE", f->clouds, 1);
    setenv("OS_CLIENT_SECURE_FILE", f->secure, 1);
    assert_int_equal(iha_clouds_find("iha", &c, &err), IHA_OK);
    assert_string_equal(c->application_credential_secret, "s3cr3t-from-secure");
    iha_cloud_free(c);
    unsetenv("OS_CLIENT_CONFIG_FILE");
    unsetenv("OS_CLIENT_SECURE_FILE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_appcred_with_secure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_merge_and_aliases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_explicit_domains_win, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_file_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_never_show_secrets, setup, teardown),
        cmocka_unit_test(test_search_path),
        cmocka_unit_test_setup_teardown(test_find_with_env, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
