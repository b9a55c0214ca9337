/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file config.h
 * @brief The gateway configuration: YAML file, embedded default, command-line overrides.
 *
 *     web:
 *       listen_address: 127.0.0.1:9868
 *       max_request_bytes: 8388608
 *       read_timeout: 30s
 *       auth:
 *         disabled: false              # allowed only on a loopback listen address
 *         bearer_tokens_file: /etc/iha-gateway/inbound-tokens   # one token per line
 *         basic_auth_users:            # bcrypt hashes, as in Prometheus' web.yml
 *           alertmanager: $2y$10$...
 *     instance_ha:
 *       url: http://127.0.0.1:15868
 *       dialect: masakari              # or xloud
 *       token_file: /etc/iha-gateway/service-token  # else $IHA_SERVICE_TOKEN
 *       connect_timeout: 3s
 *       timeout: 10s
 *       retry_for: 20s                 # how long one request retries 5xx before answering 503
 *       tls:                           # for Instance HA (ca_file, cert_file, key_file, insecure)
 *       auth:                          # the service token (keystone.h, clouds.h)
 *         type: static                 # static | password | application_credential | cloud
 *         auth_url: https://keystone:5000/v3
 *         application_credential_id: ...     # or _name with username/user_id
 *         application_credential_secret_file: /etc/iha-gateway/app-cred-secret
 *         username: ...                # password: username or user_id, user_domain_name,
 *         password_file: ...           #   password or password_file, project_name or
 *         project_name: service        #   project_id, project_domain_name (default Default)
 *         cloud: iha                   # type cloud: entry of clouds.yaml (+ secure.yaml)
 *         region_name: RegionOne       # catalog region for endpoint discovery
 *         interface: public            # catalog interface: public | internal | admin
 *         tls: {ca_file: ..., cert_file: ..., key_file: ..., insecure: false}   # for Keystone
 *     dedupe:
 *       window: 180s
 *       max_entries: 100000
 *     mapping:
 *       rule_files: [/etc/iha-gateway/rules.yml]   # globs allowed; absent = the shipped rules
 *     storage:                         # the durable queue (queue.h)
 *       path: /var/lib/iha-gateway     # data directory; --storage.path
 *       max_bytes: 256MiB              # segment bytes on disk; beyond it 503
 *       max_entries: 10000             # notifications waiting for delivery; beyond it 503
 *       segment_bytes: 4MiB            # segment rotation size
 *       max_age: 6h                    # retried this long after arrival, then dead-lettered
 *       max_backoff: 60s               # cap of the exponential backoff between attempts
 *     policy:                          # evacuating notifications only (policy.h)
 *       enabled: true
 *       settle: 10s                    # wait before an evacuation may go; a resolve cancels it
 *       storm:
 *         window: 5m                   # distinct failed hosts counted over this window
 *         max_hosts: 5                 # more than this many trips the guard (0: no bound)
 *         domain_percent: 55           # more than this share of a failure domain trips (0: off)
 *         domain_min_hosts: 3          # ...when at least this many of its hosts failed
 *         failure_domain: segment      # the host's Instance HA segment, or none
 *         auto_release: 0s             # release holds once clear this long (0: never)
 *       flapping:
 *         count: 3                     # fire-and-resolve cycles within window make a host flap
 *         window: 10m
 *         settle: 2m                   # a flapping host must stay down this long
 *       rate_limit:
 *         burst: 3                     # evacuations that may go at once (0: no rate limit)
 *         interval: 10s                # one more every interval
 *       heartbeat:
 *         alertname: Watchdog          # the always-firing alert of each Alertmanager
 *         missing_after: 0s            # missing this long holds evacuations (0: off)
 *     log:
 *       level: info
 *       format: logfmt                 # or json
 */
#ifndef IHA_CONFIG_H
#define IHA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "log.h"
#include "notification.h"
#include "rc.h"
#include "tls.h"

