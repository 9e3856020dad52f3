/*
 * trace_read.c - decode trace logs and link their images (see trace_read.h).
 *
 * A log is read whole into a scratch buffer (one read(2) per file), then walked
 * record by record: frame (length, checksum), validate the msgpack structure
 * (mp_check: bounded sizes), decode with msgpack_unpack_next, and copy what is
 * kept into the arena.  The events of one file are collected in a scratch vector
 * and copied to the arena as one array when the file is done: no per-event malloc.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <msgpack.h>

#define XXH_INLINE_ALL
#define XXH_NO_STREAM
#include <xxhash.h>

#include "runtime/lib/mpcheck.h"
#include "runtime/trace/trace_read.h"

/* ---- names -------------------------------------------------------------------- */

#define FN_NAME_(name) #name,
static const char *const fn_names[] = { GG_FN_LIST(FN_NAME_) };
#undef FN_NAME_

const char *trace_fn_name(unsigned fn)
{
	return fn < ARRAY_SIZE(fn_names) ? fn_names[fn] : "?";
}

const char *trace_rec_name(unsigned type)
{
#define REC_NAME_(TYPE, number, name, head) [GG_REC_##TYPE] = #name,
	static const char *const names[] = { [GG_REC_PROC] = "proc", GG_REC_SCHEMA(REC_NAME_) };
#undef REC_NAME_
	return type < ARRAY_SIZE(names) && names[type] ? names[type] : "?";
}

const char *trace_origin_name(unsigned origin)
{
	static const char *const names[] = { "root", "fork", "exec" };
	return origin < ARRAY_SIZE(names) ? names[origin] : "?";
}

const char *trace_exit_how_name(unsigned how)
{
	static const char *const names[] = { "exit", "_exit", "dtor" };
	return how < ARRAY_SIZE(names) ? names[how] : "?";
}

const char *trace_spawn_op_name(unsigned op)
{
	static const char *const names[] = {
		[GG_SPAWN_OPEN] = "open",   [GG_SPAWN_CLOSE] = "close", [GG_SPAWN_DUP2] = "dup2",
		[GG_SPAWN_CHDIR] = "chdir", [GG_SPAWN_FCHDIR] = "fchdir",
	};
	return op < ARRAY_SIZE(names) && names[op] ? names[op] : "?";
}

const char *trace_link_name(enum trace_link link)
{
	static const char *const names[] = { "none", "fork", "exec", "spawn", "ppid" };
	return (unsigned)link < ARRAY_SIZE(names) ? names[link] : "?";
}

/* ---- arena -------------------------------------------------------------------- */

/*
 * Owner: struct trace_priv.  Chunks of ARENA_CHUNK bytes; an allocation bigger than
 * a quarter chunk gets a chunk of its own, linked behind the current one so the
 * current one keeps its free space.  Cap: trace.mem_cap bytes of chunks in all.
 */
#define ARENA_CHUNK ((size_t)1 << 20)

struct arena_chunk {
	struct arena_chunk *next;
	size_t size, used;
	max_align_t data[];
};

struct arena {
	struct arena_chunk *head;
	size_t total;
};

/* ---- private state ------------------------------------------------------------ */

struct frame;

struct trace_priv {
	struct arena arena;
	size_t images_alloc;

	/* log id -> index into t->images; rebuilt by trace_link() */
	struct htab logs;

	/* scratch, reused from file to file */
	char *filebuf;
	size_t filebuf_alloc;
	struct trace_event *ev;
	size_t nev, ev_alloc;
	struct frame *fr; /* the frames of the file being read */
	size_t nfr, fr_alloc;
	struct strlist filewarn;
	msgpack_unpacked up;
};

static const char *const empty_v[1] = { NULL };
static const struct trace_strv empty_strv = { .v = empty_v, .n = 0 };

static int fail(struct trace *t, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct trace *t, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->error, sizeof(t->error), fmt, ap);
	va_end(ap);
	return err;
}

/* Returns NULL on failure: -ENOMEM or -EFBIG (cap) in *err. */
static void *arena_alloc(struct trace *t, size_t n, int *err)
{
	struct arena *a = &t->priv->arena;
	size_t cap = t->mem_cap ? t->mem_cap : TRACE_DEFAULT_MEM_CAP;
	struct arena_chunk *c = a->head;
	size_t size;

	n = (n + 7) & ~(size_t)7;
	if (c && c->size - c->used >= n) {
		void *p = (char *)c->data + c->used;
		c->used += n;
		return p;
	}
	size = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;
	if (size > cap || a->total > cap - size) {
		*err = -EFBIG;
		return NULL;
	}
	c = malloc(sizeof(*c) + size);
	if (!c) {
		*err = -ENOMEM;
		return NULL;
	}
	c->size = size;
	c->used = n;
	a->total += size;
	if (size != ARENA_CHUNK && a->head) {
		c->next = a->head->next;
		a->head->next = c;
	} else {
		c->next = a->head;
		a->head = c;
	}
	return c->data;
}

void trace_init(struct trace *t)
{
	memset(t, 0, sizeof(*t));
}

void trace_release(struct trace *t)
{
	struct trace_priv *p = t->priv;

	if (p) {
		struct arena_chunk *c = p->arena.head;
		while (c) {
			struct arena_chunk *next = c->next;
			free(c);
			c = next;
		}
		htab_release(&p->logs);
		free(p->filebuf);
		free(p->ev);
		free(p->fr);
		strlist_release(&p->filewarn);
		msgpack_unpacked_destroy(&p->up);
		free(p);
	}
	free(t->images);
	t->images = NULL;
	t->nimages = 0;
	t->priv = NULL;
}

