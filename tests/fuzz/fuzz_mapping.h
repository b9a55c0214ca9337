/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file fuzz_mapping.h
 * @brief The shipped mapping rules for targets whose parsed alerts go on to be mapped.
 */
#ifndef IHA_FUZZ_MAPPING_H
#define IHA_FUZZ_MAPPING_H

#include <stdio.h>
#include <stdlib.h>

#include "alert.h"
#include "config.h"
#include "diag.h"
#include "fuzz_util.h"
#include "mapping.h"
#include "notification.h"

/* @return the embedded shipped rules, as the default configuration loads them; aborts when
 *         they do not load (that is a broken build, not a finding). */
static inline struct iha_ruleset *fuzz_shipped_rules(void)
{
    struct iha_config *cfg = NULL;
    struct iha_ruleset *rs = iha_ruleset_new();
    struct iha_diag *diag = iha_diag_new();

    if (!rs || !diag || iha_config_default(&cfg) != IHA_OK ||
        iha_config_load_rules(cfg, rs, diag) != IHA_OK) {
        fprintf(stderr, "fuzz: the shipped rules do not load\n");
        abort();
    }
    iha_config_free(cfg);
    iha_diag_free(diag);
    return rs;
}

/* Maps @p a through @p rs and renders every notification in both dialects. */
static inline void fuzz_map(const struct iha_ruleset *rs, const struct iha_alert *a)
{
    struct iha_map_result res = {0};

    if (iha_mapping_apply(rs, a, &res) != IHA_OK)
        return;
    for (size_t i = 0; i < res.n; i++) {
        const struct iha_notification *n = &res.items[i].notif;
        char key[1024];

        if (res.items[i].dropped)
            continue;
        fuzz_render(iha_notification_body(n, IHA_DIALECT_MASAKARI));
        fuzz_render(iha_notification_body(n, IHA_DIALECT_XLOUD));
        IHA_IGNORE(iha_notification_key(n, key, sizeof(key)), "only its safety is tested");
    }
    iha_map_result_clear(&res);
}

#endif
