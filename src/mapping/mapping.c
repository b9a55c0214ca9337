/* SPDX-License-Identifier: Apache-2.0 */
/** @file mapping.c @brief Mapping rules: the rule set object and its read-only views.
 *
 * This file holds the rule set's life (new, free) and what callers read back (counts,
 * names, rule info, the prefilter switch). The jobs done on a rule set live apart so each
 * can be read on its own: compiling rule files (mapping_load.c), the alertname prefilter
 * (mapping_index.c) and mapping one alert (mapping_eval.c).
 */
#include "mapping.h"

#include <stdlib.h>
#include <string.h>

#include "mapping_int.h"

/* ---- rule set ---------------------------------------------------------- */

static void action_clear(struct action *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->fields[i].key);
        iha_extract_free(a->fields[i].x);
    }
    free(a->fields);
    memset(a, 0, sizeof(*a));
}

void iha_mapping_rule_clear(struct rule *r)
{
    free(r->name);
    free(r->origin);
    iha_matchers_free(r->matchers);
    iha_extract_free(r->hostname);
    action_clear(&r->firing);
    action_clear(&r->resolved);
    free(r->file);
    free(r->mpos);
    for (size_t i = 0; i < r->n_hsrc; i++)
        free(r->hsrc[i]);
    free(r->hsrc);
    memset(r, 0, sizeof(*r));
}

struct iha_ruleset *iha_ruleset_new(void)
{
    return calloc(1, sizeof(struct iha_ruleset));
}

void iha_ruleset_free(struct iha_ruleset *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n; i++)
        iha_mapping_rule_clear(&rs->rules[i]);
    free(rs->rules);
    iha_mapping_index_clear(rs);
    free(rs);
}

size_t iha_ruleset_count(const struct iha_ruleset *rs)
{
    return rs ? rs->n : 0;
}

const char *iha_ruleset_rule_name(const struct iha_ruleset *rs, size_t i)
{
    return (rs && i < rs->n) ? rs->rules[i].name : NULL;
}

/* ---- read-only views --------------------------------------------------- */

static const struct iha_extract *action_field(const struct action *act, const char *key)
{
    for (size_t i = 0; i < act->n; i++)
        if (strcmp(act->fields[i].key, key) == 0)
            return act->fields[i].x;
    return NULL;
}

bool iha_ruleset_rule_info(const struct iha_ruleset *rs, size_t i, struct iha_rule_info *info)
{
    const struct rule *r;

    if (!rs || i >= rs->n || !info)
        return false;
    r = &rs->rules[i];
    memset(info, 0, sizeof(*info));
    info->name = r->name;
    info->pos = r->pos;
    info->sources = r->sources;
    info->matchers = r->matchers;
    info->matcher_pos = r->mpos;
    info->type = r->type;
    info->hostname = r->hostname;
    info->hostname_pos = r->hostname_pos;
    info->hostname_sources = (const char *const *)r->hsrc;
    info->n_hostname_sources = r->n_hsrc;
    info->firing_sends = r->firing.sends;
    info->resolved_sends = r->resolved.sends;
    info->firing_pos = r->firing_pos;
    info->firing_event = action_field(&r->firing, "event");
    info->firing_host_status = action_field(&r->firing, "host_status");
    info->cont = r->cont;
    return true;
}

void iha_ruleset_set_index(struct iha_ruleset *rs, bool on)
{
    if (rs)
        rs->no_index = !on;
}

size_t iha_ruleset_unindexed_count(const struct iha_ruleset *rs)
{
    if (!rs)
        return 0;
    return rs->ix_ok ? rs->n_always : rs->n;
}
