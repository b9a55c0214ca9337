/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file fuzz_util.h
 * @brief Helpers shared by the libFuzzer targets in tests/fuzz (header-only, test code).
 *
 * Every target feeds bytes from an untrusted sender to one parser and then drives what
 * the daemon does next with a parsed result (mapping, rendering), so that a value the
 * parser lets through but the next stage cannot handle is found too.
 */
#ifndef IHA_FUZZ_UTIL_H
#define IHA_FUZZ_UTIL_H

#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "rc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Warnings about bad input are expected by the thousand; only errors are worth a line. */
static inline void fuzz_quiet(void)
{
    iha_log_setup(IHA_LOG_ERROR, IHA_LOG_LOGFMT);
}

/* @return a NUL-terminated copy of @p data (owned), or NULL when out of memory. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (!s)
        return NULL;
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Serialises @p j the way replies and the queue do, and drops it (both NULL-safe). */
static inline void fuzz_render(json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

    free(text);
    json_decref(j);
}

/* Creates a private directory for a target that works on files (tmpfs when there is one:
 * the code under test fsyncs) into @p out; aborts when it cannot. */
static inline void fuzz_tmpdir(char *out, size_t size, const char *what)
{
    snprintf(out, size, "%s/iha-fuzz-%s-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", what);
    if (!mkdtemp(out))
        abort();
}

/* Removes @p path and everything under it, never following a symlink. */
static inline void fuzz_rmtree(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;

    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode) && (d = opendir(path)) != NULL) {
        while ((e = readdir(d)) != NULL) {
            char sub[1024];

            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            fuzz_rmtree(sub);
        }
        closedir(d);
    }
    IHA_IGNORE(remove(path), "a temporary file is left behind");
}

#endif