#define IHA_DEFAULT_LISTEN "127.0.0.1:9868"
#define IHA_DEFAULT_URL "http://127.0.0.1:15868"
#define IHA_DEFAULT_INBOUND_TOKENS "/etc/iha-gateway/inbound-tokens"
#define IHA_SERVICE_TOKEN_ENV "IHA_SERVICE_TOKEN"
#define IHA_DEFAULT_SERVICE_TOKEN_FILE "/etc/iha-gateway/service-token"
#define IHA_DEFAULT_STORAGE_PATH "/var/lib/iha-gateway"

struct iha_basic_user {
    char *name;
    char *hash; /**< bcrypt / crypt(3) hash, never a clear password */
};

/** instance_ha.auth.type: where the service token comes from. */
enum iha_auth_type {
    IHA_AUTH_STATIC,   /**< token_file / $IHA_SERVICE_TOKEN (the default) */
    IHA_AUTH_PASSWORD, /**< Keystone v3 password */
    IHA_AUTH_APPCRED,  /**< Keystone v3 application credential */
    IHA_AUTH_CLOUD,    /**< an entry of clouds.yaml (+ secure.yaml) */
};

/** web.tls_server_config.client_auth_type, in Prometheus' web.yml spelling. */
enum iha_web_client_auth {
    IHA_WEB_CLIENT_AUTH_UNSET,           /**< not given: no client certificate asked for */
    IHA_WEB_CLIENT_AUTH_NONE,            /**< NoClientCert */
    IHA_WEB_CLIENT_AUTH_VERIFY_IF_GIVEN, /**< VerifyClientCertIfGiven */
    IHA_WEB_CLIENT_AUTH_REQUIRE,         /**< RequireAndVerifyClientCert */
};

/** web.tls_server_config.min_version. */
enum iha_web_tls_min {
    IHA_WEB_TLS_MIN_UNSET, /**< not given: TLS 1.2 */
    IHA_WEB_TLS_MIN_TLS12, /**< TLS12 */
    IHA_WEB_TLS_MIN_TLS13, /**< TLS13 */
};

/** instance_ha.auth; secrets are wiped by iha_config_free() and never printed. */
struct iha_auth_config {
    enum iha_auth_type type;
    char *auth_url;
    char *username;
    char *user_id;
    char *user_domain_name;
    char *user_domain_id;
    char *password; /**< secret */
    char *password_file;
    char *project_name;
    char *project_id;
    char *project_domain_name;
    char *project_domain_id;
    char *application_credential_id;
    char *application_credential_name;
    char *application_credential_secret; /**< secret */
    char *application_credential_secret_file;
    char *cloud;
    char *region_name;
    char *interface;           /**< NULL = public */
    struct iha_tls_config tls; /**< for Keystone */
};

