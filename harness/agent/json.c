/*
 * JSON as the protocol uses it: a request is one flat object whose values
 * are read on demand from spans of the line (the line itself stays intact,
 * so the router can forward it to a child as it came); a response is built
 * field by field.
 */
#include "agent.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 32

struct parser {
	const char *s, *end, *start;
	struct request *r;
};

int req_bad(struct request *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof r->err, fmt, ap);
	va_end(ap);
	return -1;
}

static int malformed(struct parser *p, const char *what)
{
	return req_bad(p->r, "malformed JSON at byte %zu: %s", (size_t)(p->s - p->start), what);
}

static void skip_ws(struct parser *p)
{
	while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
		p->s++;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hex_value(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* A string at p->s: its contents' span, and whether it holds escapes. */
static int scan_string(struct parser *p, const char **raw, size_t *rawlen, bool *escaped)
{
	if (p->s >= p->end || *p->s != '"')
		return malformed(p, "expected a string");
	*raw = ++p->s;
	*escaped = false;
	while (p->s < p->end && *p->s != '"') {
		unsigned char c = (unsigned char)*p->s;
		if (c < 0x20)
			return malformed(p, "control character in a string");
		if (c == '\\') {
			*escaped = true;
			if (++p->s >= p->end)
				break;
			if (*p->s == 'u') {
				for (int i = 1; i <= 4; i++)
					if (p->s + i >= p->end || !is_hex(p->s[i]))
						return malformed(p, "bad \\u escape");
				p->s += 4;
			} else if (!strchr("\"\\/bfnrt", *p->s)) {
				return malformed(p, "bad escape");
			}
		}
		p->s++;
	}
	if (p->s >= p->end)
		return malformed(p, "unterminated string");
	*rawlen = (size_t)(p->s - *raw);
	p->s++;
	return 0;
}

static int scan_digits(struct parser *p)
{
	const char *from = p->s;
	while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
		p->s++;
	return p->s > from ? 0 : malformed(p, "expected a digit");
}

static int scan_number(struct parser *p)
{
	if (p->s < p->end && *p->s == '-')
		p->s++;
	if (p->s < p->end && *p->s == '0')
		p->s++;
	else if (scan_digits(p))
		return -1;
	if (p->s < p->end && *p->s == '.') {
		p->s++;
		if (scan_digits(p))
			return -1;
	}
	if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
		p->s++;
		if (p->s < p->end && (*p->s == '+' || *p->s == '-'))
			p->s++;
		if (scan_digits(p))
			return -1;
	}
	return 0;
}

static int scan_value(struct parser *p, struct jfield *f, int depth);

/* An object or array below the top level: checked, kept only as a span. */
static int scan_nested(struct parser *p, int depth)
{
	char close = *p->s == '{' ? '}' : ']';
	struct jfield ignored;
	if (depth > MAX_DEPTH)
		return malformed(p, "nested too deeply");
	p->s++;
	skip_ws(p);
	if (p->s < p->end && *p->s == close) {
		p->s++;
		return 0;
	}
	for (;;) {
		skip_ws(p);
		if (close == '}') {
			const char *raw;
			size_t len;
			bool esc;
			if (scan_string(p, &raw, &len, &esc))
				return -1;
			skip_ws(p);
			if (p->s >= p->end || *p->s != ':')
				return malformed(p, "expected ':'");
			p->s++;
			skip_ws(p);
		}
		if (scan_value(p, &ignored, depth + 1))
			return -1;
		skip_ws(p);
		if (p->s < p->end && *p->s == ',') {
			p->s++;
			continue;
		}
		if (p->s < p->end && *p->s == close) {
			p->s++;
			return 0;
		}
		return malformed(p, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int scan_literal(struct parser *p, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(p->end - p->s) < n || memcmp(p->s, word, n))
		return malformed(p, "expected a value");
	p->s += n;
	return 0;
}

static int scan_value(struct parser *p, struct jfield *f, int depth)
{
	const char *from = p->s;
	int rc;
	f->escaped = false;
	if (p->s >= p->end)
		return malformed(p, "expected a value");
	switch (*p->s) {
	case '"':
		f->type = J_STRING;
		return scan_string(p, &f->raw, &f->rawlen, &f->escaped);
	case '{':
	case '[':
		f->type = J_NESTED;
		rc = scan_nested(p, depth);
		break;
	case 't':
		f->type = J_BOOL;
		rc = scan_literal(p, "true");
		break;
	case 'f':
		f->type = J_BOOL;
		rc = scan_literal(p, "false");
		break;
	case 'n':
		f->type = J_NULL;
		rc = scan_literal(p, "null");
		break;
	default:
		f->type = J_NUMBER;
		rc = scan_number(p);
	}
	f->raw = from;
	f->rawlen = (size_t)(p->s - from);
	return rc;
}

/* Decodes a string's escapes into UTF-8; out holds at least rawlen bytes. */
static size_t unescape(const char *raw, size_t rawlen, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < rawlen; i++) {
		if (raw[i] != '\\') {
			out[o++] = raw[i];
			continue;
		}
		char c = raw[++i];
		if (c != 'u') {
			static const char from[] = "bfnrt", to[] = "\b\f\n\r\t";
			const char *k = strchr(from, c);
			out[o++] = k ? to[k - from] : c;
			continue;
		}
		uint32_t u = 0;
		for (int k = 1; k <= 4; k++)
			u = u << 4 | (uint32_t)hex_value(raw[i + (size_t)k]);
		i += 4;
		/* a surrogate pair: \ud83d\ude00 */
		if (u >= 0xd800 && u < 0xdc00 && i + 6 < rawlen && raw[i + 1] == '\\' && raw[i + 2] == 'u') {
			uint32_t lo = 0;
			for (int k = 3; k <= 6; k++)
				lo = lo << 4 | (uint32_t)hex_value(raw[i + (size_t)k]);
			if (lo >= 0xdc00 && lo < 0xe000) {
				u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			}
		}
		if (u < 0x80) {
			out[o++] = (char)u;
		} else if (u < 0x800) {
			out[o++] = (char)(0xc0 | u >> 6);
			out[o++] = (char)(0x80 | (u & 0x3f));
		} else if (u < 0x10000) {
			out[o++] = (char)(0xe0 | u >> 12);
			out[o++] = (char)(0x80 | (u >> 6 & 0x3f));
			out[o++] = (char)(0x80 | (u & 0x3f));
		} else {
			out[o++] = (char)(0xf0 | u >> 18);
			out[o++] = (char)(0x80 | (u >> 12 & 0x3f));
			out[o++] = (char)(0x80 | (u >> 6 & 0x3f));
			out[o++] = (char)(0x80 | (u & 0x3f));
		}
	}
	return o;
}

static int scan_key(struct parser *p, struct jfield *f)
{
	const char *raw;
	size_t len;
	bool esc;
	char tmp[MAX_KEY * 6];
	if (scan_string(p, &raw, &len, &esc))
		return -1;
	f->key[0] = '\0';
	if (len < sizeof tmp) {
		size_t n = esc ? unescape(raw, len, tmp) : len;
		if (n < MAX_KEY && !memchr(esc ? tmp : raw, '\0', n)) {
			memcpy(f->key, esc ? tmp : raw, n);
			f->key[n] = '\0';
		}
	}
	for (int i = 0; i < p->r->n; i++)
		if (f->key[0] && !strcmp(p->r->f[i].key, f->key))
			return req_bad(p->r, "duplicate field \"%s\"", f->key);
	return 0;
}

static int parse_object(struct parser *p)
{
	struct request *r = p->r;
	skip_ws(p);
	if (p->s >= p->end || *p->s != '{')
		return p->s >= p->end ? malformed(p, "empty line") : req_bad(r, "a request must be a JSON object");
	p->s++;
	skip_ws(p);
	if (p->s < p->end && *p->s == '}') {
		p->s++;
	} else {
		for (;;) {
			if (r->n == MAX_FIELDS)
				return req_bad(r, "more than %d fields", MAX_FIELDS);
			struct jfield *f = &r->f[r->n];
			skip_ws(p);
			if (scan_key(p, f))
				return -1;
			skip_ws(p);
			if (p->s >= p->end || *p->s != ':')
				return malformed(p, "expected ':'");
			p->s++;
			skip_ws(p);
			if (scan_value(p, f, 1))
				return -1;
			r->n++;
			skip_ws(p);
			if (p->s < p->end && *p->s == ',') {
				p->s++;
				continue;
			}
			if (p->s < p->end && *p->s == '}') {
				p->s++;
				break;
			}
			return malformed(p, "expected ',' or '}'");
		}
	}
	skip_ws(p);
	return p->s == p->end ? 0 : malformed(p, "text after the object");
}

int req_parse_object(struct request *r, const char *text, size_t len)
{
	*r = (struct request){ 0 };
	struct parser p = { text, text + len, text, r };
	return parse_object(&p);
}

int req_parse(struct request *r, const char *line, size_t len)
{
	if (req_parse_object(r, line, len))
		return -1;
	if (!req_field(r, "id"))
		return req_bad(r, "missing field \"id\"");
	int64_t id;
	if (req_int(r, "id", 0, INT64_MAX, &id))
		return -1;
	r->id = id;
	r->has_id = true;
	return 0;
}

void req_done(struct request *r)
{
	for (int i = 0; i < r->nstrings; i++)
		free(r->strings[i]);
	r->nstrings = 0;
}

const struct jfield *req_field(const struct request *r, const char *key)
{
	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->f[i].key, key))
			return &r->f[i];
	return NULL;
}