static int priv_get(struct trace *t)
{
	if (t->priv)
		return 0;
	t->priv = calloc(1, sizeof(*t->priv));
	if (!t->priv)
		return fail(t, -ENOMEM, "out of memory");
	msgpack_unpacked_init(&t->priv->up);
	return 0;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- decoding ----------------------------------------------------------------- */

struct dec {
	struct trace *t;
	int err;  /* fatal: -ENOMEM, -EFBIG */
	bool bad; /* the record does not have the expected shape */
};

static void *dec_alloc(struct dec *d, size_t n)
{
	void *p;
	if (d->err)
		return NULL;
	p = arena_alloc(d->t, n, &d->err);
	return p;
}

static int64_t get_int(struct dec *d, const msgpack_object *o)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return o->via.u64 > INT64_MAX ? INT64_MAX : (int64_t)o->via.u64;
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return o->via.i64;
	if (o->type == MSGPACK_OBJECT_BOOLEAN)
		return o->via.boolean;
	d->bad = true;
	return 0;
}

static uint64_t get_uint(struct dec *d, const msgpack_object *o)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return o->via.u64;
	d->bad = true;
	return 0;
}

static bool get_bool(struct dec *d, const msgpack_object *o)
{
	if (o->type == MSGPACK_OBJECT_BOOLEAN)
		return o->via.boolean;
	return get_int(d, o) != 0;
}

/* A str or bin (or nil, read as "") copied to the arena with a NUL. */
static const char *get_str(struct dec *d, const msgpack_object *o)
{
	const char *src;
	size_t n;
	char *s;

	if (o->type == MSGPACK_OBJECT_STR) {
		src = o->via.str.ptr;
		n = o->via.str.size;
	} else if (o->type == MSGPACK_OBJECT_BIN) {
		src = o->via.bin.ptr;
		n = o->via.bin.size;
	} else if (o->type == MSGPACK_OBJECT_NIL) {
		return "";
	} else {
		d->bad = true;
		return "";
	}
	if (n == 0)
		return "";
	s = dec_alloc(d, n + 1);
	if (!s)
		return "";
	memcpy(s, src, n);
	s[n] = '\0';
	return s;
}

static struct trace_strv get_strv(struct dec *d, const msgpack_object *o)
{
	struct trace_strv sv = empty_strv;
	const char **v;

	if (o->type == MSGPACK_OBJECT_NIL)
		return sv;
	if (o->type != MSGPACK_OBJECT_ARRAY) {
		d->bad = true;
		return sv;
	}
	if (o->via.array.size == 0)
		return sv;
	v = dec_alloc(d, ((size_t)o->via.array.size + 1) * sizeof(*v));
	if (!v)
		return sv;
	for (uint32_t i = 0; i < o->via.array.size; i++)
		v[i] = get_str(d, &o->via.array.ptr[i]);
	v[o->via.array.size] = NULL;
	sv.v = v;
	sv.n = o->via.array.size;
	return sv;
}

/*
 * Decoders generated from shim/trace_schema.h: DEC_<kind>(d, o, lvalue) reads one
 * field.  Integers are converted to the member's type.
 */
#define DEC_FN(d, o, m) ((m) = (__typeof__(m))get_uint(d, o))
#define DEC_U(d, o, m) ((m) = (__typeof__(m))get_uint(d, o))
#define DEC_HOW(d, o, m) DEC_U(d, o, m)
#define DEC_OP(d, o, m) DEC_U(d, o, m)
#define DEC_I(d, o, m) ((m) = (__typeof__(m))get_int(d, o))
#define DEC_B(d, o, m) ((m) = get_bool(d, o))
#define DEC_S(d, o, m) ((m) = get_str(d, o))
#define DEC_V(d, o, m) ((m) = get_strv(d, o))
#define DEC_L(d, o, m) ((m) = get_strv(d, o))
#define DEC_ACT(d, o, m) get_actions(d, o, &(m).actions, &(m).nactions)
#define DEC_STDIO(d, o, m) get_stdio(d, o, m)

/*
 * One field of a list: f[i_] into base->member if the record has it (nf fields;
 * the caller checked that the REQ ones are there), then the next.
 */
#define DEC_FIELD_(kind, name, presence, member, json, text)                      \
	if (i_ < nf)                                                              \
		DEC_##kind(d, &f[i_], base->member);                              \
	i_++;

static void get_actions(struct dec *d, const msgpack_object *o,
			const struct trace_action **actions, uint32_t *nactions)
{
	const unsigned nreq = GG_SCHEMA_NREQ(GG_FIELDS_SPAWN_ACTION);
	struct trace_action *a;
	uint32_t n;

	*nactions = 0;
	*actions = NULL;
	if (o->type == MSGPACK_OBJECT_NIL)
		return;
	if (o->type != MSGPACK_OBJECT_ARRAY) {
		d->bad = true;
		return;
	}
	n = o->via.array.size;
	if (!n)
		return;
	a = dec_alloc(d, n * sizeof(*a));
	if (!a)
		return;
	for (uint32_t k = 0; k < n; k++) {
		const msgpack_object *e = &o->via.array.ptr[k];
		const msgpack_object *f;
		struct trace_action *base = &a[k];
		unsigned i_ = 0, nf;

		if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size < nreq) {
			d->bad = true;
			return;
		}
		f = e->via.array.ptr;
		nf = e->via.array.size;
		GG_FIELDS_SPAWN_ACTION(DEC_FIELD_)
	}
	*actions = a;
	*nactions = n;
}

/* PROC's stdio: up to 3 file types (-1: closed or not said), or nil. */
static void get_stdio(struct dec *d, const msgpack_object *st, int32_t *stdio)
{
	for (int i = 0; i < 3; i++)
		stdio[i] = -1;
	if (st->type == MSGPACK_OBJECT_ARRAY) {
		for (uint32_t i = 0; i < st->via.array.size && i < 3; i++)
			stdio[i] = (int32_t)get_int(d, &st->via.array.ptr[i]);
	} else if (st->type != MSGPACK_OBJECT_NIL) {
		d->bad = true;
	}
}