/** Plain data, owned by iha_config_free(). */
struct iha_config {
    char *source; /**< file name, or "<embedded default>" */
    /* web */
    char *listen_address;
    size_t max_request_bytes;
    unsigned read_timeout_s;
    bool auth_disabled;
    char *bearer_tokens_file; /**< may be NULL */
    struct iha_basic_user *basic_users;
    size_t n_basic_users;
    /** web.tls_server_config, as in Prometheus' web.yml; all NULL and UNSET: plain HTTP */
    struct {
        char *cert_file, *key_file, *client_ca_file;
        enum iha_web_client_auth client_auth_type;
        enum iha_web_tls_min min_version;
    } web_tls;
    /* instance_ha */
    char *url;
    enum iha_dialect dialect;
    char *token_file; /**< may be NULL: then $IHA_SERVICE_TOKEN */
    unsigned connect_timeout_ms;
    unsigned timeout_ms;
    unsigned retry_for_ms;
    bool url_set;                /**< instance_ha.url was given (else: catalog discovery) */
    struct iha_tls_config tls;   /**< instance_ha.tls */
    struct iha_auth_config auth; /**< instance_ha.auth */
    /* dedupe */
    unsigned dedupe_window_s;
    size_t dedupe_max_entries;
    /* mapping */
    char **rule_files; /**< globs; n_rule_files == 0 means the embedded shipped rules */
    size_t n_rule_files;
    /* storage */
    char *storage_path;
    size_t storage_max_bytes;
    size_t storage_max_entries;
    size_t storage_segment_bytes;
    unsigned storage_max_age_ms;
    unsigned storage_max_backoff_ms;
    /* policy */
    bool policy_enabled;
    unsigned policy_settle_ms;
    unsigned policy_window_ms;
    unsigned policy_max_hosts;
    unsigned policy_domain_percent;
    unsigned policy_domain_min_hosts;
    char *policy_failure_domain; /**< "segment" or "none" */
    unsigned policy_auto_release_ms;
    unsigned policy_flap_count;
    unsigned policy_flap_window_ms;
    unsigned policy_flap_settle_ms;
    unsigned policy_rate_burst;
    unsigned policy_rate_interval_ms;
    char *policy_heartbeat_alertname;
    unsigned policy_heartbeat_after_ms;
    /* log */
    enum iha_log_level log_level;
    enum iha_log_format log_format;
};

/** @return the embedded default configuration in @p out (owned), IHA_E_NOMEM otherwise. */
enum iha_rc iha_config_default(struct iha_config **out) IHA_MUST_CHECK;

/**
 * Loads @p path over the defaults. Every problem is added to @p diag with
 * file:line:column (unknown keys with "did you mean", wrong kinds, bad durations,
 * sizes, addresses, URLs, dialects, levels).
 * @return IHA_OK; IHA_E_CONFIG when @p diag has errors; IHA_E_IO; IHA_E_NOMEM.
 */
enum iha_rc iha_config_load_file(const char *path, struct iha_config **out,
                                 struct iha_diag *diag) IHA_MUST_CHECK;

/** Same as iha_config_load_file() from text, with @p name for messages. */
enum iha_rc iha_config_load(const char *name, const char *text, size_t len, struct iha_config **out,
                            struct iha_diag *diag) IHA_MUST_CHECK;

/**
 * Loads the rule files of @p cfg (globs expanded in sorted order; none = the embedded
 * shipped rules) into @p rs. A glob that matches nothing is an error.
 * @return IHA_OK or IHA_E_CONFIG with every problem in @p diag.
 */
struct iha_ruleset;
enum iha_rc iha_config_load_rules(const struct iha_config *cfg, struct iha_ruleset *rs,
                                  struct iha_diag *diag) IHA_MUST_CHECK;

/** Parses "500ms", "30s", "5m", "1h" (or a bare number of seconds) into milliseconds. */
int iha_duration_parse(const char *s, unsigned *ms_out);

/** Replaces a string field of @p cfg with a copy of @p value. @return IHA_OK or IHA_E_NOMEM. */
enum iha_rc iha_config_set_string(char **field, const char *value) IHA_MUST_CHECK;

/** Called with a dotted key of the config file ("instance_ha.tls.ca_file"). */
typedef void (*iha_config_key_fn)(void *cls, const char *key);

/**
 * Calls @p fn, in file order, for every key of the config file whose value differs
 * between @p a and @p b (after command-line flags; secrets compared, never passed on).
 * Every key the loader knows is compared, so a key added later is never skipped.
 * Derived fields (source, url_set) are not keys. Any thread.
 */
void iha_config_diff(const struct iha_config *a, const struct iha_config *b, iha_config_key_fn fn,
                     void *cls);

/** Calls @p fn for every key the loader knows, in file order. */
void iha_config_foreach_key(iha_config_key_fn fn, void *cls);

/** Frees @p cfg. NULL-safe. */
void iha_config_free(struct iha_config *cfg);

#endif
