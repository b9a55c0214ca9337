/* SPDX-License-Identifier: Apache-2.0 */
/** @file nagios.c @brief Adapter for Nagios-family notification records (not yet implemented). */
#include "nagios.h"

#include <stdlib.h>

enum iha_rc iha_nagios_parse(const json_t *body, struct iha_alert **alerts, size_t *n,
                             struct iha_err *err)
{
    (void)body;
    *alerts = NULL;
    *n = 0;
    iha_err_set(err, "", "the Nagios source is not implemented yet");
    return IHA_E_INVAL;
}

void iha_nagios_free(struct iha_alert *alerts, size_t n)
{
    if (!alerts)
        return;
    for (size_t i = 0; i < n; i++)
        iha_alert_clear(&alerts[i]);
    free(alerts);
}