/* Fields after [type, t] that each record type needs at least (its REQ fields). */
#define NREQ_(TYPE, number, name, head) [GG_REC_##TYPE] = GG_SCHEMA_NREQ(GG_FIELDS_##TYPE),
static const unsigned rec_nfields[GG_REC__MAX] = {
	[GG_REC_PROC] = GG_SCHEMA_NREQ(GG_FIELDS_PROC),
	GG_REC_SCHEMA(NREQ_)
};
#undef NREQ_

/* Decode the fields of a PROC record into a new image (not yet in t->images). */
static struct trace_image *decode_proc(struct dec *d, const msgpack_object *f, unsigned nf)
{
	struct trace_image *base = dec_alloc(d, sizeof(*base));
	unsigned i_ = 0;

	if (!base)
		return NULL;
	memset(base, 0, sizeof(*base));
	GG_FIELDS_PROC(DEC_FIELD_)
	base->origin = base->origin_recorded;
	base->objects = empty_strv;
	base->warnings = empty_strv;
	return base;
}

/* Decode the fields of any other known record into *ev. */
static void decode_event(struct dec *d, unsigned type, uint64_t t, const msgpack_object *f,
			 unsigned nf, struct trace_event *ev)
{
	struct trace_event *base = ev;
	unsigned i_ = 0;

	memset(ev, 0, sizeof(*ev));
	ev->type = (uint8_t)type;
	ev->t = t;
	switch (type) {
#define DEC_REC_(TYPE, number, name, head)                                        \
	case GG_REC_##TYPE:                                                       \
		GG_FIELDS_##TYPE(DEC_FIELD_)                                      \
		break;
	GG_REC_SCHEMA(DEC_REC_)
#undef DEC_REC_
	default:
		/* a type this reader has no decoder for (not reached: skipped before) */
		break;
	}
}

