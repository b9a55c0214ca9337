/* SPDX-License-Identifier: Apache-2.0 */
/** @file classify.c @brief Maps an Instance HA answer to a delivery outcome. */
#include "classify.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* Error bodies we bother to parse are small; anything larger is not Masakari's. */
#define MAX_PARSE_BODY (64u * 1024u)

const char *iha_outcome_name(enum iha_outcome o)
{
    switch (o) {
    case IHA_OUTCOME_DELIVERED:
        return "delivered";
    case IHA_OUTCOME_DUPLICATE:
        return "duplicate";
    case IHA_OUTCOME_MAINTENANCE:
        return "maintenance";
    case IHA_OUTCOME_REJECTED:
        return "rejected";
    case IHA_OUTCOME_AUTH_ERROR:
        return "auth_error";
    case IHA_OUTCOME_RETRY:
        return "retry";
    }
    return "unknown";
}

bool iha_outcome_is_delivered(enum iha_outcome o)
{
    return o == IHA_OUTCOME_DELIVERED || o == IHA_OUTCOME_DUPLICATE;
}

/*
 * Copies at most size-1 bytes, never cutting a UTF-8 sequence in half and turning
 * control characters into spaces (Masakari's 500 message carries a newline).
 */
static void copy_detail(char *out, size_t size, const char *s, size_t len)
{
    size_t n = len;

    if (!out || size == 0)
        return;
    if (n > size - 1) {
        n = size - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0u) == 0x80u)
            n--;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c < 0x20 || c == 0x7F) ? ' ' : (char)c;
    }
    out[n] = '\0';
    /* Trailing spaces from a final newline say nothing. */
    while (n > 0 && out[n - 1] == ' ')
        out[--n] = '\0';
}

/*
 * Finds the message of {"<fault>": {"code": N, "message": "..."}} (Masakari) or
 * {"error": {"message": "..."}} (Keystone). @return a borrowed string or NULL.
 */
static const char *fault_message(json_t *root)
{
    const char *k;
    json_t *v;

    if (!json_is_object(root))
        return NULL;
    json_object_foreach(root, k, v)
    {
        json_t *m = json_object_get(v, "message");
        if (json_is_object(v) && json_is_string(m))
            return json_string_value(m);
    }
    return NULL;
}

/* Case-sensitive search bounded by @p len; the body need not be NUL-terminated. */
static bool contains(const char *hay, size_t len, const char *needle)
{
    size_t nlen = strlen(needle);

    if (!hay || nlen == 0 || nlen > len)
        return false;
    for (size_t i = 0; i + nlen <= len; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, nlen) == 0)
            return true;
    return false;
}

static enum iha_outcome code_outcome(long code)
{
    if (code == 0)
        return IHA_OUTCOME_RETRY;
    if (code >= 200 && code < 300)
        return IHA_OUTCOME_DELIVERED;
    if (code == 401 || code == 403)
        return IHA_OUTCOME_AUTH_ERROR;
    if (code == 408 || code == 429 || (code >= 500 && code < 600))
        return IHA_OUTCOME_RETRY;
    /* 3xx (redirects are never followed), other 4xx, and codes no server should send. */
    return IHA_OUTCOME_REJECTED;
}

enum iha_outcome iha_classify(long http_code, const char *body, size_t len, char *detail,
                              size_t detail_size)
{
    enum iha_outcome o = code_outcome(http_code);
    json_t *root = NULL;
    const char *msg = NULL;
    const char *text;
    size_t text_len;
    char fallback[96];

    if (!body)
        len = 0;
    if (len > 0 && len <= MAX_PARSE_BODY) {
        root = json_loadb(body, len, 0, NULL);
        msg = fault_message(root);
    }

    if (http_code == 409) {
        /* Same code and fault name for both; only the message tells them apart. */
        text = msg ? msg : body;
        text_len = msg ? strlen(msg) : len;
        if (contains(text, text_len, "is duplicate"))
            o = IHA_OUTCOME_DUPLICATE;
        else if (contains(text, text_len, "under maintenance"))
            o = IHA_OUTCOME_MAINTENANCE;
        else
            o = IHA_OUTCOME_REJECTED;
    }

    if (http_code >= 300 && http_code < 400) {
        snprintf(fallback, sizeof(fallback), "HTTP %ld: redirect not followed (check the url)",
                 http_code);
        copy_detail(detail, detail_size, fallback, strlen(fallback));
    } else if (msg) {
        copy_detail(detail, detail_size, msg, strlen(msg));
    } else {
        if (http_code == 0)
            snprintf(fallback, sizeof(fallback), "transport error");
        else
            snprintf(fallback, sizeof(fallback), "HTTP %ld", http_code);
        copy_detail(detail, detail_size, fallback, strlen(fallback));
    }
    json_decref(root);
    return o;
}
