/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file queue_cmds.c
 * @brief queue, deadletter and hold: inspect the durable queue and act on it.
 *
 * One command of the iha-gateway binary (see cli_int.h).
 */
#include "cli_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "diag.h"
#include "queue.h"

/*
 * Inspection reads the segments and the dead-letter file without the daemon's lock:
 * records are append-only and checksummed, so a record being written is merely not
 * seen yet. Actions (retry, drop, requeue) are command files in DIR/control that the
 * daemon runs within a second and answers; with no daemon running they wait for its
 * next start, before recovered notifications are delivered.
 */

static void print_item(void *cls, const struct iha_queue_item *it)
{
    bool full = *(bool *)cls;
    json_t *o = json_deep_copy(it->record);
    size_t n = json_array_size(it->attempts);

    if (!o)
        return;
    json_object_set_new(o, "seq", json_integer((json_int_t)it->seq));
    json_object_set_new(o, "attempts_total", json_integer(it->n_attempts));
    if (it->hold)
        json_object_set(o, "hold", (json_t *)it->hold);
    if (full)
        json_object_set(o, "attempts", (json_t *)it->attempts);
    else if (n)
        json_object_set(o, "last_attempt", json_array_get(it->attempts, n - 1));
    if (full) {
        char *s = json_dumps(o, JSON_INDENT(2));
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        iha_cli_print_line(o);
    }
}

static int queue_action(const char *dir, const char *cmd, const char *id)
{
    char answer[1024];
    int st = iha_queue_send_control(dir, cmd, id, 5000, answer, sizeof(answer));

    fprintf(st == 0 ? stdout : stderr, "%s%s\n", st == 0 ? "" : "iha-gateway: ", answer);
    return st;
}

static int cmd_queue(const struct options *o, const char *dir)
{
    struct iha_queue_config qc = {.dir = dir, .read_only = true};
    struct iha_queue *q = NULL;
    struct iha_err err = {0};
    const char *sub = o->n_args ? o->args[0] : "";
    const char *id = o->n_args > 1 ? o->args[1] : NULL;
    bool full = strcmp(sub, "show") == 0;
    int status = 1;

    if (strcmp(sub, "list") != 0 &&
        !((full || strcmp(sub, "retry") == 0 || strcmp(sub, "drop") == 0) && id)) {
        fprintf(stderr, "usage: iha-gateway queue list|show ID|retry ID|drop ID\n");
        return 2;
    }
    if (iha_queue_open(&qc, &q, &err) != IHA_OK) {
        fprintf(stderr, "iha-gateway: %s\n", err.msg);
        return 1;
    }
    if (strcmp(sub, "list") == 0) {
        struct iha_queue_stats s = iha_queue_stats(q);
        iha_queue_foreach(q, print_item, &full);
        fprintf(stderr, "%zu queued notification(s) in %s; %zu segment(s), %llu bytes%s\n", s.live,
                dir, s.segments, (unsigned long long)s.disk_bytes,
                s.corrupt ? "; damaged records were skipped (see the daemon log)" : "");
        status = 0;
    } else if (iha_queue_find(q, id, NULL, full ? print_item : NULL, &full) != IHA_OK) {
        fprintf(stderr, "iha-gateway: no queued notification %s in %s\n", id, dir);
    } else if (full) {
        status = 0;
    } else {
        status = queue_action(dir, sub, id);
    }
    iha_queue_close(q);
    return status;
}

