/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file http_server_suspend.c
 * @brief A request waiting for another thread: the pending list, suspending the
 *        connection, and resuming it for a pipeline reply or the password verifier.
 *
 * Every cross-thread hand-over of a request is here, so its locking reads in one file
 * (docs/threads.md).
 */
#include "http_server_int.h"

#include <netinet/in.h>

#include "log.h"

/* Under h->lock. */
void iha_http_pending_unlink(struct iha_http *h, struct req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        h->pending = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    h->n_pending--;
    pthread_cond_broadcast(&h->cond);
}

/*
 * Under r->lock, HTTP thread: parks the connection until iha_http_req_resume(). Both waits
 * use it, for a pipeline or reload reply and for the password verifier's verdict.
 */
static void req_suspend(struct req *r)
{
    if (!r->suspended) {
        MHD_suspend_connection(r->conn);
        r->suspended = true;
    }
}

/*
 * Under r->lock, from any thread: lets MHD call a suspended request again. The one way a
 * waiting request is woken: its reply, the verifier's hand-back, or iha_http_stop().
 */
void iha_http_req_resume(struct req *r)
{
    if (r->suspended) {
        r->suspended = false;
        MHD_resume_connection(r->conn);
    }
}

/*
 * The reply for one ingested request, from any thread. The request is in h's
 * pending list unless iha_http_stop() has already answered it (abandoned); in the
 * latter case the server may be gone, so only the request itself is touched.
 */
void iha_http_on_reply(void *cls, unsigned status, json_t *body)
{
    struct req *r = cls;
    struct iha_http *h;

    pthread_mutex_lock(&r->lock);
    if (r->replied) {
        /* A second reply breaks the ingest contract; its reference is already gone. */
        pthread_mutex_unlock(&r->lock);
        json_decref(body);
        IHA_LOG(IHA_LOG_ERROR, "BUG: a request was answered twice; second answer dropped");
        return;
    }
    r->replied = true;
    if (r->abandoned) {
        json_decref(body);
        iha_http_req_unref_unlock(r);
        return;
    }
    r->reply_status = status;
    r->reply_body = body;
    r->reply_ready = true;
    h = r->h;
    pthread_mutex_lock(&h->lock);
    iha_http_pending_unlink(h, r);
    iha_http_req_resume(r);
    pthread_mutex_unlock(&h->lock);
    iha_http_req_unref_unlock(r);
}

static enum MHD_Result queue_reply(struct req *r, const char *method, const char *url)
{
    unsigned status;
    json_t *body;

    pthread_mutex_lock(&r->lock);
    status = r->reply_status;
    body = r->reply_body;
    r->reply_body = NULL;
    pthread_mutex_unlock(&r->lock);
    if (!body)
        body = json_object();
    iha_http_log_request(r->h, r->conn, method, url, status, r->t0_ms);
    return iha_http_queue_json(r->conn, status, body, NULL, NULL);
}

/* Either queues the reply that already arrived or suspends until iha_http_on_reply() resumes us. */
enum MHD_Result iha_http_answer_or_suspend(struct req *r, const char *method, const char *url)
{
    bool ready;

    pthread_mutex_lock(&r->lock);
    ready = r->reply_ready;
    if (!ready)
        req_suspend(r);
    pthread_mutex_unlock(&r->lock);
    if (ready)
        return queue_reply(r, method, url);
    return MHD_YES;
}

/* Verifier thread (or the stopping thread): the job is back; wake the request if it waits. */
static void on_verified(void *cls, struct iha_auth_job *job)
{
    struct req *r = cls;

    pthread_mutex_lock(&r->lock);
    r->auth_job = job;
    r->auth_done = true;
    iha_http_req_resume(r);
    iha_http_req_unref_unlock(r);
}

/* Hands @p job (taken) to the verifier for @p r. @return false when busy. */
bool iha_http_verify_submit(struct iha_http *h, struct MHD_Connection *c, struct req *r,
                            struct iha_auth_job *job)
{
    char peer[INET6_ADDRSTRLEN];

    iha_http_peer_name(c, peer, sizeof(peer));
    r->refs++; /* the verifier's, until on_verified() */
    if (iha_auth_verifier_submit(h->verifier, peer, job, on_verified, r) != IHA_OK) {
        r->refs--;
        iha_auth_job_free(job);
        return false;
    }
    r->auth_waiting = true;
    return true;
}

/*
 * Last call of a request whose credential went to the verifier: waits (suspended) for
 * the verdict, then answers a refused or busy one. @return true when the request may
 * go on; otherwise *ret is what to return to MHD.
 */
bool iha_http_verify_settle(struct iha_http *h, struct req *r, const char *method, const char *url,
                            enum MHD_Result *ret)
{
    struct iha_auth_job *job;
    enum iha_auth_result res;
    bool accepted;
    char why[128];

    pthread_mutex_lock(&r->lock);
    if (!r->auth_done) {
        req_suspend(r);
        pthread_mutex_unlock(&r->lock);
        *ret = MHD_YES;
        return false;
    }
    job = r->auth_job;
    r->auth_job = NULL;
    pthread_mutex_unlock(&r->lock);
    r->auth_waiting = false;

    why[0] = '\0';
    res = iha_auth_job_finish(h->auth, job, &accepted, why, sizeof(why));
    if (h->metrics && res != IHA_AUTH_BUSY)
        iha_metrics_add(h->metrics, "iha_gateway_auth_basic_verifications_total", 1,
                        accepted ? "accepted" : "refused");
    iha_auth_job_free(job);
    if (res == IHA_AUTH_OK)
        return true;
    if (res == IHA_AUTH_BUSY)
        *ret = iha_http_reject_busy(h, r->conn, method, url, r->route->format, why);
    else
        *ret = iha_http_reject(h, r->conn, method, url, r->route->format, 401,
                               why[0] ? why : "authentication required", "");
    return false;
}