bool req_is(const struct jfield *f, const char *s)
{
	return f && f->type == J_STRING && !f->escaped && f->rawlen == strlen(s) && !memcmp(f->raw, s, f->rawlen);
}

/* Every field is one of "id", "op" or the space-separated names in allowed. */
int req_check_fields(struct request *r, const char *allowed)
{
	for (int i = 0; i < r->n; i++) {
		const char *k = r->f[i].key;
		size_t n = strlen(k);
		bool known = !strcmp(k, "id") || !strcmp(k, "op");
		for (const char *a = allowed; !known && n && (a = strstr(a, k)); a += n)
			known = (a == allowed || a[-1] == ' ') && (a[n] == ' ' || a[n] == '\0');
		if (!known)
			return req_bad(r, "unknown field \"%s\"", n ? k : "(too long)");
	}
	return 0;
}

static const struct jfield *need(struct request *r, const char *key)
{
	const struct jfield *f = req_field(r, key);
	if (!f)
		req_bad(r, "missing field \"%s\"", key);
	return f;
}

/* A 64-bit value as a hex string: "0x" and 1 to 16 hex digits. */
int req_u64(struct request *r, const char *key, uint64_t *out)
{
	const struct jfield *f = need(r, key);
	if (!f)
		return -1;
	const char *s = f->raw;
	size_t n = f->rawlen;
	if (f->type != J_STRING || f->escaped || n < 3 || n > 18 || s[0] != '0' || (s[1] | 0x20) != 'x')
		return req_bad(r, "field \"%s\": expected a hex string \"0x...\" of at most 16 digits", key);
	uint64_t v = 0;
	for (size_t i = 2; i < n; i++) {
		if (!is_hex(s[i]))
			return req_bad(r, "field \"%s\": expected a hex string \"0x...\" of at most 16 digits", key);
		v = v << 4 | (uint64_t)hex_value(s[i]);
	}
	*out = v;
	return 0;
}

