/*
 * What a check_each loop does at a signal ("on_signal"): the test's signal
 * handler, given as data. The k-th signal at one address takes the k-th
 * action: skip the address (the C loop's `continue` from its sigsetjmp()),
 * or make calls (the handler's, for that address: their address fields step
 * by a stride an address) and try the address again. Each call runs here as
 * the process's own op, its request and reply written down as a step, so
 * the harness answers the port's code from the steps and checks that each
 * call it makes is the one made. Past the last action, or after a call that
 * did not go through whole, the loop stops: the port's code judges there.
 */
#include "agent.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ACTIONS 4
#define MAX_CALLS 4
#define MAX_STRIDES 4

/* A field of a call that is base + i * step for the loop's address i. */
struct stride {
	char key[MAX_KEY];
	uint64_t base, step;
};

struct loop_call {
	struct buf fields; /* `"op":...,...`: the call's other fields as given */
	struct stride strides[MAX_STRIDES];
	int nstrides;
};

struct loop_action {
	bool skip;
	struct loop_call calls[MAX_CALLS];
	int ncalls;
};

struct on_signal {
	int64_t proc;
	struct loop_action actions[MAX_ACTIONS];
	int nactions;
};

void on_signal_free(struct on_signal *h)
{
	if (!h)
		return;
	for (int a = 0; a < h->nactions; a++)
		for (int c = 0; c < h->actions[a].ncalls; c++)
			buf_release(&h->actions[a].calls[c].fields);
	free(h);
}

/* Whether the call's field `key` steps with the address. */
static bool strided(const struct loop_call *c, const char *key)
{
	for (int i = 0; i < c->nstrides; i++)
		if (!strcmp(c->strides[i].key, key))
			return true;
	return false;
}

/* A call {"op":..., fields..., "stride":{key: step}}, its strided fields as at the loop's address 0; -1 (r->err) for a bad one. */
static int parse_call(struct request *r, struct span text, struct loop_call *c)
{
	struct request call, steps = { 0 };
	int rc = -1;
	if (req_parse_object(&call, text.p, text.len)) {
		req_bad(r, "field \"on_signal\": a call: %s", call.err);
		goto out;
	}
	const struct jfield *op = req_field(&call, "op"), *stride = req_field(&call, "stride");
	char name[MAX_KEY];
	if (!op || op->type != J_STRING || op->escaped || op->rawlen >= sizeof name || (memcpy(name, op->raw, op->rawlen), name[op->rawlen] = '\0', !proc_op_known(name))) {
		req_bad(r, "field \"on_signal\": a call's \"op\": expected the name of an op");
		goto out;
	}
	if (stride && (stride->type != J_NESTED || req_parse_object(&steps, stride->raw, stride->rawlen))) {
		req_bad(r, "field \"on_signal\": a call's \"stride\": expected an object of hex steps");
		goto out;
	}
	for (int i = 0; i < steps.n; i++) {
		struct stride *s = &c->strides[c->nstrides];
		if (c->nstrides == MAX_STRIDES) {
			req_bad(r, "field \"on_signal\": a call strides more than %d fields", MAX_STRIDES);
			goto out;
		}
		memcpy(s->key, steps.f[i].key, MAX_KEY);
		if (req_u64(&steps, s->key, &s->step) || req_u64(&call, s->key, &s->base)) {
			req_bad(r, "field \"on_signal\": a call's stride of \"%s\": %s", s->key, steps.err[0] ? steps.err : call.err);
			goto out;
		}
		c->nstrides++;
	}
	for (int i = 0; i < call.n; i++) {
		const struct jfield *f = &call.f[i];
		if (f == stride || strided(c, f->key))
			continue;
		if (f->type == J_NESTED) {
			req_bad(r, "field \"on_signal\": a call's field \"%s\": expected a number, string or boolean", f->key);
			goto out;
		}
		buf_puts(&c->fields, c->fields.len ? ",\"" : "\"");
		buf_puts(&c->fields, f->key);
		buf_puts(&c->fields, f->type == J_STRING ? "\":\"" : "\":");
		buf_append(&c->fields, f->raw, f->rawlen);
		if (f->type == J_STRING)
			buf_puts(&c->fields, "\"");
	}
	rc = c->fields.oom ? req_bad(r, "out of memory") : 0;
out:
	req_done(&steps);
	req_done(&call);
	return rc;
}

