/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file macros.h
 * @brief iha-notify's command line and environment → one notification record.
 *
 * Sources, highest precedence first:
 *   1. options: --host-name, --host-state, --state-type, --notification-type,
 *      --service-desc, --service-state, --output, --host-address, --problem-id,
 *      --attempt, --var KEY=VALUE (repeatable), --dialect;
 *   2. positional macros, as in the classic command definitions:
 *        host    HOSTNAME HOSTSTATE NOTIFICATIONTYPE OUTPUT [LONGDATETIME]
 *        service HOSTNAME SERVICEDESC SERVICESTATE NOTIFICATIONTYPE OUTPUT [LONGDATETIME]
 *      Options end at the first positional word or at "--": every later word is positional,
 *      even one starting with "--" (OUTPUT is plugin output, which the monitored host
 *      controls, and must not become --url or --token-file);
 *   3. the environment of one dialect, detected in this order unless --dialect names it:
 *        checkmk  NOTIFY_*   (NOTIFY_WHAT or NOTIFY_HOSTNAME set)
 *        icinga2  ICINGA2_*  (the names our deploy/icinga2 NotificationCommand exports)
 *        nagios   NAGIOS_*   (enable_environment_macros=1; Naemon too: --dialect=naemon)
 *      Custom variables come from <PREFIX>__HOST<VAR> / __SERVICE<VAR> / __CONTACT<VAR>
 *      (e.g. NAGIOS__HOSTMASAKARI_SEGMENT) and become record keys `_HOST<VAR>`...
 *
 * The record is a JSON object of strings with lowercase keys (hostname, host_state,
 * state_type, notification_type, what, service_desc, service_state, output, host_address,
 * attempt, problem_id, last_problem_id, state_change, time, long_date_time, author, comment,
 * contact, dialect, record_id) plus the custom variables; empty values are left out.
 * `record_id` is 32 hex digits derived from dialect, host, service, notification type,
 * problem id, the time of the state change (the event time when neither is known), the host
 * or service state, the state type and the attempt, so every re-send of the spooled record
 * carries the same id while a SOFT and the later HARD record of one problem do not. It is not a
 * security boundary: anyone with a token can post any record.
 */
#ifndef IHA_NOTIFY_MACROS_H
#define IHA_NOTIFY_MACROS_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "rc.h"

#define IHA_NOTIFY_DEFAULT_URL "http://127.0.0.1:9868/api/v1/nagios"
#define IHA_NOTIFY_DEFAULT_SPOOL "/var/spool/iha-notify"
#define IHA_NOTIFY_DEFAULT_TIMEOUT_MS 10000u
/** Bounds on what one invocation may carry. */
#define IHA_NOTIFY_MAX_VARS 64
#define IHA_NOTIFY_MAX_VALUE 4096
#define IHA_NOTIFY_RECORD_ID_LEN 32

enum iha_notify_mode { IHA_NOTIFY_SEND, IHA_NOTIFY_FLUSH, IHA_NOTIFY_HELP, IHA_NOTIFY_VERSION };

/** A parsed invocation. Strings are borrowed from argv or are literals. */
struct iha_notify_cmd {
    enum iha_notify_mode mode;
    const char *url;
    const char *token_file; /**< NULL: send no Authorization header */
    const char *spool_dir;
    unsigned timeout_ms;
    json_t *record; /**< IHA_NOTIFY_SEND only; owned, free with iha_notify_cmd_clear() */
};

/**
 * Parses an invocation. @p argv[0] is the program name. @p envp is a NULL-terminated
 * environment (environ in main, a fixture in tests); @p now is used when the sender gives
 * no event time.
 * @return IHA_OK; IHA_E_INVAL (unknown option, bad value, missing hostname or
 *         notification_type, too many --var: @p err says which); IHA_E_NOMEM.
 *         On error @p out holds nothing to free.
 */
enum iha_rc iha_notify_parse(int argc, char *const argv[], char *const envp[], time_t now,
                             struct iha_notify_cmd *out, struct iha_err *err) IHA_MUST_CHECK;

/** Frees what @p c owns. NULL-safe. */
void iha_notify_cmd_clear(struct iha_notify_cmd *c);

/** The usage text for --help. */
const char *iha_notify_usage(void);

#endif