/* Leaves *out as it was when the field is absent. */
int req_u64_opt(struct request *r, const char *key, uint64_t *out)
{
	return req_field(r, key) ? req_u64(r, key, out) : 0;
}

/* A JSON integer in [min, max]. */
int req_int(struct request *r, const char *key, int64_t min, int64_t max, int64_t *out)
{
	const struct jfield *f = need(r, key);
	if (!f)
		return -1;
	char tmp[24];
	bool integer = f->type == J_NUMBER && f->rawlen < sizeof tmp;
	for (size_t i = 0; integer && i < f->rawlen; i++)
		integer = (f->raw[i] >= '0' && f->raw[i] <= '9') || (i == 0 && f->raw[i] == '-');
	if (!integer)
		return req_bad(r, "field \"%s\": expected an integer", key);
	memcpy(tmp, f->raw, f->rawlen);
	tmp[f->rawlen] = '\0';
	errno = 0;
	long long v = strtoll(tmp, NULL, 10);
	if (errno || v < min || v > max)
		return req_bad(r, "field \"%s\": %s out of range [%lld, %lld]", key, tmp, (long long)min, (long long)max);
	*out = v;
	return 0;
}

/* Leaves *out as it was when the field is absent. */
int req_int_opt(struct request *r, const char *key, int64_t min, int64_t max, int64_t *out)
{
	return req_field(r, key) ? req_int(r, key, min, max, out) : 0;
}