/* An action {"skip":true} or {"calls":[...]}; -1 (r->err) for a bad one. */
static int parse_action(struct request *r, struct span text, struct loop_action *a)
{
	struct request action;
	struct span calls[MAX_CALLS];
	size_t n = 0;
	int rc = -1;
	if (req_parse_object(&action, text.p, text.len)) {
		req_bad(r, "field \"on_signal\": an action: %s", action.err);
		goto out;
	}
	if (req_bool_opt(&action, "skip", &a->skip) || (!a->skip && req_objects(&action, "calls", calls, MAX_CALLS, &n))) {
		req_bad(r, "field \"on_signal\": an action: %s", action.err);
		goto out;
	}
	if (!a->skip && !n) {
		req_bad(r, "field \"on_signal\": an action: expected \"skip\": true or calls");
		goto out;
	}
	for (; a->ncalls < (int)n; a->ncalls++)
		if (parse_call(r, calls[a->ncalls], &a->calls[a->ncalls]))
			goto out;
	rc = 0;
out:
	req_done(&action);
	return rc;
}

int on_signal_parse(struct request *r, struct on_signal **out)
{
	struct span actions[MAX_ACTIONS];
	size_t n;
	int64_t proc;
	*out = NULL;
	if (!req_field(r, "on_signal"))
		return 0;
	if (req_int(r, "proc", 1, INT_MAX, &proc) || req_objects(r, "on_signal", actions, MAX_ACTIONS, &n))
		return -1;
	struct on_signal *h = calloc(1, sizeof *h);
	if (!h)
		return req_bad(r, "out of memory");
	h->proc = proc;
	for (; h->nactions < (int)n; h->nactions++)
		if (parse_action(r, actions[h->nactions], &h->actions[h->nactions])) {
			h->nactions++;
			on_signal_free(h);
			return -1;
		}
	*out = h;
	return 0;
}

enum loop_next on_signal_action(const struct on_signal *h, size_t k)
{
	if (!h || k >= (size_t)h->nactions)
		return LOOP_STOP;
	return h->actions[k].skip ? LOOP_SKIP : LOOP_CALLS;
}

/* Whether a call's reply says it went through whole: ok, and any uffd ioctl's progress the len asked for. */
static bool whole(const struct buf *reply, uint64_t len)
{
	static const char *const progress[] = { "copy", "mapped", "move", "zeropage", "updated" };
	struct request r;
	bool ok = reply->len && !reply->oom && !req_parse(&r, reply->p, reply->len - 1);
	const struct jfield *f = ok ? req_field(&r, "ok") : NULL;
	ok = f && f->type == J_BOOL && f->raw[0] == 't';
	for (size_t i = 0; ok && i < sizeof progress / sizeof *progress; i++) {
		uint64_t done;
		if (req_field(&r, progress[i]))
			ok = !req_u64(&r, progress[i], &done) && done == len;
	}
	req_done(&r);
	return ok;
}

bool on_signal_calls(const struct on_signal *h, size_t k, uint64_t i, struct buf *steps)
{
	const struct loop_action *a = &h->actions[k];
	struct buf body = { 0 }, line = { 0 }, reply = { 0 };
	bool ok = true;
	buf_puts(steps, "[");
	for (int c = 0; ok && c < a->ncalls; c++) {
		const struct loop_call *call = &a->calls[c];
		uint64_t len = 0;
		body.len = line.len = 0;
		buf_append(&body, call->fields.p, call->fields.len);
		for (int s = 0; s < call->nstrides; s++) {
			uint64_t v = call->strides[s].base + i * call->strides[s].step;
			buf_puts(&body, ",\"");
			buf_puts(&body, call->strides[s].key);
			buf_puts(&body, "\":\"");
			buf_hex(&body, v);
			buf_puts(&body, "\"");
		}
		buf_puts(&line, "{\"id\":0,\"proc\":");
		buf_dec(&line, h->proc);
		buf_puts(&line, ",");
		buf_append(&line, body.p, body.len);
		buf_puts(&line, "}");
		if (body.oom || line.oom) {
			ok = false;
			break;
		}
		proc_run_here(line.p, line.len, &reply);
		if (c)
			buf_puts(steps, ",");
		jw_step(steps, &body, &reply);
		struct request asked;
		if (!req_parse(&asked, line.p, line.len)) {
			req_u64_opt(&asked, "len", &len);
			req_done(&asked);
		}
		ok = whole(&reply, len);
	}
	buf_puts(steps, "]");
	buf_release(&body);
	buf_release(&line);
	buf_release(&reply);
	return ok;
}