static int cmd_deadletter(const struct options *o, const char *dir)
{
    const char *sub = o->n_args ? o->args[0] : "";
    char path[4096], *line = NULL;
    size_t cap = 0, count = 0;
    ssize_t len;
    FILE *f;
    json_t *requeued;

    if (strcmp(sub, "requeue") == 0 && o->n_args > 1)
        return queue_action(dir, "requeue", o->args[1]);
    if (strcmp(sub, "list") != 0) {
        fprintf(stderr, "usage: iha-gateway deadletter list|requeue ID\n");
        return 2;
    }
    iha_queue_deadletter_path(dir, path, sizeof(path));
    f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT) {
            fprintf(stderr, "no dead-lettered notification in %s\n", dir);
            return 0;
        }
        fprintf(stderr, "iha-gateway: %s: %s\n", path, strerror(errno));
        return 1;
    }
    requeued = json_object();
    /* Two passes over the lines: requeue notes may follow their record. */
    while ((len = getline(&line, &cap, f)) > 0) {
        json_t *j = json_loadb(line, (size_t)len, 0, NULL);
        const char *r = json_string_value(json_object_get(j, "requeued"));
        if (r && requeued)
            json_object_set(requeued, r, json_object_get(j, "as"));
        json_decref(j);
    }
    rewind(f);
    while ((len = getline(&line, &cap, f)) > 0) {
        json_t *j = json_loadb(line, (size_t)len, 0, NULL), *n, *out;
        const char *id = json_string_value(json_object_get(j, "id"));
        if (!j || !id || json_object_get(j, "requeued")) {
            json_decref(j);
            continue;
        }
        n = json_object_get(j, "notification");
        out = json_pack(
            "{s:s,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?}", "id", id, "dead_lettered_at",
            json_object_get(j, "dead_lettered_at"), "reason", json_object_get(j, "reason"),
            "outcome", json_object_get(j, "outcome"), "http_code", json_object_get(j, "http_code"),
            "detail", json_object_get(j, "detail"), "type", json_object_get(n, "type"), "hostname",
            json_object_get(n, "hostname"), "attempts_total", json_object_get(j, "attempts_total"));
        if (out && json_object_get(requeued, id))
            json_object_set(out, "requeued_as", json_object_get(requeued, id));
        if (out) {
            iha_cli_print_line(out);
            count++;
        }
        json_decref(j);
    }
    json_decref(requeued);
    free(line);
    fclose(f);
    fprintf(stderr, "%zu dead-lettered notification(s) in %s (full records: %s)\n", count, dir,
            path);
    return 0;
}

/* One held notification, from its queue record and HOLD. */
static void print_hold(void *cls, const struct iha_queue_item *it)
{
    size_t *count = cls;
    json_t *o;

    if (!it->hold)
        return;
    o = json_pack(
        "{s:I,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?}", "seq", (json_int_t)it->seq, "id",
        json_object_get(it->record, "id"), "hostname", json_object_get(it->record, "hostname"),
        "rule", json_object_get(it->record, "rule"), "reason", json_object_get(it->hold, "reason"),
        "held_at", json_object_get(it->hold, "at"), "guard", json_object_get(it->hold, "guard"));
    if (o) {
        iha_cli_print_line(o);
        (*count)++;
    }
}

/*
 * hold list reads the queue (held notifications are recorded there, so this works with
 * the daemon stopped too); release and drop go to the daemon like queue actions.
 */
static int cmd_hold(const struct options *o, const char *dir)
{
    struct iha_queue_config qc = {.dir = dir, .read_only = true};
    struct iha_queue *q = NULL;
    struct iha_err err = {0};
    const char *sub = o->n_args ? o->args[0] : "";
    const char *id = o->n_args > 1 ? o->args[1] : NULL;
    size_t count = 0;

    if (strcmp(sub, "release") == 0 && id)
        return queue_action(dir, "hold-release", id);
    if (strcmp(sub, "drop") == 0 && id && strcmp(id, "--all") != 0)
        return queue_action(dir, "drop", id);
    if (strcmp(sub, "list") != 0) {
        fprintf(stderr, "usage: iha-gateway hold list|release ID|release --all|drop ID\n");
        return 2;
    }
    if (iha_queue_open(&qc, &q, &err) != IHA_OK) {
        fprintf(stderr, "iha-gateway: %s\n", err.msg);
        return 1;
    }
    iha_queue_foreach(q, print_hold, &count);
    iha_queue_close(q);
    fprintf(stderr,
            "%zu held evacuation(s) in %s; release with iha-gateway hold release ID|--all\n", count,
            dir);
    return 0;
}

int iha_cli_storage(const struct options *o)
{
    struct iha_diag *diag = iha_diag_new();
    struct iha_config *cfg = NULL;
    int status = 1;

    if (!diag)
        return 1;
    if (iha_cli_load_config(o, &cfg, diag) != IHA_OK) {
        iha_cli_print_diag(diag);
    } else if (strcmp(o->command, "queue") == 0) {
        status = cmd_queue(o, cfg->storage_path);
    } else if (strcmp(o->command, "hold") == 0) {
        status = cmd_hold(o, cfg->storage_path);
    } else {
        status = cmd_deadletter(o, cfg->storage_path);
    }
    iha_config_free(cfg);
    iha_diag_free(diag);
    return status;
}