int req_bool_opt(struct request *r, const char *key, bool *out)
{
	const struct jfield *f = req_field(r, key);
	if (!f)
		return 0;
	if (f->type != J_BOOL)
		return req_bad(r, "field \"%s\": expected true or false", key);
	*out = f->raw[0] == 't';
	return 0;
}

/* A string without NUL characters (a path, a name), at most PATH_MAX bytes. */
int req_string(struct request *r, const char *key, char **out)
{
	const struct jfield *f = need(r, key);
	if (!f)
		return -1;
	if (f->type != J_STRING)
		return req_bad(r, "field \"%s\": expected a string", key);
	if (f->rawlen > PATH_MAX * 6 || r->nstrings == MAX_STRINGS)
		return req_bad(r, "field \"%s\": too long", key);
	bool fits = f->rawlen < sizeof r->room - r->room_used;
	char *s = fits ? r->room + r->room_used : malloc(f->rawlen + 1);
	if (!s)
		return req_bad(r, "out of memory");
	size_t n = f->escaped ? unescape(f->raw, f->rawlen, s) : f->rawlen;
	if (!f->escaped)
		memcpy(s, f->raw, n);
	s[n] = '\0';
	if (fits)
		r->room_used += n + 1;
	else
		r->strings[r->nstrings++] = s;
	if (strlen(s) != n)
		return req_bad(r, "field \"%s\": contains a NUL character", key);
	if (n > PATH_MAX)
		return req_bad(r, "field \"%s\": too long", key);
	*out = s;
	return 0;
}

/* One "0x..." string of 1 to 16 hex digits at *s, moved past; false for anything else. */
static bool scan_hex64(const char **s, const char *end, uint64_t *out)
{
	const char *p = *s;
	if (end - p < 4 || p[0] != '"' || p[1] != '0' || (p[2] | 0x20) != 'x')
		return false;
	uint64_t v = 0;
	int digits = 0;
	for (p += 3; p < end && is_hex(*p); p++, digits++)
		v = v << 4 | (uint64_t)hex_value(*p);
	if (digits < 1 || digits > 16 || p >= end || *p != '"')
		return false;
	*s = p + 1;
	*out = v;
	return true;
}

static int bad_list(struct request *r, const char *key)
{
	return req_bad(r, "field \"%s\": expected a list of hex strings \"0x...\" of at most 16 digits", key);
}

/* A list of 64-bit values as hex strings, at most max of them, appended to out as uint64_t. */
int req_u64_list(struct request *r, const char *key, size_t max, struct buf *out)
{
	const struct jfield *f = need(r, key);
	if (!f)
		return -1;
	if (f->type != J_NESTED || f->raw[0] != '[')
		return bad_list(r, key);
	struct parser p = { f->raw + 1, f->raw + f->rawlen, f->raw, r };
	skip_ws(&p);
	if (p.s < p.end && *p.s == ']')
		return 0;
	for (size_t n = 1;; n++) {
		uint64_t v;
		skip_ws(&p);
		if (!scan_hex64(&p.s, p.end, &v))
			return bad_list(r, key);
		if (n > max)
			return req_bad(r, "field \"%s\": more than %zu values", key, max);
		buf_append(out, &v, sizeof v);
		if (out->oom)
			return req_bad(r, "out of memory");
		skip_ws(&p);
		if (p.s < p.end && *p.s == ']')
			return 0;
		if (p.s >= p.end || *p.s++ != ',')
			return bad_list(r, key);
	}
}