static int push_event(struct trace *t, const struct trace_event *ev)
{
	struct trace_priv *p = t->priv;

	if (p->nev == p->ev_alloc) {
		size_t alloc = p->ev_alloc ? p->ev_alloc * 2 : 256;
		struct trace_event *v = realloc(p->ev, alloc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->ev = v;
		p->ev_alloc = alloc;
	}
	p->ev[p->nev++] = *ev;
	return 0;
}

static int push_image(struct trace *t, struct trace_image *im)
{
	struct trace_priv *p = t->priv;

	if (t->nimages == p->images_alloc) {
		size_t alloc = p->images_alloc ? p->images_alloc * 2 : 64;
		struct trace_image **v = realloc(t->images, alloc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->images = v;
		p->images_alloc = alloc;
	}
	t->images[t->nimages++] = im;
	return 0;
}

/* A warning about the current file: for the caller and, later, the image. */
static int file_warn(struct trace *t, struct strlist *warnings, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int file_warn(struct trace *t, struct strlist *warnings, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	int ret;

	va_start(ap, fmt);
	ret = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (ret < 0)
		return -ENOMEM;
	ret = strlist_push(&t->priv->filewarn, msg);
	if (!ret && warnings)
		ret = strlist_push(warnings, msg);
	free(msg);
	return ret;
}

/* Move the scratch events, objects and warnings of a file into the image. */
static int finish_image(struct trace *t, struct trace_image *im)
{
	struct trace_priv *p = t->priv;
	struct dec d = { .t = t };
	size_t nobj = 0;

	if (p->nev) {
		im->events = dec_alloc(&d, p->nev * sizeof(*im->events));
		if (!im->events)
			return d.err;
		memcpy(im->events, p->ev, p->nev * sizeof(*im->events));
		im->nevents = p->nev;
	}
	for (size_t i = 0; i < im->nevents; i++) {
		const struct trace_event *ev = &im->events[i];
		if (ev->type != GG_REC_OBJS)
			continue;
		if (!im->interp && ev->u.objs.interp[0])
			im->interp = ev->u.objs.interp;
		nobj += ev->u.objs.objects.n;
	}
	if (nobj) {
		const char **v = dec_alloc(&d, (nobj + 1) * sizeof(*v));
		size_t k = 0;
		if (!v)
			return d.err;
		for (size_t i = 0; i < im->nevents; i++) {
			const struct trace_event *ev = &im->events[i];
			if (ev->type != GG_REC_OBJS)
				continue;
			for (uint32_t j = 0; j < ev->u.objs.objects.n; j++)
				v[k++] = ev->u.objs.objects.v[j];
		}
		v[k] = NULL;
		im->objects.v = v;
		im->objects.n = (uint32_t)nobj;
	}
	if (p->filewarn.n) {
		const char **v = dec_alloc(&d, (p->filewarn.n + 1) * sizeof(*v));
		if (!v)
			return d.err;
		for (size_t i = 0; i < p->filewarn.n; i++) {
			size_t n = strlen(p->filewarn.v[i]) + 1;
			char *s = dec_alloc(&d, n);
			if (!s)
				return d.err;
			memcpy(s, p->filewarn.v[i], n);
			v[i] = s;
		}
		v[p->filewarn.n] = NULL;
		im->warnings.v = v;
		im->warnings.n = (uint32_t)p->filewarn.n;
	}
	return push_image(t, im);
}

/* The message for a fatal error of the arena or malloc while reading `path`. */
static int fail_mem(struct trace *t, int err, const char *path)
{
	if (err == -EFBIG)
		return fail(t, err, "trace too large: reading '%s' passed the memory cap of %zu bytes",
			    path, t->mem_cap ? t->mem_cap : TRACE_DEFAULT_MEM_CAP);
	return fail(t, err, "out of memory reading trace log '%s'", path);
}

/*
 * Check the file header.  Returns the version to read on (GG_TRACE_VERSION_LOG,
 * GG_TRACE_VERSION_SEG or GG_TRACE_VERSION_BATCH), 0 when the file is skipped (with a warning),
 * -EPROTONOSUPPORT (t->error set) or -ENOMEM.
 */
static int check_header(struct trace *t, const char *path, const unsigned char *buf, size_t len,
			struct strlist *warnings)
{
	uint32_t version;
	int ret;

	if (len == 0)
		ret = file_warn(t, warnings, "%s: empty log, skipped", path);
	else if (len < GG_TRACE_HEADER_LEN)
		ret = file_warn(t, warnings, "%s: truncated header (%zu bytes), skipped", path, len);
	else if (memcmp(buf, GG_TRACE_MAGIC, GG_TRACE_MAGIC_LEN) != 0)
		ret = file_warn(t, warnings, "%s: not a gg trace log (bad magic), skipped", path);
	else if ((version = le32(buf + GG_TRACE_MAGIC_LEN)) > GG_TRACE_VERSION)
		return fail(t, -EPROTONOSUPPORT,
			    "trace log '%s' has format version %u, newer than this gg reads (%u): "
			    "upgrade gg", path, version, GG_TRACE_VERSION);
	else if (version == 0)
		ret = file_warn(t, warnings, "%s: bad format version 0, skipped", path);
	else
		return (int)version;
	return ret;
}

/* One framed record: payload = buf + off + the layout's header length. */
struct frame {
	size_t off;
	uint32_t plen;
	uint32_t slot; /* segments: the image (struct seg_image) */
};

static int push_frame(struct trace_priv *p, const struct frame *f)
{
	if (p->nfr == p->fr_alloc) {
		size_t alloc = p->fr_alloc ? p->fr_alloc * 2 : 256;
		struct frame *v = realloc(p->fr, alloc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->fr = v;
		p->fr_alloc = alloc;
	}
	p->fr[p->nfr++] = *f;
	return 0;
}

/*
 * Decode the records of one image (frames fr[0..n) of buf, each payload `hdrlen`
 * bytes after its frame's offset; `label` prefixes the warnings): the PROC record
 * into a new image (*imp), the others into the scratch events.  Returns 0 (*imp
 * NULL when there was no record), 1 when the image is skipped (with a warning,
 * *imp NULL), or -ENOMEM / -EFBIG.
 */
static int decode_frames(struct trace *t, const char *label, const unsigned char *buf,
			 size_t hdrlen, const struct frame *fr, size_t n, struct strlist *warnings,
			 struct trace_image **imp)
{
	struct trace_priv *p = t->priv;
	struct trace_image *im = NULL;
	int ret = 0;

	*imp = NULL;
	for (size_t i = 0; i < n; i++) {
		const size_t off = fr[i].off;
		const uint32_t plen = fr[i].plen;
		const unsigned char *payload = buf + off + hdrlen;
		const msgpack_object *root, *f;
		struct dec d = { .t = t };
		unsigned type, nf;
		uint64_t ts;
		size_t uoff = 0, used = 0;

		/* exactly one array, the whole payload: a count that does not match
		 * the elements written (a list patched wrongly) ends it early or late */
		used = mp_check(payload, plen);
		if (used != plen ||
		    msgpack_unpack_next(&p->up, (const char *)payload, plen, &uoff) !=
			    MSGPACK_UNPACK_SUCCESS || uoff != plen)
			goto malformed;
		root = &p->up.data;
		if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < 2 ||
		    root->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    root->via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			goto malformed;
		type = root->via.array.ptr[0].via.u64 < GG_REC__MAX
			       ? (unsigned)root->via.array.ptr[0].via.u64 : 0;
		ts = root->via.array.ptr[1].via.u64;
		f = root->via.array.ptr + 2;
		nf = root->via.array.size - 2;

		if (!im && type != GG_REC_PROC) {
			ret = file_warn(t, warnings, "%s: first record is not a proc record, skipped",
					label);
			goto out_skip;
		}
		if (type == 0 || !rec_nfields[type] || (im && type == GG_REC_PROC))
			continue; /* an unknown record type (or a second PROC): ignored */
		if (nf < rec_nfields[type])
			goto malformed;
		if (type == GG_REC_PROC) {
			im = decode_proc(&d, f, nf);
			if (d.err)
				return d.err;
			if (d.bad) {
				ret = file_warn(t, warnings, "%s: malformed proc record, skipped", label);
				goto out_skip;
			}
			im->t = ts;
		} else {
			struct trace_event ev;
			decode_event(&d, type, ts, f, nf, &ev);
			if (d.err)
				return d.err;
			if (d.bad)
				goto malformed;
			ret = push_event(t, &ev);
			if (ret)
				return ret;
		}
		continue;
malformed:
		if (used && used < plen)
			ret = file_warn(t, warnings,
					"%s: malformed record at offset %zu: %zu bytes after its end, skipped",
					label, off, (size_t)plen - used);
		else
			ret = file_warn(t, warnings, "%s: malformed record at offset %zu, skipped",
					label, off);
		if (ret)
			return ret;
		if (!im) {
			ret = file_warn(t, warnings, "%s: no proc record, skipped", label);
			goto out_skip;
		}
	}
	*imp = im;
	return 0;
out_skip:
	return ret ? ret : 1;
}

/* Read a version-1 log: one image (*imp, NULL when skipped).  0 or -errno. */
static int read_log(struct trace *t, const char *path, const unsigned char *buf, size_t len,
		    struct strlist *warnings, struct trace_image **imp)
{
	struct trace_priv *p = t->priv;
	size_t off;
	int ret;

	p->nfr = 0;
	for (off = GG_TRACE_HEADER_LEN; off < len;) {
		/* the frame: a cut header or payload, a bad length or checksum is torn */
		struct frame f = { .off = off };
		if (len - off < GG_TRACE_RECHDR_LEN)
			break;
		f.plen = le32(buf + off);
		if (f.plen == 0 || f.plen > GG_TRACE_MAX_RECORD ||
		    f.plen > len - off - GG_TRACE_RECHDR_LEN)
			break;
		if (XXH32(buf + off + GG_TRACE_RECHDR_LEN, f.plen, 0) != le32(buf + off + 4))
			break;
		if ((ret = push_frame(p, &f)) < 0)
			return ret;
		off += GG_TRACE_RECHDR_LEN + f.plen;
	}
	ret = decode_frames(t, path, buf, GG_TRACE_RECHDR_LEN, p->fr, p->nfr, warnings, imp);
	if (ret)
		return ret < 0 ? ret : 0;
	if (off < len) {
		ret = file_warn(t, warnings, "%s: torn record at offset %zu, skipped %zu bytes",
				path, off, len - off);
		if (ret)
			goto out_skip;
	}
	if (!*imp)
		ret = file_warn(t, warnings, "%s: no records, skipped", path);
out_skip:
	if (ret)
		*imp = NULL;
	return ret;
}

/* The log id (the base name without the suffix) and the file name, in the arena. */
static int name_image(struct trace *t, struct trace_image *im, const char *path, const char *id)
{
	const char *base = id ? id : path_base(path);
	size_t n = strlen(base), s = sizeof(GG_TRACE_SUFFIX) - 1;
	struct dec d = { .t = t };
	char *log, *file;

	if (!id && n > s && !strcmp(base + n - s, GG_TRACE_SUFFIX))
		n -= s;
	log = dec_alloc(&d, n + 1);
	file = dec_alloc(&d, strlen(path) + 1);
	if (d.err)
		return d.err;
	memcpy(log, base, n);
	log[n] = '\0';
	strcpy(file, path);
	im->log = log;
	im->file = file;
	return 0;
}

/* ---- segments (version 2) ------------------------------------------------------ */

/* An image of a segment: its identity and where its frames are once sorted. */
struct seg_image {
	uint32_t pid;
	uint64_t start;
	size_t nfr, pos;
	struct strlist warn; /* framing warnings about it */
};

struct seg {
	struct seg_image *im;
	size_t n, alloc;
	struct htab ix; /* (pid, start) -> index into im */
};

struct seg_key {
	uint32_t pid;
	uint64_t start;
};

static bool seg_eq(const void *ctx, uint32_t val, const void *key)
{
	const struct seg *s = ctx;
	const struct seg_key *k = key;
	return s->im[val].pid == k->pid && s->im[val].start == k->start;
}

static uint64_t seg_hash(uint32_t pid, uint64_t start)
{
	uint64_t h = (start ^ ((uint64_t)pid << 32 | pid)) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

/* The image with this identity, added if `add`; HTAB_NONE if absent (or -ENOMEM in *err). */
static uint32_t seg_slot(struct seg *s, uint32_t pid, uint64_t start, bool add, int *err)
{
	struct seg_key k = { pid, start };
	uint64_t h = seg_hash(pid, start);
	uint32_t i = htab_find(&s->ix, h, seg_eq, s, &k);

	if (i != HTAB_NONE || !add)
		return i;
	if (s->n == s->alloc) {
		size_t alloc = s->alloc ? s->alloc * 2 : 64;
		struct seg_image *v = realloc(s->im, alloc * sizeof(*v));
		if (!v) {
			*err = -ENOMEM;
			return HTAB_NONE;
		}
		s->im = v;
		s->alloc = alloc;
	}
	if ((*err = htab_add(&s->ix, h, (uint32_t)s->n)) < 0)
		return HTAB_NONE;
	s->im[s->n] = (struct seg_image){ .pid = pid, .start = start, .warn = STRLIST_INIT };
	return (uint32_t)s->n++;
}

static void seg_release(struct seg *s)
{
	for (size_t i = 0; i < s->n; i++)
		strlist_release(&s->im[i].warn);
	free(s->im);
	htab_release(&s->ix);
}

/* The sync word and header check of a version-2 frame at off are good: its
 * length, pid and start can be trusted (the payload's check, 4 bytes on, not yet). */
static bool seg_head_ok(const unsigned char *buf, size_t len, size_t off)
{
	const unsigned char *h = buf + off;

	return len - off >= 24 && le32(h) == GG_TRACE_SEG_SYNC && XXH32(h, 20, 0) == le32(h + 20);
}

/* A whole, good version-2 frame at off: its payload length, else 0. */
static uint32_t seg_frame_ok(const unsigned char *buf, size_t len, size_t off)
{
	const unsigned char *h = buf + off;
	uint32_t n;

	if (!seg_head_ok(buf, len, off) || len - off < GG_TRACE_SEG_RECHDR_LEN)
		return 0;
	n = le32(h + 4);
	if (n == 0 || n > GG_TRACE_MAX_RECORD || n > len - off - GG_TRACE_SEG_RECHDR_LEN ||
	    XXH32(h + GG_TRACE_SEG_RECHDR_LEN, n, 0) != le32(h + 24))
		return 0;
	return n;
}

/* The next offset after `off` where a good frame starts, or len. */
static size_t seg_resync(const unsigned char *buf, size_t len, size_t off)
{
	static const unsigned char sync[4] = { GG_TRACE_SEG_SYNC & 0xff, (GG_TRACE_SEG_SYNC >> 8) & 0xff,
					       (GG_TRACE_SEG_SYNC >> 16) & 0xff, GG_TRACE_SEG_SYNC >> 24 };

	for (off++; off < len; off++) {
		const unsigned char *q = memmem(buf + off, len - off, sync, sizeof(sync));
		if (!q)
			return len;
		off = (size_t)(q - buf);
		if (seg_frame_ok(buf, len, off))
			return off;
	}
	return len;
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/*
 * Read a version-2 segment: frame every record (skipping torn ranges), group the
 * frames by image in file order, then decode each image as a version-1 log is.
 * Images come out in the order of their first record.  0 or -errno.
 */
static int read_segment(struct trace *t, const char *path, const unsigned char *buf, size_t len,
			struct strlist *warnings)
{
	struct trace_priv *p = t->priv;
	struct seg s = { .im = NULL, .ix = HTAB_INIT };
	struct frame *sorted = NULL;
	uint32_t last = HTAB_NONE;
	size_t off = GG_TRACE_HEADER_LEN, pos = 0;
	char *label = NULL;
	int ret = 0;

	p->nfr = 0;
	while (off < len) {
		const unsigned char *h = buf + off;
		struct frame f = { .off = off, .plen = seg_frame_ok(buf, len, off) };
		if (f.plen) {
			f.slot = seg_slot(&s, le32(h + 8), le64(h + 12), true, &ret);
			if (ret || (ret = push_frame(p, &f)) < 0)
				goto out;
			last = f.slot;
			off += GG_TRACE_SEG_RECHDR_LEN + f.plen;
			continue;
		}
		/* torn: said to the caller and to the image it belongs to, if known */
		size_t next = seg_resync(buf, len, off);
		uint32_t who = seg_head_ok(buf, len, off)
				       ? seg_slot(&s, le32(h + 8), le64(h + 12), false, &ret) : last;
		char *msg;
		if (who == HTAB_NONE)
			who = last;
		if (asprintf(&msg, "%s: torn record at offset %zu, skipped %zu bytes", path, off,
			     next - off) < 0) {
			ret = -ENOMEM;
			goto out;
		}
		ret = warnings ? strlist_push(warnings, msg) : 0;
		if (!ret && who != HTAB_NONE)
			ret = strlist_push(&s.im[who].warn, msg);
		free(msg);
		if (ret)
			goto out;
		off = next;
	}
	if (!s.n) {
		ret = file_warn(t, warnings, "%s: no records, skipped", path);
		goto out;
	}

	/* group by image, stable: a counting sort on the slot */
	sorted = malloc(p->nfr * sizeof(*sorted));
	if (!sorted) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < p->nfr; i++)
		s.im[p->fr[i].slot].nfr++;
	for (size_t k = 0; k < s.n; k++) {
		s.im[k].pos = pos;
		pos += s.im[k].nfr;
		s.im[k].nfr = 0;
	}
	for (size_t i = 0; i < p->nfr; i++) {
		struct seg_image *si = &s.im[p->fr[i].slot];
		sorted[si->pos + si->nfr++] = p->fr[i];
	}

	for (size_t k = 0; k < s.n && !ret; k++) {
		struct seg_image *si = &s.im[k];
		struct trace_image *im = NULL;
		char id[48];

		snprintf(id, sizeof(id), "%" PRIu32 "-%016" PRIx64, si->pid, si->start);
		free(label);
		if (asprintf(&label, "%s: image %s", path, id) < 0) {
			label = NULL;
			ret = -ENOMEM;
			break;
		}
		p->nev = 0;
		strlist_release(&p->filewarn);
		for (size_t i = 0; i < si->warn.n && !ret; i++)
			ret = strlist_push(&p->filewarn, si->warn.v[i]);
		if (!ret)
			ret = decode_frames(t, label, buf, GG_TRACE_SEG_RECHDR_LEN, sorted + si->pos,
					    si->nfr, warnings, &im);
		if (ret == 1)
			ret = 0; /* skipped, with a warning */
		if (!ret && im)
			ret = name_image(t, im, path, id);
		if (!ret && im)
			ret = finish_image(t, im);
	}
out:
	free(label);
	free(sorted);
	seg_release(&s);
	return ret;
}

int trace_add_buf(struct trace *t, const char *path, const void *data, size_t len,
		  struct strlist *warnings)
{
	struct trace_image *im = NULL;
	int ret;

	ret = priv_get(t);
	if (ret)
		return ret;
	t->priv->nev = 0;
	strlist_release(&t->priv->filewarn);

	ret = check_header(t, path, data, len, warnings);
	if (ret == (int)GG_TRACE_VERSION_SEG || ret == (int)GG_TRACE_VERSION_BATCH) {
		ret = read_segment(t, path, data, len, warnings);
	} else if (ret == (int)GG_TRACE_VERSION_LOG) {
		ret = read_log(t, path, data, len, warnings, &im);
		if (ret == 0 && im)
			ret = name_image(t, im, path, NULL);
		if (ret == 0 && im)
			ret = finish_image(t, im);
	}
	if (ret == -ENOMEM || ret == -EFBIG)
		ret = fail_mem(t, ret, path);
	return ret < 0 ? ret : 0;
}

int trace_add_file(struct trace *t, const char *path, struct strlist *warnings)
{
	struct trace_priv *p;
	struct stat st;
	size_t len = 0;
	int fd, ret;

	ret = priv_get(t);
	if (ret)
		return ret;
	p = t->priv;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(t, -errno, "cannot open trace log '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		ret = fail(t, -errno, "cannot stat trace log '%s': %s", path, strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = fail(t, -EINVAL, "trace log '%s' is not a regular file", path);
		goto out_close;
	}
	/* One read of the size seen now; a log still being appended to is read up to
	 * here, and its last record may look torn. */
	if ((size_t)st.st_size + 1 > p->filebuf_alloc) {
		size_t alloc = (size_t)st.st_size + 1;
		char *b = realloc(p->filebuf, alloc);
		if (!b) {
			ret = fail(t, -ENOMEM, "out of memory reading trace log '%s'", path);
			goto out_close;
		}
		p->filebuf = b;
		p->filebuf_alloc = alloc;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, p->filebuf + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = fail(t, -errno, "cannot read trace log '%s': %s", path, strerror(errno));
			goto out_close;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	ret = trace_add_buf(t, path, p->filebuf, len, warnings);
out_close:
	close(fd);
	return ret;
}

static bool is_log_name(const char *name)
{
	size_t n = strlen(name), s = sizeof(GG_TRACE_SUFFIX) - 1;
	return name[0] != '.' && n > s && !strcmp(name + n - s, GG_TRACE_SUFFIX);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int trace_open_dir(struct trace *t, const char *dir, struct strlist *warnings)
{
	struct strlist names = STRLIST_INIT;
	struct dirent *de;
	DIR *dp;
	int ret;

	trace_init(t);
	ret = priv_get(t);
	if (ret)
		return ret;
	dp = opendir(dir);
	if (!dp)
		return fail(t, -errno, "cannot open trace directory '%s': %s", dir, strerror(errno));
	errno = 0;
	while ((de = readdir(dp))) {
		if (!is_log_name(de->d_name))
			continue;
		ret = strlist_pushf(&names, "%s/%s", dir, de->d_name);
		if (ret) {
			ret = fail(t, ret, "out of memory");
			goto out_close;
		}
		if (names.dropped) {
			ret = fail(t, -E2BIG, "too many logs in trace directory '%s'", dir);
			goto out_close;
		}
	}
	if (errno) {
		ret = fail(t, -errno, "cannot read trace directory '%s': %s", dir, strerror(errno));
		goto out_close;
	}
	/* Read in name order, so warnings come out the same way every time. */
	if (names.n)
		qsort(names.v, names.n, sizeof(*names.v), cmp_str);
	for (size_t i = 0; i < names.n; i++) {
		ret = trace_add_file(t, names.v[i], warnings);
		if (ret == -ENOENT)
			continue; /* removed since readdir: not a log any more */
		if (ret)
			goto out_close;
	}
	ret = trace_link(t);
	if (ret)
		ret = fail(t, ret, "out of memory");
out_close:
	closedir(dp);
	strlist_release(&names);
	/* The scratch buffers are not needed once the directory is read. */
	if (t->priv) {
		free(t->priv->filebuf);
		t->priv->filebuf = NULL;
		t->priv->filebuf_alloc = 0;
		free(t->priv->ev);
		t->priv->ev = NULL;
		t->priv->nev = t->priv->ev_alloc = 0;
		free(t->priv->fr);
		t->priv->fr = NULL;
		t->priv->nfr = t->priv->fr_alloc = 0;
	}
	return ret;
}

/* ---- linking ------------------------------------------------------------------ */

static int cmp_image(const void *a, const void *b)
{
	const struct trace_image *x = *(struct trace_image *const *)a;
	const struct trace_image *y = *(struct trace_image *const *)b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	return strcmp(x->log, y->log);
}

/* Images grouped by pid, each group in start order. */
static int cmp_pid(const void *a, const void *b)
{
	const struct trace_image *x = *(struct trace_image *const *)a;
	const struct trace_image *y = *(struct trace_image *const *)b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* One SPAWN or WAIT record, for lookups by (a, b). */
struct ref {
	int64_t a, b;   /* SPAWN: spawner pid, child pid.  WAIT: waiter pid, reaped pid */
	uint64_t t;     /* WAIT: the record's time */
	size_t idx;     /* SPAWN: the spawner's image index */
	int32_t status; /* WAIT: raw status */
};

static int cmp_ref(const void *pa, const void *pb)
{
	const struct ref *x = pa, *y = pb;

	if (x->a != y->a)
		return x->a < y->a ? -1 : 1;
	if (x->b != y->b)
		return x->b < y->b ? -1 : 1;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* First ref with (a, b, t) >= the key, by binary search. */
static size_t ref_lower(const struct ref *v, size_t n, int64_t a, int64_t b, uint64_t t)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct ref *r = &v[mid];
		bool less = r->a != a ? r->a < a : r->b != b ? r->b < b : r->t < t;
		if (less)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* [*lo, *hi) of byPid holding `pid`. */
static void pid_range(struct trace_image **by, size_t n, int64_t pid, size_t *lo, size_t *hi)
{
	size_t l = 0, h = n;

	while (l < h) {
		size_t mid = l + (h - l) / 2;
		if (by[mid]->pid < pid)
			l = mid + 1;
		else
			h = mid;
	}
	*lo = l;
	while (l < n && by[l]->pid == pid)
		l++;
	*hi = l;
}

/* The path of the image's last EXEC record if no EXECFAIL follows it, else NULL. */
static const char *exec_ok_path(const struct trace_image *im)
{
	for (size_t k = im->nevents; k-- > 0;) {
		const struct trace_event *ev = &im->events[k];
		if (ev->type == GG_REC_EXECFAIL)
			return NULL;
		if (ev->type == GG_REC_EXEC)
			return ev->path;
	}
	return NULL;
}

static bool log_eq(const void *ctx, uint32_t val, const void *key)
{
	const struct trace *t = ctx;
	return val < t->nimages && !strcmp(t->images[val]->log, key);
}

struct trace_image *trace_find(const struct trace *t, const char *log)
{
	const struct trace_priv *p = t->priv;
	uint32_t i;

	if (!p)
		return NULL;
	i = htab_find(&p->logs, str_hash(log), log_eq, t, log);
	return i == HTAB_NONE ? NULL : t->images[i];
}

/* A batched image that ended neither by exec nor with its own EXIT record: killed
 * (or still running) with records it had not written yet, maybe. */
static bool cut_short(const struct trace_image *im)
{
	if (!im->batched || im->exec_next)
		return false;
	for (size_t k = 0; k < im->nevents; k++)
		if (im->events[k].type == GG_REC_EXIT)
			return false;
	return true;
}

static void compute_exit(struct trace_image *im, const struct ref *waits, size_t nwaits)
{
	const struct trace_event *dtor = NULL;
	size_t k;

	im->exit = (struct trace_exit){ .kind = TRACE_EXIT_UNKNOWN };
	im->cut_short = cut_short(im);
	if (im->exec_next) {
		im->exit.kind = TRACE_EXIT_EXEC;
		im->exit.path = exec_ok_path(im);
		return;
	}
	for (k = ref_lower(waits, nwaits, im->ppid, im->pid, im->t);
	     k < nwaits && waits[k].a == im->ppid && waits[k].b == im->pid; k++) {
		int st = waits[k].status;
		if (WIFSIGNALED(st)) {
			im->exit.kind = TRACE_EXIT_SIGNAL;
			im->exit.code = WTERMSIG(st);
			return;
		}
		if (WIFEXITED(st)) {
			im->exit.kind = TRACE_EXIT_STATUS;
			im->exit.code = WEXITSTATUS(st);
			return;
		}
		/* stopped or continued: not an exit */
	}
	for (k = 0; k < im->nevents; k++) {
		const struct trace_event *ev = &im->events[k];
		if (ev->type != GG_REC_EXIT)
			continue;
		if (ev->u.exit.how != GG_EXIT_DTOR || ev->u.exit.status >= 0) {
			/* exit(-1) exits 255: the status is what the parent would see. */
			im->exit.kind = TRACE_EXIT_STATUS;
			im->exit.code = ev->u.exit.status & 0xff;
			return;
		}
		if (!dtor)
			dtor = ev;
	}
	if (dtor)
		im->exit.kind = TRACE_EXIT_NORMAL;
}

int trace_link(struct trace *t)
{
	struct trace_image **by = NULL;
	struct ref *spawns = NULL, *waits = NULL;
	size_t n = t->nimages, nspawns = 0, nwaits = 0;
	struct trace_priv *p;
	int ret = priv_get(t);

	if (ret)
		return ret;
	p = t->priv;
	if (n)
		qsort(t->images, n, sizeof(*t->images), cmp_image);

	/* log id table */
	htab_clear(&p->logs);
	if ((ret = htab_reserve(&p->logs, n)) < 0)
		return ret;

	for (size_t i = 0; i < n; i++) {
		struct trace_image *im = t->images[i];
		uint64_t h = str_hash(im->log);
		/* duplicate log ids: the first one wins */
		if (htab_find(&p->logs, h, log_eq, t, im->log) == HTAB_NONE &&
		    (ret = htab_add(&p->logs, h, (uint32_t)i)) < 0)
			return ret;
		im->index = i;
		im->origin = im->origin_recorded;
		im->parent = NULL;
		im->link = TRACE_LINK_NONE;
		im->exec_next = NULL;
		im->children = NULL;
		im->nchildren = 0;
		for (size_t k = 0; k < im->nevents; k++) {
			uint8_t type = im->events[k].type;
			if (type == GG_REC_SPAWN && im->events[k].ret > 0)
				nspawns++;
			else if (type == GG_REC_WAIT)
				nwaits++;
		}
	}

	by = malloc((n ? n : 1) * sizeof(*by));
	spawns = malloc((nspawns ? nspawns : 1) * sizeof(*spawns));
	waits = malloc((nwaits ? nwaits : 1) * sizeof(*waits));
	if (!by || !spawns || !waits) {
		ret = -ENOMEM;
		goto out_free;
	}
	nspawns = nwaits = 0;
	for (size_t i = 0; i < n; i++) {
		struct trace_image *im = t->images[i];
		by[i] = im;
		for (size_t k = 0; k < im->nevents; k++) {
			const struct trace_event *ev = &im->events[k];
			if (ev->type == GG_REC_SPAWN && ev->ret > 0)
				spawns[nspawns++] = (struct ref){ .a = im->pid, .b = ev->ret, .idx = i };
			else if (ev->type == GG_REC_WAIT)
				waits[nwaits++] = (struct ref){ .a = im->pid, .b = ev->u.wait.pid,
								 .t = ev->t, .status = ev->u.wait.status };
		}
	}
	if (n)
		qsort(by, n, sizeof(*by), cmp_pid);
	if (nspawns)
		qsort(spawns, nspawns, sizeof(*spawns), cmp_ref);
	if (nwaits)
		qsort(waits, nwaits, sizeof(*waits), cmp_ref);

	/* parents, in start order so that an exec predecessor is claimed once */
	for (size_t i = 0; i < n; i++) {
		struct trace_image *im = t->images[i];
		size_t lo, hi;

		if (im->origin == GG_ORIGIN_FORK) {
			struct trace_image *par = trace_find(t, im->parent_log);
			if (par && par->index < i) {
				im->parent = par;
				im->link = TRACE_LINK_FORK;
			}
		} else if (im->origin == GG_ORIGIN_EXEC) {
			pid_range(by, n, im->pid, &lo, &hi);
			for (size_t k = hi; k-- > lo;) {
				struct trace_image *c = by[k];
				if (c->index >= i || c->exec_next || !exec_ok_path(c))
					continue;
				im->parent = c;
				im->link = TRACE_LINK_EXEC;
				c->exec_next = im;
				break;
			}
			if (!im->parent) {
				/* the latest spawner image started before this one */
				size_t k = ref_lower(spawns, nspawns, im->ppid, im->pid + 1, 0);
				while (k-- > 0 && spawns[k].a == im->ppid && spawns[k].b == im->pid) {
					if (spawns[k].idx < i) {
						im->parent = t->images[spawns[k].idx];
						im->link = TRACE_LINK_SPAWN;
						break;
					}
				}
			}
		}
		if (!im->parent && im->origin != GG_ORIGIN_ROOT) {
			pid_range(by, n, im->ppid, &lo, &hi);
			for (size_t k = hi; k-- > lo;) {
				if (by[k]->index < i) {
					im->parent = by[k];
					im->link = TRACE_LINK_PPID;
					break;
				}
			}
		}
		if (im->parent)
			im->parent->nchildren++;
		else if (im->origin == GG_ORIGIN_EXEC)
			im->origin = GG_ORIGIN_ROOT; /* no recorded ancestor: see trace_read.h */
	}

	/* children arrays, in start order */
	for (size_t i = 0; i < n; i++) {
		struct trace_image *im = t->images[i];
		struct dec d = { .t = t };
		if (!im->nchildren)
			continue;
		im->children = dec_alloc(&d, im->nchildren * sizeof(*im->children));
		if (!im->children) {
			ret = d.err;
			goto out_free;
		}
		im->nchildren = 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct trace_image *im = t->images[i];
		if (im->parent)
			im->parent->children[im->parent->nchildren++] = im;
	}

	for (size_t i = 0; i < n; i++)
		compute_exit(t->images[i], waits, nwaits);
	ret = 0;
out_free:
	free(by);
	free(spawns);
	free(waits);
	return ret;
}