/* A list of JSON integers, each in [min, max], at most max_n of them, appended to out as int64_t. */
int req_int_list(struct request *r, const char *key, int64_t min, int64_t max, size_t max_n, struct buf *out)
{
	const struct jfield *f = need(r, key);
	if (!f)
		return -1;
	if (f->type != J_NESTED || f->raw[0] != '[')
		return req_bad(r, "field \"%s\": expected a list of integers", key);
	struct parser p = { f->raw + 1, f->raw + f->rawlen, f->raw, r };
	skip_ws(&p);
	if (p.s < p.end && *p.s == ']')
		return 0;
	for (size_t n = 1;; n++) {
		char tmp[24];
		skip_ws(&p);
		const char *from = p.s;
		if (p.s < p.end && *p.s == '-')
			p.s++;
		while (p.s < p.end && *p.s >= '0' && *p.s <= '9')
			p.s++;
		size_t len = (size_t)(p.s - from);
		if (!len || len >= sizeof tmp || (len == 1 && *from == '-'))
			return req_bad(r, "field \"%s\": expected a list of integers", key);
		if (n > max_n)
			return req_bad(r, "field \"%s\": more than %zu values", key, max_n);
		memcpy(tmp, from, len);
		tmp[len] = '\0';
		errno = 0;
		long long v = strtoll(tmp, NULL, 10);
		if (errno || v < min || v > max)
			return req_bad(r, "field \"%s\": %s out of range [%lld, %lld]", key, tmp, (long long)min, (long long)max);
		int64_t item = v;
		buf_append(out, &item, sizeof item);
		if (out->oom)
			return req_bad(r, "out of memory");
		skip_ws(&p);
		if (p.s < p.end && *p.s == ']')
			return 0;
		if (p.s >= p.end || *p.s++ != ',')
			return req_bad(r, "field \"%s\": expected a list of integers", key);
	}
}

/* A list of objects, each as its span of the line ({...}): at most max of them. */
int req_objects(struct request *r, const char *key, struct span *out, size_t max, size_t *n)
{
	const struct jfield *f = need(r, key);
	*n = 0;
	if (!f)
		return -1;
	if (f->type != J_NESTED || f->raw[0] != '[')
		return req_bad(r, "field \"%s\": expected a list of objects", key);
	struct parser p = { f->raw + 1, f->raw + f->rawlen, f->raw, r };
	skip_ws(&p);
	if (p.s < p.end && *p.s == ']')
		return 0;
	for (;;) {
		struct jfield item;
		skip_ws(&p);
		if (p.s >= p.end || *p.s != '{' || scan_value(&p, &item, 1))
			return req_bad(r, "field \"%s\": expected a list of objects", key);
		if (*n == max)
			return req_bad(r, "field \"%s\": more than %zu objects", key, max);
		out[(*n)++] = (struct span){ item.raw, item.rawlen };
		skip_ws(&p);
		if (p.s < p.end && *p.s == ']')
			return 0;
		if (p.s >= p.end || *p.s++ != ',')
			return req_bad(r, "field \"%s\": expected a list of objects", key);
	}
}

/* Bytes as a hex string, two digits a byte ("" for none), appended to out. */
/* One token of a bytes field at *i: a byte's two digits, or a run "*XXcount;"; false where there is none. */
static bool bytes_token(const char *s, size_t len, size_t *i, unsigned char *byte, size_t *count)
{
	size_t at = *i;
	bool run = s[at] == '*';
	if (run)
		at++;
	if (at + 2 > len || !is_hex(s[at]) || !is_hex(s[at + 1]))
		return false;
	*byte = (unsigned char)(hex_value(s[at]) << 4 | hex_value(s[at + 1]));
	at += 2;
	*count = 1;
	if (run) {
		size_t c = 0, digits = 0;
		for (; at < len && s[at] >= '0' && s[at] <= '9' && c <= MAX_IO; at++, digits++)
			c = c * 10 + (size_t)(s[at] - '0');
		if (!digits || c == 0 || at >= len || s[at] != ';')
			return false;
		at++;
		*count = c;
	}
	*i = at;
	return true;
}

/* Bytes as jw_bytes() writes them: hex digits, runs as "*XXcount;"; at most MAX_IO of them. */
int req_bytes(struct request *r, const char *key, struct buf *out)
{
	const struct jfield *f = need(r, key);
	if (!f)
		return -1;
	static const char what[] = "field \"%s\": expected bytes as a hex string (two digits a byte, a run as *XXcount;)";
	if (f->type != J_STRING || f->escaped)
		return req_bad(r, what, key);
	size_t total = 0, count;
	unsigned char byte;
	for (size_t i = 0; i < f->rawlen;) {
		if (!bytes_token(f->raw, f->rawlen, &i, &byte, &count))
			return req_bad(r, what, key);
		total += count;
		if (total > MAX_IO)
			return req_bad(r, "field \"%s\": more than %zu bytes", key, MAX_IO);
	}
	if (buf_reserve(out, total))
		return req_bad(r, "out of memory");
	for (size_t i = 0; i < f->rawlen;) {
		bytes_token(f->raw, f->rawlen, &i, &byte, &count);
		memset(out->p + out->len, byte, count);
		out->len += count;
	}
	return 0;
}

void jw_begin(struct buf *b, const struct request *r)
{
	if (r && r->has_id) {
		buf_puts(b, "{\"id\":");
		buf_dec(b, r->id);
	} else
		buf_puts(b, "{\"id\":null");
}

void jw_hex(struct buf *b, const char *key, uint64_t v)
{
	buf_puts(b, ",\"");
	buf_puts(b, key);
	buf_puts(b, "\":\"");
	buf_hex(b, v);
	buf_append(b, "\"", 1);
}

void jw_int(struct buf *b, const char *key, int64_t v)
{
	buf_puts(b, ",\"");
	buf_puts(b, key);
	buf_puts(b, "\":");
	buf_dec(b, v);
}

/* Printable ASCII passes; anything else becomes '?' so the line is valid JSON and UTF-8. */
void jw_str(struct buf *b, const char *key, const char *s)
{
	buf_printf(b, ",\"%s\":\"", key);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_append(b, "\\", 1);
		buf_append(b, *s >= 0x20 && *s < 0x7f ? s : "?", 1);
	}
	buf_append(b, "\"", 1);
}

/*
 * Bytes as two hex digits each, but a run of RUN_MIN or more equal bytes as
 * "*", the byte's two digits, the count in decimal and ";": a page of zeros
 * is 9 characters, not 8,192 (the harness reads megabytes of such pages).
 */
#define RUN_MIN 4

void jw_bytes(struct buf *b, const char *key, const void *data, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *d = data;
	buf_printf(b, ",\"%s\":\"", key);
	/* never longer than plain hex: a run of c >= RUN_MIN bytes takes 4 + its count's digits < 2c */
	if (buf_reserve(b, 2 * n + 1))
		return;
	for (size_t i = 0; i < n;) {
		size_t k = i + 1;
		while (k < n && d[k] == d[i])
			k++;
		if (k - i >= RUN_MIN) {
			char count[24];
			size_t m = 0;
			for (size_t c = k - i; c; c /= 10)
				count[m++] = (char)('0' + c % 10);
			b->p[b->len++] = '*';
			b->p[b->len++] = digits[d[i] >> 4];
			b->p[b->len++] = digits[d[i] & 15];
			while (m)
				b->p[b->len++] = count[--m];
			b->p[b->len++] = ';';
		} else {
			for (size_t j = i; j < k; j++) {
				b->p[b->len++] = digits[d[j] >> 4];
				b->p[b->len++] = digits[d[j] & 15];
			}
		}
		i = k;
	}
	b->p[b->len++] = '"';
}

void jw_step(struct buf *b, const struct buf *body, const struct buf *reply)
{
	const char *comma = memchr(reply->p, ',', reply->len);
	buf_puts(b, "{\"req\":{");
	buf_append(b, body->p, body->len);
	buf_puts(b, "},\"rep\":{");
	if (comma && !reply->oom)
		buf_append(b, comma + 1, reply->len - (size_t)(comma + 1 - reply->p) - 1); /* its fields and brace, up to its newline */
	else
		buf_puts(b, "\"error\":\"out of memory\"}");
	buf_puts(b, "}");
}

void jw_end(struct buf *b)
{
	buf_append(b, "}\n", 2);
}

void jw_error(struct buf *b, const struct request *r, const char *msg)
{
	jw_begin(b, r);
	jw_str(b, "error", msg);
	jw_end(b);
}

void jw_failed(struct buf *b, const struct request *r)
{
	char scratch[16];
	jw_begin(b, r);
	buf_puts(b, ",\"ok\":false");
	jw_str(b, "errno", errno_name(r->errnum, scratch, sizeof scratch));
	jw_str(b, "call", r->call);
}

void jw_errno(struct buf *b, const struct request *r)
{
	jw_failed(b, r);
	jw_end(b);
}
